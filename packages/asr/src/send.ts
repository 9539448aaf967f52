// res_send: one question sent to the configured servers with per-server timeouts, rounds,
// rotation, TC->TCP fallback, EDNS fallback and failover on SERVFAIL/REFUSED/timeouts.
// Reply validation (ID, QR, opcode, question) happens here, before a reply is accepted.

import { randomFillSync } from "node:crypto";
import { buildQuery, decodeReply, type Message, OPCODE_QUERY, RCODES } from "./codec.js";
import type { ResolverContext, Snapshot } from "./context.js";
import { plainName } from "./names.js";
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
 * `qname`, when given, is the text of the query's QNAME (no escapes, no final dot): if the
 * reply's octets are exactly the query's, the decoder takes it instead of reading the name.
 */
export function acceptReply(
  raw: Buffer,
  query: Buffer,
  exactCase: boolean,
  qname: string | null = null,
): Message | null {
  if (raw.length < 12 || raw[0] !== query[0] || raw[1] !== query[1]) return null;
  const f = raw[2] ?? 0;
  if ((f & 0x80) === 0 || (f & 0x78) !== OPCODE_QUERY << 3) return null;
  if (raw[4] !== 0 || raw[5] !== 1) return null;
  let p = 12;
  let same = true;
  for (let len = query[p] ?? 0; ; len = query[p] ?? 0) {
    if (raw[p] !== len) return null;
    p++;
    if (len === 0) break;
    for (const end = p + len; p < end; p++) {
      let x = raw[p];
      let y = query[p];
      if (x === y) continue;
      if (exactCase || x === undefined || y === undefined) return null;
      same = false;
      if (x >= 0x41 && x <= 0x5a) x |= 0x20;
      if (y >= 0x41 && y <= 0x5a) y |= 0x20;
      if (x !== y) return null;
    }
  }
  for (const end = p + 4; p < end; p++) if (raw[p] !== query[p]) return null;
  const d = decodeReply(raw, same ? qname : null);
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
  qtext: string | null,
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
    // Under 0x20 the QNAME's octets are not qtext's any more.
    accept: (raw: Buffer) => acceptReply(raw, query, use0x20, use0x20 ? null : qtext),
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
  if (slot === true) return walk(new Walk(ctx, snap, req, servers));
  return slot.then((ok) =>
    ok
      ? walk(new Walk(ctx, snap, req, servers))
      : { kind: "neterror", errno: "EAGAIN", reason: "too many queries queued" },
  );
}

/** Runs a walk over the servers, holding a slot of ctx.acquire(), and releases it. */
async function walk(w: Walk): Promise<SendOutcome> {
  try {
    for (let x = w.next(); x; x = w.next()) {
      let o = await w.ctx.transport.exchange(x);
      if (!x.tcp && o.kind === "reply" && o.message.flags.tc)
        o = await retryOverTcp(w.ctx, x, w.attemptMs);
      w.take(o);
    }
    return w.outcome ?? w.failure();
  } finally {
    w.ctx.release();
  }
}

/**
 * A query's way through the servers: rounds over them with libasr's backoff (timeout << round
 * / servers, floor 1 s) and an overall deadline. next() gives the next exchange to make, or
 * null once the query has its outcome; take() judges an exchange's outcome.
 */
class Walk {
  readonly ctx: ResolverContext;
  private readonly snap: Snapshot;
  private readonly req: SendRequest;
  private readonly servers: Server[];
  private readonly start: number;
  private readonly deadline: number;
  private round = 0;
  private k = -1;
  private timeoutMs: number;
  /** When the current attempt began. */
  attemptMs: number;
  private first = true;
  private server: Server | null = null;
  private sentEdns = false;
  /** The question name as text without escapes or final dot, if it is such a name. */
  private readonly qtext: string | null;
  /** Servers given up on, and servers to ask without EDNS; made on first use. */
  private done: Set<number> | null = null;
  private noEdns: Set<number> | null = null;
  /** The last SERVFAIL-like reply, returned when every server failed. */
  private last: SendOutcome | null = null;
  private sawTimeout = false;
  private lastReason = "no server answered";
  outcome: SendOutcome | null = null;

