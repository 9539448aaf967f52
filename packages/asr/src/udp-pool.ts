// The UDP side of the transport: per server, a few connected sockets used in turn, each with
// an OS-random source port and its own table of query IDs in flight, each replaced after a
// number of uses (c-ares' udp_max_queries). Runs in whichever role resolves names.

import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { Server } from "./resolv-conf.js";
import type { ExchangeOutcome, ExchangeRequest } from "./transport.js";

/** One exchange waiting for its reply on a socket. */
type Waiter = {
  req: ExchangeRequest;
  id: number;
  sock: PoolSocket;
  resolve: (o: ExchangeOutcome) => void;
  onAbort: (() => void) | null;
  /** Another exchange on the same socket with the same ID (16-bit IDs do collide). */
  next: Waiter | null;
  /** The clock at the first sweep after the exchange began (-1 before): it began no later. */
  seenMs: number;
  /** Neighbours in the pool's list of exchanges in flight, oldest first. */
  older: Waiter | null;
  newer: Waiter | null;
};

/** A connected socket (the kernel drops datagrams from other sources) and its ID table. */
type PoolSocket = {
  sock: UdpSocket;
  pool: ServerPool;
  uses: number;
  connected: boolean;
  /** Queries written before "connect" fired. */
  queued: Buffer[];
  waiting: Map<number, Waiter>;
  inflight: number;
  /** Replaced in the pool: closes once its last exchange is over. */
  retired: boolean;
};

type ServerPool = {
  key: string;
  server: Server;
  sockets: (PoolSocket | undefined)[];
  /** Round-robin cursor over `sockets`. */
  turn: number;
  inflight: number;
  lastUsedMs: number;
  idle: NodeJS.Timeout | null;
};

const IDLE_CLOSE_MS = 2000;
/**
 * Timeouts are checked every SWEEP_MS by one interval timer, not by a timer per exchange: an
 * exchange times out between timeoutMs and timeoutMs + 2 * SWEEP_MS after it began, never early.
 */
const SWEEP_MS = 20;
const TIMEOUT: ExchangeOutcome = { kind: "timeout" };
const ABORTED: ExchangeOutcome = { kind: "aborted" };
const NOOP = () => {};

export function errorOutcome(e: NodeJS.ErrnoException): ExchangeOutcome {
  return e.code === "ECONNREFUSED"
    ? { kind: "refused" }
    : { kind: "error", reason: e.code ?? e.message };
}

function closeSocket(s: PoolSocket): void {
  try {
    s.sock.close();
  } catch {
    // already closed
  }
}

/**
 * Exchanges over UDP. Replies are matched through the receiving socket's ID table, then
 * checked by the request's `accept`; datagrams that fail are ignored and the exchange keeps
 * waiting until its timeout. A retired socket keeps listening until its exchanges end; a
 * server's sockets close after IDLE_CLOSE_MS without exchanges. size = 1 and maxQueries = 1
 * give a fresh socket per attempt, as libasr does.
 */
export class UdpPool {
  private readonly pools = new Map<string, ServerPool>();
  /** Servers usually come from one parsed resolv.conf: their pool is found by identity. */
  private readonly byServer = new WeakMap<Server, ServerPool>();
  private readonly maxQueries: number;
  private readonly size: number;
  private oldest: Waiter | null = null;
  private newest: Waiter | null = null;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(maxQueries: number, size: number) {
    this.maxQueries = Math.max(1, maxQueries);
    this.size = Math.max(1, size);
  }

