// res_query, res_search and getrrsetbyname on top of sendQuery, with libasr's h_errno
// mapping and search-list iteration (asr_iter_domain), plus CNAME-chain following.

import { type Message, RCODES, type ResourceRecord, rcodeName } from "./codec.js";
import type { ResolverContext, Snapshot } from "./context.js";
import {
  canonicalName,
  countDots,
  joinName,
  namesEqual,
  nameToLabels,
  plainName,
  stripDot,
} from "./names.js";
import { toASCII } from "./punycode.js";
import { CLASS_IN, type RecordData, TYPES } from "./rdata.js";
import type { Server } from "./resolv-conf.js";
import { type NetErrno, type SendOutcome, sendQuery } from "./send.js";

export type HErrno = "NETDB_SUCCESS" | "HOST_NOT_FOUND" | "TRY_AGAIN" | "NO_RECOVERY" | "NO_DATA";

export type QueryResult = {
  /** The name actually asked (A-labels, absolute, no final dot). */
  name: string;
  type: number;
  hErrno: HErrno;
  /** Set on network failure or bad input; then there is no reply. */
  errno: NetErrno | null;
  reason: string | null;
  rcode: number | null;
  rcodeName: string | null;
  /** The AD bit, kept only when the resolver is trusted (else always false). */
  ad: boolean;
  ancount: number;
  message: Message | null;
  packet: Buffer | null;
  ns: Server | null;
};

export type QueryOptions = {
  klass?: number;
  /** Set the EDNS DO bit (ask for RRSIGs). */
  dnssecOk?: boolean;
  signal?: AbortSignal;
  servers?: Server[];
};

/** Turns user input into a query name: IDNA ToASCII, syntax check, no final dot. */
export function queryName(
  input: string,
): { ok: true; name: string } | { ok: false; reason: string } {
  // Plain ASCII names (the usual case) need neither IDNA nor the label parser.
  const plain = plainName(input);
  if (plain !== null) return { ok: true, name: plain };
  const a = toASCII(input);
  if (!a.ok) return { ok: false, reason: a.error };
  const parsed = nameToLabels(a.value);
  if (!parsed.ok) return { ok: false, reason: parsed.error };
  return { ok: true, name: stripDot(a.value) };
}

function hErrnoOf(m: Message): HErrno {
  if (m.answers.length > 0 && m.rcode === RCODES.NOERROR) return "NETDB_SUCCESS";
  switch (m.rcode) {
    case RCODES.NXDOMAIN:
      return "HOST_NOT_FOUND";
    case RCODES.SERVFAIL:
      return "TRY_AGAIN";
    case RCODES.NOERROR:
      return "NO_DATA";
    default:
      return "NO_RECOVERY";
  }
}

function failed(
  name: string,
  type: number,
  errno: NetErrno,
  reason: string,
  hErrno: HErrno,
): QueryResult {
  return {
    name,
    type,
    hErrno,
    errno,
    reason,
    rcode: null,
    rcodeName: null,
    ad: false,
    ancount: 0,
    message: null,
    packet: null,
    ns: null,
  };
}

function queryWith(
  ctx: ResolverContext,
  snap: Snapshot,
  name: string,
  type: number,
  o: QueryOptions,
): Promise<QueryResult> {
  const req = {
    name,
    type,
    klass: o.klass ?? CLASS_IN,
    dnssecOk: o.dnssecOk,
    signal: o.signal,
    servers: o.servers,
  };
  return sendQuery(ctx, snap, req).then((out) => queryResult(name, type, out));
}

function queryResult(name: string, type: number, out: SendOutcome): QueryResult {
  if (out.kind === "neterror")
    return failed(
      name,
      type,
      out.errno,
      out.reason,
      out.errno === "EINVAL" ? "NO_RECOVERY" : "TRY_AGAIN",
    );
  const m = out.message;
  return {
    name,
    type,
    hErrno: hErrnoOf(m),
    errno: null,
    reason: null,
    rcode: m.rcode,
    rcodeName: rcodeName(m.rcode),
    ad: out.ad,
    ancount: m.answers.length,
    message: m,
    packet: out.raw,
    ns: out.server,
  };
}

/** res_query: the name is absolute, no search list. The reply is returned whatever the rcode. */
export function resQuery(
  ctx: ResolverContext,
  input: string,
  type: number,
  o: QueryOptions = {},
): Promise<QueryResult> {
  const q = queryName(input);
  if (!q.ok) return Promise.resolve(failed(input, type, "EINVAL", q.reason, "NO_RECOVERY"));
  return resQueryName(ctx, q.name, type, o);
}

/** resQuery for a name that queryName has made already. */
export function resQueryName(
  ctx: ResolverContext,
  name: string,
  type: number,
  o: QueryOptions = {},
): Promise<QueryResult> {
  // Not an async function, and no await while the snapshot is at hand: one promise less.
  const snap = ctx.snapshotNow();
  if (snap) return queryWith(ctx, snap, name, type, o);
  return ctx.snapshot().then((s) => queryWith(ctx, s, name, type, o));
}

/** Candidate names for a search, in libasr's order (asr_iter_domain). */
export function searchCandidates(name: string, snap: Snapshot): { name: string; asIs: boolean }[] {
  if (name.endsWith(".") && !name.endsWith("\\.")) return [{ name: stripDot(name), asIs: true }];
  const out: { name: string; asIs: boolean }[] = [];
  const dots = countDots(name);
  if (dots >= snap.conf.ndots) out.push({ name, asIs: true });
  for (const d of snap.conf.search) out.push({ name: joinName(name, d), asIs: false });
  if (dots < snap.conf.ndots) out.push({ name, asIs: true });
  return out;
}