  constructor(ctx: ResolverContext, snap: Snapshot, req: SendRequest, servers: Server[]) {
    this.ctx = ctx;
    this.snap = snap;
    this.req = req;
    this.servers = servers;
    this.start = ctx.firstServer(snap.conf);
    this.attemptMs = Date.now();
    this.deadline = this.attemptMs + (ctx.options.deadlineMs ?? 120000);
    this.timeoutMs = snap.conf.timeoutMs;
    this.qtext = plainName(req.name);
  }

  next(): ExchangeRequest | null {
    if (this.outcome) return null;
    const n = this.servers.length;
    for (;;) {
      if (++this.k >= n) {
        this.k = 0;
        this.round++;
        const t = this.snap.conf.timeoutMs;
        this.timeoutMs = Math.max(1000, Math.floor((t * 2 ** this.round) / n));
      }
      if (this.round >= this.snap.conf.attempts || (this.k === 0 && (this.done?.size ?? 0) >= n))
        return null;
      const i = (this.start + this.k) % n;
      const server = this.servers[i];
      if (!server || this.done?.has(i)) continue;
      // The first attempt starts when the walk does: no need to read the clock again.
      if (!this.first) this.attemptMs = Date.now();
      this.first = false;
      const left = this.deadline - this.attemptMs;
      if (left <= 0) {
        this.outcome = { kind: "neterror", errno: "ETIMEDOUT", reason: "query deadline passed" };
        return null;
      }
      this.server = server;
      this.sentEdns = this.snap.conf.edns0 && !this.noEdns?.has(i);
      const { ctx, snap, req } = this;
      const timeoutMs = Math.min(this.timeoutMs, left);
      const x = prepare(ctx, snap, server, req, timeoutMs, this.sentEdns, this.qtext);
      if (!("invalid" in x)) return x;
      this.outcome = { kind: "neterror", errno: "EINVAL", reason: x.invalid };
      return null;
    }
  }

  /** Judges the outcome of the exchange next() gave: the query's outcome, or on to the next. */
  take(o: ExchangeOutcome): void {
    const server = this.server as Server;
    const i = (this.start + this.k) % this.servers.length;
    if (o.kind === "aborted") {
      this.outcome = { kind: "neterror", errno: "ECANCELED", reason: "aborted" };
    } else if (o.kind === "timeout") {
      this.sawTimeout = true;
      this.lastReason = `${server.address}#${server.port}: timeout`;
    } else if (o.kind === "refused" || o.kind === "error") {
      this.giveUp(i);
      this.lastReason = `${server.address}#${server.port}: ${o.kind === "error" ? o.reason : "connection refused"}`;
    } else if (this.sentEdns && EDNS_TROUBLE.has(o.message.rcode)) {
      // RFC 6891 §7: the server may not do EDNS; ask it again without OPT.
      this.noEdns ??= new Set();
      this.noEdns.add(i);
      this.k--;
    } else {
      const ad = this.snap.trusted && o.message.flags.ad;
      const m = o.message;
      const message = ad === m.flags.ad ? m : { ...m, flags: { ...m.flags, ad } };
      const reply: SendOutcome = { kind: "reply", message, raw: o.raw, server, ad };
      if (FAILOVER_RCODES.has(m.rcode)) {
        this.last = reply;
        this.giveUp(i);
      } else this.outcome = reply;
    }
  }

  private giveUp(i: number): void {
    this.done ??= new Set();
    this.done.add(i);
  }

  /** Every server failed: the last SERVFAIL-like reply, else a network error. */
  failure(): SendOutcome {
    if (this.last) return this.last;
    return this.sawTimeout
      ? { kind: "neterror", errno: "ETIMEDOUT", reason: this.lastReason }
      : { kind: "neterror", errno: "ECONNREFUSED", reason: this.lastReason };
  }
}