  exchange(req: ExchangeRequest): Promise<ExchangeOutcome> {
    const signal = req.signal;
    if (signal?.aborted) return Promise.resolve(ABORTED);
    const p = this.poolOf(req.server);
    const s = this.pick(p);
    const id = (req.query[0] ?? 0) * 256 + (req.query[1] ?? 0);
    const w: Waiter = {
      req,
      id,
      sock: s,
      resolve: NOOP,
      onAbort: null,
      next: s.waiting.get(id) ?? null,
      seenMs: -1,
      older: this.newest,
      newer: null,
    };
    const done = new Promise<ExchangeOutcome>((resolve) => {
      w.resolve = resolve;
    });
    s.waiting.set(id, w);
    s.inflight++;
    p.inflight++;
    if (this.newest) this.newest.newer = w;
    else this.oldest = w;
    this.newest = w;
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS);
    if (signal) {
      w.onAbort = () => this.settle(w, ABORTED);
      signal.addEventListener("abort", w.onAbort, { once: true });
    }
    // Without a callback, send errors arrive as "error" events, which fail the waiters.
    if (s.connected) s.sock.send(req.query);
    else s.queued.push(req.query);
    return done;
  }

  private poolOf(server: Server): ServerPool {
    let p = this.byServer.get(server);
    if (p && this.pools.get(p.key) === p) return p;
    const key = `${server.address}#${server.port}`;
    p = this.pools.get(key);
    if (!p) {
      const sockets = new Array<PoolSocket | undefined>(this.size).fill(undefined);
      p = { key, server, sockets, turn: 0, inflight: 0, lastUsedMs: 0, idle: null };
      this.pools.set(key, p);
    }
    this.byServer.set(server, p);
    return p;
  }

  /** The next socket in turn, replaced first if it has had its maxQueries uses. */
  private pick(p: ServerPool): PoolSocket {
    const i = p.turn;
    p.turn = (i + 1) % this.size;
    let s = p.sockets[i];
    if (s && s.uses >= this.maxQueries) this.retire(s);
    if (!s || s.retired) {
      s = this.open(p);
      p.sockets[i] = s;
    }
    s.uses++;
    return s;
  }

  private open(p: ServerPool): PoolSocket {
    const sock = createSocket(isIPv6(p.server.address) ? "udp6" : "udp4");
    const s: PoolSocket = {
      sock,
      pool: p,
      uses: 0,
      connected: false,
      queued: [],
      waiting: new Map(),
      inflight: 0,
      retired: false,
    };
    sock.on("error", (e) => {
      if (!s.connected) {
        // Could not bind or connect: the socket is of no use.
        s.queued.length = 0;
        this.retire(s);
      }
      this.failAll(s, e);
    });
    sock.on("message", (raw: Buffer) => {
      if (raw.length < 12) return;
      for (let w = s.waiting.get((raw[0] ?? 0) * 256 + (raw[1] ?? 0)) ?? null; w; w = w.next) {
        const m = w.req.accept(raw);
        if (m) return this.settle(w, { kind: "reply", message: m, raw });
      }
    });
    // connect() binds first: the kernel picks a random ephemeral source port.
    sock.connect(p.server.port, p.server.address, () => {
      s.connected = true;
      for (const q of s.queued) sock.send(q);
      s.queued.length = 0;
    });
    sock.unref();
    return s;
  }

  private retire(s: PoolSocket): void {
    s.retired = true;
    const slots = s.pool.sockets;
    const i = slots.indexOf(s);
    if (i >= 0) slots[i] = undefined;
    if (s.inflight === 0) closeSocket(s);
  }

  private failAll(s: PoolSocket, e: NodeJS.ErrnoException): void {
    const o = errorOutcome(e);
    const all: Waiter[] = [];
    for (const first of s.waiting.values())
      for (let w: Waiter | null = first; w; w = w.next) all.push(w);
    for (const w of all) this.settle(w, o);
  }

  /** Ends an exchange once: out of the ID table, timer and abort listener removed. */
  private settle(w: Waiter, o: ExchangeOutcome): void {
    const s = w.sock;
    let head = s.waiting.get(w.id) ?? null;
    if (head === w) {
      if (w.next) s.waiting.set(w.id, w.next);
      else s.waiting.delete(w.id);
    } else {
      while (head && head.next !== w) head = head.next;
      if (!head) return; // settled already
      head.next = w.next;
    }
    w.next = null;
    if (w.older) w.older.newer = w.newer;
    else this.oldest = w.newer;
    if (w.newer) w.newer.older = w.older;
    else this.newest = w.older;
    // Cut the links: a settled waiter that reached the old generation would otherwise keep
    // every later waiter alive through `newer` (an old-to-young pointer is a scavenge root).
    w.older = null;
    w.newer = null;
    if (w.onAbort) w.req.signal?.removeEventListener("abort", w.onAbort);
    s.inflight--;
    if (s.inflight === 0 && s.retired) closeSocket(s);
    const p = s.pool;
    p.inflight--;
    if (p.inflight === 0) {
      p.lastUsedMs = Date.now();
      if (!p.idle) this.idleLater(p, IDLE_CLOSE_MS);
    }
    w.resolve(o);
  }

  /** Times out the exchanges that are due; stops when none is left. */
  private sweep(): void {
    const now = Date.now();
    for (let w = this.oldest; w; ) {
      const newer = w.newer;
      if (w.seenMs < 0) w.seenMs = now;
      else if (now - w.seenMs >= w.req.timeoutMs) this.settle(w, TIMEOUT);
      w = newer;
    }
    if (!this.oldest && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  private idleLater(p: ServerPool, ms: number): void {
    p.idle = setTimeout(() => this.idleCheck(p), ms);
    p.idle.unref();
  }

  /** Closes a server's sockets once it has had no exchange for IDLE_CLOSE_MS. */
  private idleCheck(p: ServerPool): void {
    p.idle = null;
    if (p.inflight > 0) return;
    const left = p.lastUsedMs + IDLE_CLOSE_MS - Date.now();
    if (left > 0) {
      this.idleLater(p, left);
      return;
    }
    if (this.pools.get(p.key) === p) this.pools.delete(p.key);
    for (const s of p.sockets) if (s) closeSocket(s);
    p.sockets.fill(undefined);
  }
}
