// getaddrinfo / getnameinfo in the spirit of libasr, and FCrDNS (forward-confirmed reverse
// DNS) as smtpd's smtp_session does it. Walks the `lookup` databases (file, bind) in order.

import { isIP } from "node:net";
import { RCODES } from "./codec.js";
import type { ResolverContext, Snapshot } from "./context.js";
import { hostsByAddress, hostsByName } from "./hosts.js";
import { normalizeAddress, reverseName } from "./ip.js";
import { hostnameOk, stripDot } from "./names.js";
import { toASCII } from "./punycode.js";
import { followChain, type QueryResult, resQuery, searchCandidates } from "./query.js";
import { TYPES } from "./rdata.js";
import type { Family } from "./resolv-conf.js";

export type GaiError =
  | "EAI_NONAME"
  | "EAI_AGAIN"
  | "EAI_FAIL"
  | "EAI_NODATA"
  | "EAI_FAMILY"
  | "EAI_SERVICE";
export type AddrInfo = { family: 4 | 6; address: string; port: number };
export type AddrInfoHints = {
  family?: "inet4" | "inet6" | "unspec";
  /** AI_NUMERICHOST: never look anything up. */
  numericHost?: boolean;
  signal?: AbortSignal;
};
export type AddrInfoResult = {
  error: GaiError | null;
  addresses: AddrInfo[];
  canonname: string | null;
  /** Every DNS answer used carried AD from a trusted resolver. */
  secure: boolean;
  source: "numeric" | "localhost" | "file" | "bind" | null;
};

const SERVICES: Record<string, number> = {
  smtp: 25,
  lmtp: 24,
  submission: 587,
  submissions: 465,
  smtps: 465,
  domain: 53,
  http: 80,
  https: 443,
};

export function servicePort(service: string | undefined): number | null {
  if (service === undefined || service === "") return 0;
  if (/^[0-9]+$/.test(service)) return Number(service) <= 65535 ? Number(service) : null;
  return SERVICES[service.toLowerCase()] ?? null;
}

const none = (error: GaiError): AddrInfoResult => ({
  error,
  addresses: [],
  canonname: null,
  secure: false,
  source: null,
});

function families(snap: Snapshot, hints: AddrInfoHints): Family[] {
  const f = hints.family ?? "unspec";
  return f === "unspec" ? snap.conf.family : [f];
}

type DbOutcome = { result: AddrInfoResult | null; tryAgain: boolean; noData: boolean };

async function fromDns(
  ctx: ResolverContext,
  snap: Snapshot,
  host: string,
  fams: Family[],
  port: number,
  signal?: AbortSignal,
): Promise<DbOutcome> {
  let tryAgain = false;
  let noData = false;
  for (const cand of searchCandidates(host, snap)) {
    const name = stripDot(cand.name);
    // libasr asks one family after the other; both are sent together here, results kept in order.
    const results: QueryResult[] = await Promise.all(
      fams.map((f) =>
        resQuery(ctx, name, f === "inet4" ? TYPES.A : TYPES.AAAA, signal ? { signal } : {}),
      ),
    );
    const addresses: AddrInfo[] = [];
    let canonname: string | null = null;
    let secure = true;
    results.forEach((r, i) => {
      if (r.errno || r.hErrno === "TRY_AGAIN") tryAgain = true;
      if (r.hErrno === "NO_DATA") noData = true;
      if (!r.message || r.rcode !== RCODES.NOERROR) return;
      const type = fams[i] === "inet4" ? TYPES.A : TYPES.AAAA;
      const chain = followChain(r.message, r.name, type);
      if (chain.broken) tryAgain = true;
      else if (chain.records.length === 0) noData = true;
      for (const rr of chain.records) {
        if (rr.data.type === "A" || rr.data.type === "AAAA")
          addresses.push({ family: rr.data.type === "A" ? 4 : 6, address: rr.data.address, port });
      }
      if (chain.records.length > 0) {
        canonname ??= chain.canonname;
        secure &&= r.ad;
      }
    });
    if (addresses.length > 0)
      return {
        result: { error: null, addresses, canonname, secure, source: "bind" },
        tryAgain,
        noData,
      };
    if (tryAgain && results.every((r) => r.errno)) break; // network failure stops the search
  }
  return { result: null, tryAgain, noData };
}

