// res_send: one question sent to the configured servers with per-server timeouts, rounds,
// rotation, TC->TCP fallback, EDNS fallback and failover on SERVFAIL/REFUSED/timeouts.
// Reply validation (ID, QR, opcode, question) happens here, before a reply is accepted.

import { randomFillSync, randomInt } from "node:crypto";
import { buildQuery, decodeMessage, type Message, OPCODE_QUERY, RCODES } from "./codec.js";
import type { ResolverContext, Snapshot } from "./context.js";
import { lowerAscii, namesEqual } from "./names.js";
import type { Server } from "./resolv-conf.js";
import type { ExchangeOutcome } from "./transport.js";

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

function randomCase(name: string): string {
  let out = "";
  for (const c of name)
    out += /[a-z]/i.test(c) && randomInt(2) === 1 ? c.toUpperCase() : c.toLowerCase();
  return out;
}

/** RFC 5452 §9 checks: ID, QR, opcode, one question equal to ours (exactly under 0x20). */
export function acceptReply(
  raw: Buffer,
  id: number,
  qname: string,
  type: number,
  klass: number,
  exactCase: boolean,
): Message | null {
  const d = decodeMessage(raw);
  if (!d.ok) return null;
  const m = d.value;
  const q = m.questions[0];
  if (m.id !== id || !m.flags.qr || m.opcode !== OPCODE_QUERY || m.questions.length !== 1 || !q)
    return null;
  if (q.type !== type || q.class !== klass) return null;
  if (exactCase ? q.name !== qname : !namesEqual(q.name, qname)) return null;
  return m;
}

type Attempt = { outcome: ExchangeOutcome; sentEdns: boolean };

async function attempt(
  ctx: ResolverContext,
  snap: Snapshot,
  server: Server,
  req: SendRequest,
  timeoutMs: number,
  withEdns: boolean,
): Promise<Attempt | { invalid: string }> {
  const id = randomId();
  const use0x20 = ctx.options.use0x20 === true;
  const qname = use0x20 ? randomCase(req.name) : req.name;
  const sentEdns = withEdns && snap.conf.edns0;
  const q = buildQuery({
    id,
    name: qname,
    type: req.type,
    klass: req.klass,
    ad: snap.trusted,
    udpSize: sentEdns ? (ctx.options.udpSize ?? 1232) : null,
    dnssecOk: sentEdns && req.dnssecOk === true,
  });
  if (!q.ok) return { invalid: q.error };
  const accept = (raw: Buffer) =>
    acceptReply(raw, id, use0x20 ? qname : lowerAscii(qname), req.type, req.klass, use0x20);
  const started = Date.now();
  const tcp = snap.conf.useTcp || q.value.length > MAX_UDP_QUERY;
  const base = { server, query: q.value, signal: req.signal, accept };
  let outcome = await ctx.transport.exchange({ ...base, tcp, timeoutMs });
  if (!tcp && outcome.kind === "reply" && outcome.message.flags.tc) {
    // RFC 7766: retry the same server over TCP within what is left of the attempt's time.
    const left = Math.max(1, timeoutMs - (Date.now() - started));
    outcome = await ctx.transport.exchange({ ...base, tcp: true, timeoutMs: left });
    if (outcome.kind === "timeout")
      outcome = { kind: "error", reason: "TCP retry after TC timed out" };
  }
  return { outcome, sentEdns };
}

const FAILOVER_RCODES: ReadonlySet<number> = new Set([
  RCODES.SERVFAIL,
  RCODES.REFUSED,
  RCODES.NOTIMP,
  RCODES.FORMERR,
]);
const EDNS_TROUBLE: ReadonlySet<number> = new Set([RCODES.FORMERR, RCODES.NOTIMP, RCODES.BADVERS]);

/** Sends one question until a server gives a usable reply, or all fail. */
export async function sendQuery(
  ctx: ResolverContext,
  snap: Snapshot,
  req: SendRequest,
): Promise<SendOutcome> {
  const servers = req.servers ?? snap.conf.nameservers;
  const n = servers.length;
  if (n === 0) return { kind: "neterror", errno: "ECONNREFUSED", reason: "no nameservers" };
  if (!(await ctx.acquire()))
    return { kind: "neterror", errno: "EAGAIN", reason: "too many queries queued" };
  try {
    return await iterate(ctx, snap, req, servers);
  } finally {
    ctx.release();
  }
}

async function iterate(
  ctx: ResolverContext,
  snap: Snapshot,
  req: SendRequest,
  servers: Server[],
): Promise<SendOutcome> {
  const n = servers.length;
  const start = ctx.firstServer(snap.conf);
  const done = new Set<number>();
  const noEdns = new Set<number>();
  const deadline = Date.now() + (ctx.options.deadlineMs ?? 120000);
  let last: SendOutcome | null = null;
  let sawTimeout = false;
  let lastReason = "no server answered";
  for (let round = 0; round < snap.conf.attempts && done.size < n; round++) {
    const t = snap.conf.timeoutMs;
    const timeoutMs = round === 0 ? t : Math.max(1000, Math.floor((t * 2 ** round) / n));
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      const server = servers[i];
      if (!server || done.has(i)) continue;
      const left = deadline - Date.now();
      if (left <= 0)
        return { kind: "neterror", errno: "ETIMEDOUT", reason: "query deadline passed" };
      const a = await attempt(ctx, snap, server, req, Math.min(timeoutMs, left), !noEdns.has(i));
      if ("invalid" in a) return { kind: "neterror", errno: "EINVAL", reason: a.invalid };
      const o = a.outcome;
      if (o.kind === "aborted") return { kind: "neterror", errno: "ECANCELED", reason: "aborted" };
      if (o.kind === "timeout") {
        sawTimeout = true;
        lastReason = `${server.address}#${server.port}: timeout`;
        continue;
      }
      if (o.kind === "refused" || o.kind === "error") {
        done.add(i);
        lastReason = `${server.address}#${server.port}: ${o.kind === "error" ? o.reason : "connection refused"}`;
        continue;
      }
      const rcode = o.message.rcode;
      if (a.sentEdns && EDNS_TROUBLE.has(rcode) && !noEdns.has(i)) {
        // RFC 6891 §7: the server may not do EDNS; ask it again without OPT.
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
      done.add(i);
    }
  }
  if (last) return last;
  return sawTimeout
    ? { kind: "neterror", errno: "ETIMEDOUT", reason: lastReason }
    : { kind: "neterror", errno: "ECONNREFUSED", reason: lastReason };
}