/** res_search: applies the search list and ndots. */
export async function resSearch(
  ctx: ResolverContext,
  input: string,
  type: number,
  o: QueryOptions = {},
): Promise<QueryResult> {
  const q = toASCII(input);
  if (!q.ok) return failed(input, type, "EINVAL", q.error, "NO_RECOVERY");
  const snap = await ctx.snapshot();
  let asIsResult: QueryResult | null = null;
  let sawNoData: QueryResult | null = null;
  let sawTryAgain: QueryResult | null = null;
  let last: QueryResult | null = null;
  for (const c of searchCandidates(q.value, snap)) {
    if (!nameToLabels(c.name).ok) continue;
    const r = await queryWith(ctx, snap, stripDot(c.name), type, o);
    if (r.hErrno === "NETDB_SUCCESS" || r.errno) return r;
    if (c.asIs) asIsResult = r;
    if (r.hErrno === "NO_DATA") sawNoData ??= r;
    if (r.hErrno === "TRY_AGAIN") sawTryAgain ??= r;
    last = r;
  }
  return (
    asIsResult ??
    sawNoData ??
    sawTryAgain ??
    last ??
    failed(input, type, "EINVAL", "no usable candidate", "NO_RECOVERY")
  );
}

export type Chain = {
  /** The owner name at the end of the CNAME chain. */
  canonname: string;
  /** Records of the asked type owned by the canonical name. */
  records: ResourceRecord[];
  aliases: string[];
  /** A loop or an over-long chain. */
  broken: boolean;
};

const MAX_CHAIN = 16;

/** Follows the CNAME chain inside an answer section, matching each owner (RFC 1034 §3.6.2). */
export function followChain(m: Message, qname: string, type: number): Chain {
  let cur = qname;
  const aliases: string[] = [];
  let seen: Set<string> | null = null;
  for (let hops = 0; ; hops++) {
    const records: ResourceRecord[] = [];
    let cname: string | null = null;
    for (const rr of m.answers) {
      if (!namesEqual(rr.name, cur)) continue;
      if (typeOf(rr.data) === type) records.push(rr);
      else if (rr.data.type === "CNAME" && cname === null) cname = rr.data.target;
    }
    if (records.length > 0 || type === TYPES.CNAME)
      return { canonname: cur, records, aliases, broken: false };
    if (cname === null) return { canonname: cur, records, aliases, broken: false };
    seen ??= new Set([canonicalName(qname)]);
    const next = canonicalName(cname);
    if (hops >= MAX_CHAIN || seen.has(next))
      return { canonname: cur, records: [], aliases, broken: true };
    aliases.push(cur);
    seen.add(next);
    cur = cname;
  }
}

function typeOf(d: RecordData): number {
  return d.type === "UNKNOWN" ? d.code : TYPES[d.type];
}

export type ErrsetErrno =
  | "ERRSET_SUCCESS"
  | "ERRSET_NONAME"
  | "ERRSET_NODATA"
  | "ERRSET_FAIL"
  | "ERRSET_INVAL";

export type RRSetResult = {
  errno: ErrsetErrno;
  /** RRSET_VALIDATED: AD=1 from a trusted resolver. */
  validated: boolean;
  canonname: string;
  rdclass: number;
  rdtype: number;
  ttl: number;
  rdatas: RecordData[];
  sigs: RecordData[];
  /** The underlying query, for rcode and diagnostics. */
  query: QueryResult;
};

/** getrrsetbyname(3): flags must be 0; class and type ANY are refused. */
export async function getrrsetbyname(
  ctx: ResolverContext,
  name: string,
  klass: number,
  type: number,
  flags = 0,
  o: QueryOptions = {},
): Promise<RRSetResult> {
  const base = {
    validated: false,
    canonname: name,
    rdclass: klass,
    rdtype: type,
    ttl: 0,
    rdatas: [],
    sigs: [],
  };
  if (flags !== 0 || klass === 255 || type === TYPES.ANY)
    return {
      ...base,
      errno: "ERRSET_INVAL",
      query: failed(name, type, "EINVAL", "bad flags, class or type", "NO_RECOVERY"),
    };
  const r = await resQuery(ctx, name, type, { ...o, klass, dnssecOk: true });
  const m = r.message;
  if (!m || r.errno)
    return { ...base, errno: r.errno === "EINVAL" ? "ERRSET_INVAL" : "ERRSET_FAIL", query: r };
  if (m.rcode === RCODES.NXDOMAIN)
    return { ...base, errno: "ERRSET_NONAME", validated: r.ad, query: r };
  if (m.rcode !== RCODES.NOERROR) return { ...base, errno: "ERRSET_FAIL", query: r };
  const chain = followChain(m, r.name, type);
  if (chain.broken) return { ...base, errno: "ERRSET_FAIL", query: r };
  const sigs = m.answers
    .filter(
      (rr) =>
        namesEqual(rr.name, chain.canonname) &&
        rr.data.type === "UNKNOWN" &&
        rr.data.code === TYPES.RRSIG,
    )
    .map((rr) => rr.data);
  const ttl = Math.min(...chain.records.map((rr) => rr.ttl));
  return {
    ...base,
    errno: chain.records.length > 0 ? "ERRSET_SUCCESS" : "ERRSET_NODATA",
    validated: r.ad,
    canonname: chain.canonname,
    ttl: chain.records.length > 0 ? ttl : 0,
    rdatas: chain.records.map((rr) => rr.data),
    sigs,
    query: r,
  };
}
