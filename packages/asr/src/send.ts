// res_send: one question sent to the configured servers with per-server timeouts, rounds,
// rotation, TC->TCP fallback, EDNS fallback and failover on SERVFAIL/REFUSED/timeouts.
// Reply validation (ID, QR, opcode, question) happens here, before a reply is accepted.

import { randomFillSync } from "node:crypto";
import { buildQuery, decodeMessage, type Message, OPCODE_QUERY, RCODES } from "./codec.js";
import type { ResolverContext, Snapshot } from "./context.js";
import type { Server } from "./resolv-conf.js";
import type { ExchangeOutcome, ExchangeRequest } from "./transport.js";

export type NetErrno = "ETIMEDOUT" | "ECONNREFUSED" | "ECANCELED" | "EAGAIN" | "EINVAL";

export type SendOutcome =
  | { kind: "reply"; message: Message; raw: Buffer; server: Server; ad: boolean }
  | { kind: "neterror"; errno: NetErrno; reason: string };

export type SendRequest = {
  name: string;
  type: number;
  klass: number;
  dnssecOk?: boolean | undefined;
  signal?: AbortSignal | undefined;
  servers?: Server[] | undefined;
};

const MAX_UDP_QUERY = 512;

// Query IDs come from a buffer of CSPRNG output, refilled when used up (cheaper than randomInt).
const idPool = Buffer.alloc(4096);
let idPos = idPool.length;
function randomId(): number {
  if (idPos + 2 > idPool.length) {
    randomFillSync(idPool);
    idPos = 0;
  }
  const v = idPool.readUInt16BE(idPos);
  idPos += 2;
  return v;
}

/** 0x20: gives each letter of the query's QNAME a random case, in place, 16 letters per draw. */
function randomCaseWire(query: Buffer): void {
  let bits = 0;
  let have = 0;
  for (let p = 12, len = query[p] ?? 0; len !== 0; p += len + 1, len = query[p] ?? 0) {
    for (let i = p + 1; i <= p + len; i++) {
      const c = (query[i] ?? 0) | 0x20;
      if (c < 0x61 || c > 0x7a) continue;
      if (have === 0) {
        bits = randomId();
        have = 16;
      }
      query[i] = bits & 1 ? c & ~0x20 : c;
      bits >>>= 1;
      have--;
    }
  }
}

/**
 * RFC 5452 §9 checks, on the octets before any decoding: the ID, QR, the opcode, QDCOUNT = 1
 * and a question equal to the query's (QNAME up to ASCII case, exactly under 0x20; QTYPE,
 * QCLASS). Our QNAME is never compressed, and a reply's first name cannot be, so comparing
 * octets with letters folded is the DNS comparison (RFC 4343). Then the reply must decode.
 */
export function acceptReply(raw: Buffer, query: Buffer, exactCase: boolean): Message | null {
  if (raw.length < 12 || raw[0] !== query[0] || raw[1] !== query[1]) return null;
  const f = raw[2] ?? 0;
  if ((f & 0x80) === 0 || (f & 0x78) !== OPCODE_QUERY << 3) return null;
  if (raw[4] !== 0 || raw[5] !== 1) return null;
  let p = 12;
  for (let len = query[p] ?? 0; ; len = query[p] ?? 0) {
    if (raw[p] !== len) return null;
    p++;
    if (len === 0) break;
    for (const end = p + len; p < end; p++) {
      let x = raw[p];
      let y = query[p];
      if (x === y) continue;
      if (exactCase || x === undefined || y === undefined) return null;
      if (x >= 0x41 && x <= 0x5a) x |= 0x20;
      if (y >= 0x41 && y <= 0x5a) y |= 0x20;
      if (x !== y) return null;
    }
  }
  for (const end = p + 4; p < end; p++) if (raw[p] !== query[p]) return null;
  const d = decodeMessage(raw);
  return d.ok ? d.value : null;
}

/** The exchange of one attempt: a fresh ID, EDNS unless the server refused it, 0x20 if asked. */
function prepare(
  ctx: ResolverContext,
  snap: Snapshot,
  server: Server,
  req: SendRequest,
  timeoutMs: number,
  sentEdns: boolean,
): ExchangeRequest | { invalid: string } {
  const use0x20 = ctx.options.use0x20 === true;
  const q = buildQuery({
    id: randomId(),
    name: req.name,
    type: req.type,
    klass: req.klass,
    ad: snap.trusted,
    udpSize: sentEdns ? (ctx.options.udpSize ?? 1232) : null,
    dnssecOk: sentEdns && req.dnssecOk === true,
  });
  if (!q.ok) return { invalid: q.error };
  const query = q.value;
  if (use0x20) randomCaseWire(query);
  return {
    server,
    query,
    tcp: snap.conf.useTcp || query.length > MAX_UDP_QUERY,
    timeoutMs,
    signal: req.signal,
    accept: (raw: Buffer) => acceptReply(raw, query, use0x20),
  };
}

/** RFC 7766: after TC=1, the same server over TCP within what is left of the attempt's time. */
async function retryOverTcp(
  ctx: ResolverContext,
  x: ExchangeRequest,
  startedMs: number,
): Promise<ExchangeOutcome> {
  const left = Math.max(1, x.timeoutMs - (Date.now() - startedMs));
  const o = await ctx.transport.exchange({ ...x, tcp: true, timeoutMs: left });
  return o.kind === "timeout" ? { kind: "error", reason: "TCP retry after TC timed out" } : o;
}

