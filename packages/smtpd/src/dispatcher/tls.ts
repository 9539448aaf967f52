// TLS for the dispatcher's listeners: one secure context per `pki`, chosen by SNI against
// the names in each certificate (OpenSMTPD 7.3+), with the listener's ciphers/protocols/ca.
// The private keys are read by the parent and handed over; Node cannot delegate signing.
import { X509Certificate } from "node:crypto";
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";

export interface PkiMaterial {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
}

export interface TlsListenerOptions {
  readonly ciphers: string | null;
  /** OpenSMTPD/libtls syntax: "tlsv1.2,tlsv1.3", "secure", "all", "default", "legacy" */
  readonly protocols: string | null;
  readonly caPem: string | null;
  readonly verify: boolean;
}

const VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;
type Version = (typeof VERSIONS)[number];

/** libtls protocol strings to Node's min/max versions. */
export function protocolRange(
  spec: string | null,
): { minVersion: Version; maxVersion: Version } | { error: string } {
  if (spec === null || spec === "" || spec === "default" || spec === "secure")
    return { minVersion: "TLSv1.2", maxVersion: "TLSv1.3" };
  if (spec === "all" || spec === "legacy") return { minVersion: "TLSv1", maxVersion: "TLSv1.3" };
  const names: Record<string, Version> = {
    tlsv1: "TLSv1",
    "tlsv1.0": "TLSv1",
    "tlsv1.1": "TLSv1.1",
    "tlsv1.2": "TLSv1.2",
    "tlsv1.3": "TLSv1.3",
  };
  const picked: Version[] = [];
  for (const w of spec
    .toLowerCase()
    .split(/[\s,:]+/)
    .filter((x) => x !== "")) {
    const v = names[w.replace(/^!/, "")];
    if (v === undefined) return { error: `unknown TLS protocol "${w}"` };
    if (!w.startsWith("!")) picked.push(v);
  }
  if (picked.length === 0) return { error: `no TLS protocol left in "${spec}"` };
  const idx = picked.map((v) => VERSIONS.indexOf(v));
  return { minVersion: VERSIONS[Math.min(...idx)]!, maxVersion: VERSIONS[Math.max(...idx)]! };
}

export interface TlsContexts {
  readonly defaultContext: SecureContext;
  readonly sniCallback: (
    servername: string,
    cb: (err: Error | null, ctx?: SecureContext) => void,
  ) => void;
  readonly options: SecureContextOptions;
}

export function buildTlsContexts(
  pkis: readonly PkiMaterial[],
  opts: TlsListenerOptions,
): TlsContexts {
  if (pkis.length === 0) throw new Error("TLS listener without pki");
  const range = protocolRange(opts.protocols);
  if ("error" in range) throw new Error(range.error);
  const base: SecureContextOptions = {
    ...range,
    ...(opts.ciphers !== null ? { ciphers: opts.ciphers } : {}),
    ...(opts.caPem !== null ? { ca: opts.caPem } : {}),
  };
  const entries = pkis.map((p) => ({
    x509: new X509Certificate(p.cert),
    ctx: createSecureContext({ ...base, cert: p.cert, key: p.key }),
  }));
  const first = entries[0]!;
  return {
    defaultContext: first.ctx,
    options: base,
    sniCallback(servername, cb) {
      const hit = entries.find((e) => e.x509.checkHost(servername) !== undefined);
      cb(null, (hit ?? first).ctx);
    },
  };
}
