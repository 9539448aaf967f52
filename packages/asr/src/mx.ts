// MTA helpers: the MX decision of smtpd's dns.c (RFC 5321 §5.1 implicit MX, RFC 7505 null
// MX, `localhost` as null MX, NXDOMAIN permanent vs SERVFAIL temporary), the MX host
// addresses, and DANE TLSA lookups (RFC 7672) that trust only AD from a trusted resolver.

import { randomInt } from "node:crypto";
import { type AddrInfo, type GaiError, getaddrinfo } from "./addrinfo.js";
import { RCODES } from "./codec.js";
import type { ResolverContext } from "./context.js";
import { parseIPv4, parseIPv6 } from "./ip.js";
import { canonicalName, stripDot } from "./names.js";
import { followChain, type QueryResult, queryName, resQuery, resQueryName } from "./query.js";
import { TYPES } from "./rdata.js";

export type MxHost = { preference: number; exchange: string };
export type MxResult =
  | "mx"
  | "implicit"
  | "null-mx"
  | "nxdomain"
  | "tempfail"
  | "invalid"
  | "literal";

export type MxDecision = {
  result: MxResult;
  /** Permanent failures bounce (5xx); temporary ones defer (4xx). */
  permanent: boolean;
  /** Hosts in try order: by preference, equal preferences shuffled (RFC 5321 §5.1). */
  hosts: MxHost[];
  /** The MX answer carried AD from a trusted resolver. */
  secure: boolean;
  reason: string;
};

const decision = (
  result: MxResult,
  reason: string,
  hosts: MxHost[] = [],
  secure = false,
): MxDecision => ({
  result,
  permanent: result === "null-mx" || result === "nxdomain" || result === "invalid",
  hosts,
  secure,
  reason,
});

/** RFC 5321 §4.1.3 address literal: "[1.2.3.4]" or "[IPv6:...]". */
function addressLiteral(domain: string): string | null {
  const m = /^\[(.*)\]$/.exec(domain);
  if (!m || m[1] === undefined) return null;
  const inner = m[1];
  if (/^ipv6:/i.test(inner)) return parseIPv6(inner.slice(5)) ? inner.slice(5) : null;
  return parseIPv4(inner) ? inner : null;
}

/** Orders hosts by preference; ties are shuffled (uniformly) unless `shuffle` is false. */
export function orderHosts(hosts: MxHost[], shuffle = true): MxHost[] {
  const out = hosts.slice();
  const [a, b] = out;
  // Two hosts (the usual case) are put in order by hand: sort() makes a work array.
  if (out.length === 2 && a && b) {
    if (a.preference > b.preference) out.reverse();
  } else if (out.length > 2) out.sort((x, y) => x.preference - y.preference);
  if (!shuffle) return out;
  // Fisher-Yates within each run of equal preferences; no draw when there is no tie.
  for (let start = 0; start < out.length; ) {
    let end = start + 1;
    while (end < out.length && out[end]?.preference === out[start]?.preference) end++;
    for (let i = end - 1; i > start; i--) {
      const j = start + randomInt(i - start + 1);
      const t = out[i] as MxHost;
      out[i] = out[j] as MxHost;
      out[j] = t;
    }
    start = end;
  }
  return out;
}

const isNullExchange = (x: string) => x === "." || canonicalName(x) === "localhost";

/** The MX decision for a mail domain, as smtpd's dns.c makes it (res_query, no search). */
export function resolveMx(
  ctx: ResolverContext,
  domain: string,
  o: { shuffle?: boolean; signal?: AbortSignal } = {},
): Promise<MxDecision> {
  if (domain.startsWith("[")) {
    const lit = addressLiteral(domain);
    return Promise.resolve(
      lit
        ? decision("literal", "address literal", [{ preference: 0, exchange: lit }])
        : decision("invalid", "bad address literal"),
    );
  }
  const q = queryName(domain);
  if (!q.ok) return Promise.resolve(decision("invalid", `invalid domain name: ${q.reason}`));
  const shuffle = o.shuffle ?? true;
  return resQueryName(ctx, q.name, TYPES.MX, o.signal ? { signal: o.signal } : {}).then((r) =>
    mxDecision(r, shuffle),
  );
}