/** getaddrinfo(3): numeric hosts, localhost (RFC 6761 §6.3), then the `lookup` databases. */
export async function getaddrinfo(
  ctx: ResolverContext,
  host: string,
  service?: string,
  hints: AddrInfoHints = {},
): Promise<AddrInfoResult> {
  const port = servicePort(service);
  if (port === null) return none("EAI_SERVICE");
  const fam = hints.family ?? "unspec";
  if (fam !== "unspec" && fam !== "inet4" && fam !== "inet6") return none("EAI_FAMILY");
  const numeric = isIP(host.split("%")[0] ?? "");
  if (numeric) {
    if ((fam === "inet4" && numeric !== 4) || (fam === "inet6" && numeric !== 6))
      return none("EAI_FAMILY");
    return {
      error: null,
      addresses: [{ family: numeric as 4 | 6, address: host, port }],
      canonname: host,
      secure: false,
      source: "numeric",
    };
  }
  if (hints.numericHost) return none("EAI_NONAME");
  const a = toASCII(host);
  if (!a.ok || !hostnameOk(a.value)) return none("EAI_FAIL");
  const name = a.value;
  const snap = await ctx.snapshot();
  const fams = families(snap, hints);
  const lname = stripDot(name).toLowerCase();
  if (lname === "localhost" || lname.endsWith(".localhost")) {
    const addresses = fams.map(
      (f): AddrInfo =>
        f === "inet4"
          ? { family: 4, address: "127.0.0.1", port }
          : { family: 6, address: "::1", port },
    );
    return {
      error: null,
      addresses,
      canonname: stripDot(name),
      secure: false,
      source: "localhost",
    };
  }
  let tryAgain = false;
  let noData = false;
  for (const db of snap.conf.lookup) {
    if (db === "file") {
      const hit = hostsByName(snap.hosts, stripDot(name));
      const wanted = new Set(fams.map((f) => (f === "inet4" ? 4 : 6)));
      const entries = hit?.entries.filter((e) => wanted.has(e.family)) ?? [];
      const order = (f: 4 | 6) => fams.indexOf(f === 4 ? "inet4" : "inet6");
      entries.sort((x, y) => order(x.family) - order(y.family));
      if (hit && entries.length > 0)
        return {
          error: null,
          addresses: entries.map((e) => ({ family: e.family, address: e.address, port })),
          canonname: hit.canonname,
          secure: false,
          source: "file",
        };
      continue;
    }
    const d = await fromDns(ctx, snap, name, fams, port, hints.signal);
    if (d.result) return d.result;
    tryAgain ||= d.tryAgain;
    noData ||= d.noData;
  }
  // Unlike libasr (which reports EAI_NODATA), a SERVFAIL or timeout gives EAI_AGAIN.
  return none(tryAgain ? "EAI_AGAIN" : noData ? "EAI_NODATA" : "EAI_NONAME");
}

export type NameInfoResult = { error: GaiError | null; host: string | null };

/** PTR names for an address through the `lookup` databases; tempfail when DNS failed. */
async function ptrNames(
  ctx: ResolverContext,
  address: string,
): Promise<{ names: string[]; tempfail: boolean; nxdomain: boolean }> {
  const snap = await ctx.snapshot();
  let tempfail = false;
  let nxdomain = false;
  for (const db of snap.conf.lookup) {
    if (db === "file") {
      const names = hostsByAddress(snap.hosts, address);
      if (names.length > 0) return { names, tempfail: false, nxdomain: false };
      continue;
    }
    const rev = reverseName(address);
    if (!rev) return { names: [], tempfail: false, nxdomain: false };
    const r = await resQuery(ctx, rev, TYPES.PTR);
    if (r.message && r.rcode === RCODES.NOERROR) {
      const chain = followChain(r.message, r.name, TYPES.PTR);
      const names = chain.records.flatMap((rr) => (rr.data.type === "PTR" ? [rr.data.host] : []));
      if (names.length > 0) return { names, tempfail: false, nxdomain: false };
    } else if (r.rcode === RCODES.NXDOMAIN) nxdomain = true;
    else tempfail = true;
  }
  return { names: [], tempfail, nxdomain };
}

/** getnameinfo(3) for the host part: NI_NUMERICHOST and NI_NAMEREQD as options. */
export async function getnameinfo(
  ctx: ResolverContext,
  address: string,
  o: { numericHost?: boolean; nameRequired?: boolean } = {},
): Promise<NameInfoResult> {
  const norm = normalizeAddress(address);
  if (!norm) return { error: "EAI_FAMILY", host: null };
  if (o.numericHost) return { error: null, host: norm };
  const p = await ptrNames(ctx, address);
  const first = p.names[0];
  if (first) return { error: null, host: first };
  if (o.nameRequired) return { error: p.tempfail ? "EAI_AGAIN" : "EAI_NONAME", host: null };
  return { error: null, host: norm };
}

export type FcrdnsResult =
  | { result: "pass"; name: string }
  | { result: "fail"; reason: "no-ptr" | "mismatch"; names: string[] }
  | { result: "tempfail"; reason: string };

const MAX_PTR_CHECKED = 10;

/** Forward-confirmed reverse DNS: some PTR name must resolve back to the address. */
export async function fcrdns(ctx: ResolverContext, address: string): Promise<FcrdnsResult> {
  const want = normalizeAddress(address);
  if (!want) return { result: "fail", reason: "no-ptr", names: [] };
  const p = await ptrNames(ctx, address);
  if (p.names.length === 0)
    return p.tempfail
      ? { result: "tempfail", reason: "PTR lookup failed" }
      : { result: "fail", reason: "no-ptr", names: [] };
  let tempfail = false;
  for (const name of p.names.slice(0, MAX_PTR_CHECKED)) {
    const fwd = await getaddrinfo(ctx, name, undefined, {
      family: isIP(want) === 4 ? "inet4" : "inet6",
    });
    if (fwd.error === "EAI_AGAIN") tempfail = true;
    if (fwd.addresses.some((a) => normalizeAddress(a.address) === want))
      return { result: "pass", name };
  }
  if (tempfail) return { result: "tempfail", reason: "forward lookup failed" };
  return { result: "fail", reason: "mismatch", names: p.names };
}
