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
  if (slot === true) return iterate(ctx, snap, req, servers);
  return slot.then((ok) =>
    ok
      ? iterate(ctx, snap, req, servers)
      : { kind: "neterror", errno: "EAGAIN", reason: "too many queries queued" },
  );
}

/** The rounds over the servers; runs holding a slot of ctx.acquire() and releases it. */
async function iterate(
  ctx: ResolverContext,
  snap: Snapshot,
  req: SendRequest,
  servers: Server[],
): Promise<SendOutcome> {
  try {
    return await rounds(ctx, snap, req, servers);
  } finally {
    ctx.release();
  }
}

async function rounds(
  ctx: ResolverContext,
  snap: Snapshot,
  req: SendRequest,
  servers: Server[],
): Promise<SendOutcome> {
  const n = servers.length;
  const start = ctx.firstServer(snap.conf);
  // Servers given up on, and servers to ask without EDNS; made on first use.
  let done: Set<number> | null = null;
  let noEdns: Set<number> | null = null;
  const startedMs = Date.now();
  const deadline = startedMs + (ctx.options.deadlineMs ?? 120000);
  let last: SendOutcome | null = null;
  let sawTimeout = false;
  let lastReason = "no server answered";
  let first = true;
  for (let round = 0; round < snap.conf.attempts && (done?.size ?? 0) < n; round++) {
    const t = snap.conf.timeoutMs;
    const timeoutMs = round === 0 ? t : Math.max(1000, Math.floor((t * 2 ** round) / n));
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      const server = servers[i];
      if (!server || done?.has(i)) continue;
      // The first attempt starts now: no need to read the clock again.
      const attemptMs = first ? startedMs : Date.now();
      first = false;
      const left = deadline - attemptMs;
      if (left <= 0)
        return { kind: "neterror", errno: "ETIMEDOUT", reason: "query deadline passed" };
      const sentEdns = snap.conf.edns0 && !noEdns?.has(i);
      const x = prepare(ctx, snap, server, req, Math.min(timeoutMs, left), sentEdns);
      if ("invalid" in x) return { kind: "neterror", errno: "EINVAL", reason: x.invalid };
      let o = await ctx.transport.exchange(x);
      if (!x.tcp && o.kind === "reply" && o.message.flags.tc)
        o = await retryOverTcp(ctx, x, attemptMs);
      if (o.kind === "aborted") return { kind: "neterror", errno: "ECANCELED", reason: "aborted" };
      if (o.kind === "timeout") {
        sawTimeout = true;
        lastReason = `${server.address}#${server.port}: timeout`;
        continue;
      }
      if (o.kind === "refused" || o.kind === "error") {
        done ??= new Set();
        done.add(i);
        lastReason = `${server.address}#${server.port}: ${o.kind === "error" ? o.reason : "connection refused"}`;
        continue;
      }
      const rcode = o.message.rcode;
      if (sentEdns && EDNS_TROUBLE.has(rcode)) {
        // RFC 6891 §7: the server may not do EDNS; ask it again without OPT.
        noEdns ??= new Set();
        noEdns.add(i);
        k--;
        continue;
      }
      const ad = snap.trusted && o.message.flags.ad;
      const message =
        ad === o.message.flags.ad ? o.message : { ...o.message, flags: { ...o.message.flags, ad } };
      const reply: SendOutcome = { kind: "reply", message, raw: o.raw, server, ad };
      if (!FAILOVER_RCODES.has(rcode)) return reply;
      last = reply;
      done ??= new Set();
      done.add(i);
    }
  }
  if (last) return last;
  return sawTimeout
    ? { kind: "neterror", errno: "ETIMEDOUT", reason: lastReason }
    : { kind: "neterror", errno: "ECONNREFUSED", reason: lastReason };
}