/** The decision from the MX query's result (dns.c: dns_dispatch_mx and its fallbacks). */
function mxDecision(r: QueryResult, shuffle: boolean): MxDecision {
  if (r.errno) return decision("tempfail", `MX lookup failed: ${r.reason ?? r.errno}`);
  if (r.rcode === RCODES.NXDOMAIN) return decision("nxdomain", "domain does not exist", [], r.ad);
  if (r.rcode !== RCODES.NOERROR || !r.message) {
    const name = r.rcodeName ?? "no reply";
    // smtpd: NO_RECOVERY (FORMERR, NOTIMP...) is DNS_EINVAL, permanent; SERVFAIL and REFUSED are temporary.
    if (r.hErrno === "NO_RECOVERY" && r.rcode !== RCODES.REFUSED)
      return decision("invalid", `MX lookup: ${name}`);
    return decision("tempfail", `MX lookup: ${name}`);
  }
  const chain = followChain(r.message, r.name, TYPES.MX);
  if (chain.broken) return decision("tempfail", "CNAME loop in MX answer");
  let mx = 0;
  const usable: MxHost[] = [];
  for (const rr of chain.records) {
    if (rr.data.type !== "MX") continue;
    mx++;
    const exchange = stripDot(rr.data.exchange);
    if (!isNullExchange(exchange)) usable.push({ preference: rr.data.preference, exchange });
  }
  if (mx === 0)
    return decision(
      "implicit",
      "no MX records: implicit MX (RFC 5321 §5.1)",
      [{ preference: 0, exchange: chain.canonname }],
      r.ad,
    );
  if (usable.length === 0)
    return decision("null-mx", "domain does not accept mail (RFC 7505)", [], r.ad);
  return decision("mx", "MX records", orderHosts(usable, shuffle), r.ad);
}

export type MxTarget = MxHost & { addresses: AddrInfo[]; error: GaiError | null; secure: boolean };
export type MxRoute = {
  decision: MxDecision;
  targets: MxTarget[];
  result: "ok" | "tempfail" | "permfail";
  reason: string;
};

/** The MX decision plus every host's addresses, looked up in parallel (smtpd: AI_ADDRCONFIG off here). */
export async function resolveMxAddresses(
  ctx: ResolverContext,
  domain: string,
  o: { shuffle?: boolean } = {},
): Promise<MxRoute> {
  const d = await resolveMx(ctx, domain, o);
  if (d.hosts.length === 0)
    return {
      decision: d,
      targets: [],
      result: d.permanent ? "permfail" : "tempfail",
      reason: d.reason,
    };
  const targets = await Promise.all(
    d.hosts.map(async (h): Promise<MxTarget> => {
      const ai = await getaddrinfo(ctx, h.exchange, "smtp");
      return { ...h, addresses: ai.addresses, error: ai.error, secure: ai.secure };
    }),
  );
  const any = targets.some((t) => t.addresses.length > 0);
  // smtpd: no address for any MX is DNS_ENOTFOUND, a temporary failure.
  return {
    decision: d,
    targets,
    result: any ? "ok" : "tempfail",
    reason: any ? d.reason : "no MX host has an address",
  };
}

export type TlsaRecord = { usage: number; selector: number; matchingType: number; data: Buffer };
export type DaneResult =
  | { kind: "dane"; tlsaName: string; records: TlsaRecord[] }
  | { kind: "no-dane"; reason: "insecure" | "nodata" | "nxdomain" | "insecure-host" }
  | { kind: "tempfail"; reason: string };

/** TLSA RRset at one owner name; SERVFAIL (bogus) is a tempfail, never a downgrade. */
export async function lookupTlsa(ctx: ResolverContext, tlsaName: string): Promise<DaneResult> {
  const r = await resQuery(ctx, tlsaName, TYPES.TLSA);
  if (r.errno || !r.message)
    return { kind: "tempfail", reason: `TLSA lookup failed: ${r.reason ?? r.errno}` };
  if (r.rcode === RCODES.NXDOMAIN)
    return { kind: "no-dane", reason: r.ad ? "nxdomain" : "insecure" };
  if (r.rcode !== RCODES.NOERROR)
    return { kind: "tempfail", reason: `TLSA lookup: ${r.rcodeName}` };
  if (!r.ad) return { kind: "no-dane", reason: "insecure" };
  const chain = followChain(r.message, r.name, TYPES.TLSA);
  if (chain.broken) return { kind: "tempfail", reason: "CNAME loop in TLSA answer" };
  const records = chain.records.flatMap((rr) =>
    rr.data.type === "TLSA"
      ? [
          {
            usage: rr.data.usage,
            selector: rr.data.selector,
            matchingType: rr.data.matchingType,
            data: rr.data.data,
          },
        ]
      : [],
  );
  return records.length > 0
    ? { kind: "dane", tlsaName: r.name, records }
    : { kind: "no-dane", reason: "nodata" };
}

/**
 * DANE for one MX host (RFC 7672 §2.2): only if the host's address records are secure;
 * TLSA is asked at the CNAME-expanded name first, then at the original name.
 */
export async function resolveDane(
  ctx: ResolverContext,
  host: string,
  port = 25,
): Promise<DaneResult> {
  const ai = await getaddrinfo(ctx, host);
  if (ai.error === "EAI_AGAIN") return { kind: "tempfail", reason: "address lookup failed" };
  if (ai.addresses.length === 0 || ai.source !== "bind" || !ai.secure)
    return { kind: "no-dane", reason: "insecure-host" };
  const names = [ai.canonname ?? host, host].map(stripDot);
  let last: DaneResult = { kind: "no-dane", reason: "nodata" };
  for (const name of names[0] === names[1] ? [host] : names) {
    last = await lookupTlsa(ctx, `_${port}._tcp.${name}`);
    if (last.kind !== "no-dane") return last;
  }
  return last;
}