const FAILOVER_RCODES: ReadonlySet<number> = new Set([
  RCODES.SERVFAIL,
  RCODES.REFUSED,
  RCODES.NOTIMP,
  RCODES.FORMERR,
]);
const EDNS_TROUBLE: ReadonlySet<number> = new Set([RCODES.FORMERR, RCODES.NOTIMP, RCODES.BADVERS]);

/** Sends one question until a server gives a usable reply, or all fail. */
export function sendQuery(
  ctx: ResolverContext,
  snap: Snapshot,
  req: SendRequest,
): Promise<SendOutcome> {
  const servers = req.servers ?? snap.conf.nameservers;
  if (servers.length === 0)
    return Promise.resolve({ kind: "neterror", errno: "ECONNREFUSED", reason: "no nameservers" });
  const slot = ctx.acquire();
  if (slot === true) return rounds(ctx, snap, req, servers);
  return slot.then((ok) =>
    ok
      ? rounds(ctx, snap, req, servers)
      : { kind: "neterror", errno: "EAGAIN", reason: "too many queries queued" },
  );
}

/** A query's way through the servers: who was given up on, and the best failure so far. */
type Walk = {
  /** Servers given up on, and servers to ask without EDNS; made on first use. */
  done: Set<number> | null;
  noEdns: Set<number> | null;
  last: SendOutcome | null;
  sawTimeout: boolean;
  lastReason: string;
};

/**
 * The rounds over the servers, with libasr's backoff (timeout << round / servers, floor 1 s)
 * and an overall deadline. Runs holding a slot of ctx.acquire() and releases it.
 */
async function rounds(
  ctx: ResolverContext,
  snap: Snapshot,
  req: SendRequest,
  servers: Server[],
): Promise<SendOutcome> {
  try {
    const n = servers.length;
    const start = ctx.firstServer(snap.conf);
    const w: Walk = {
      done: null,
      noEdns: null,
      last: null,
      sawTimeout: false,
      lastReason: "no server answered",
    };
    const startedMs = Date.now();
    const deadline = startedMs + (ctx.options.deadlineMs ?? 120000);
    let first = true;
    for (let round = 0; round < snap.conf.attempts && (w.done?.size ?? 0) < n; round++) {
      const t = snap.conf.timeoutMs;
      const timeoutMs = round === 0 ? t : Math.max(1000, Math.floor((t * 2 ** round) / n));
      for (let k = 0; k < n; k++) {
        const i = (start + k) % n;
        const server = servers[i];
        if (!server || w.done?.has(i)) continue;
        // The first attempt starts now: no need to read the clock again.
        const attemptMs = first ? startedMs : Date.now();
        first = false;
        const left = deadline - attemptMs;
        if (left <= 0)
          return { kind: "neterror", errno: "ETIMEDOUT", reason: "query deadline passed" };
        const sentEdns = snap.conf.edns0 && !w.noEdns?.has(i);
        const x = prepare(ctx, snap, server, req, Math.min(timeoutMs, left), sentEdns);
        if ("invalid" in x) return { kind: "neterror", errno: "EINVAL", reason: x.invalid };
        let o = await ctx.transport.exchange(x);
        if (!x.tcp && o.kind === "reply" && o.message.flags.tc)
          o = await retryOverTcp(ctx, x, attemptMs);
        const verdict = judge(w, snap, server, i, sentEdns, o);
        if (verdict === "again") k--;
        else if (verdict !== "next") return verdict;
      }
    }
    if (w.last) return w.last;
    return w.sawTimeout
      ? { kind: "neterror", errno: "ETIMEDOUT", reason: w.lastReason }
      : { kind: "neterror", errno: "ECONNREFUSED", reason: w.lastReason };
  } finally {
    ctx.release();
  }
}

/**
 * What one attempt's outcome means: the query's outcome, "next" (go on to the next server)
 * or "again" (ask the same server again, without EDNS).
 */
function judge(
  w: Walk,
  snap: Snapshot,
  server: Server,
  i: number,
  sentEdns: boolean,
  o: ExchangeOutcome,
): SendOutcome | "next" | "again" {
  if (o.kind === "aborted") return { kind: "neterror", errno: "ECANCELED", reason: "aborted" };
  if (o.kind === "timeout") {
    w.sawTimeout = true;
    w.lastReason = `${server.address}#${server.port}: timeout`;
    return "next";
  }
  if (o.kind === "refused" || o.kind === "error") {
    w.done ??= new Set();
    w.done.add(i);
    w.lastReason = `${server.address}#${server.port}: ${o.kind === "error" ? o.reason : "connection refused"}`;
    return "next";
  }
  const rcode = o.message.rcode;
  if (sentEdns && EDNS_TROUBLE.has(rcode)) {
    // RFC 6891 §7: the server may not do EDNS; ask it again without OPT.
    w.noEdns ??= new Set();
    w.noEdns.add(i);
    return "again";
  }
  const ad = snap.trusted && o.message.flags.ad;
  const message =
    ad === o.message.flags.ad ? o.message : { ...o.message, flags: { ...o.message.flags, ad } };
  const reply: SendOutcome = { kind: "reply", message, raw: o.raw, server, ad };
  if (!FAILOVER_RCODES.has(rcode)) return reply;
  w.last = reply;
  w.done ??= new Set();
  w.done.add(i);
  return "next";
}
