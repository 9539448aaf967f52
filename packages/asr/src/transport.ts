// Sockets: one UDP or TCP exchange with one server. UDP uses connected sockets from a small
// pool rotated often (OS-random source ports, kernel filters other sources) and keeps listening after
// datagrams that fail the caller's check, until the timeout. TCP frames with a 2-byte length.

import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, isIPv6 } from "node:net";
import type { Message } from "./codec.js";
import type { Server } from "./resolv-conf.js";

export type ExchangeRequest = {
  server: Server;
  query: Buffer;
  tcp: boolean;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Decodes and validates a reply; null means "not ours or malformed". */
  accept: (raw: Buffer) => Message | null;
};

export type ExchangeOutcome =
  | { kind: "reply"; message: Message; raw: Buffer }
  | { kind: "timeout" }
  | { kind: "refused" }
  | { kind: "error"; reason: string }
  | { kind: "aborted" };

export type Transport = { exchange(req: ExchangeRequest): Promise<ExchangeOutcome> };

/** Runs `body` with a settle-once callback wired to the timeout and the abort signal. */
function bounded(
  req: ExchangeRequest,
  body: (finish: (o: ExchangeOutcome) => void) => () => void,
): Promise<ExchangeOutcome> {
  return new Promise((resolve) => {
    if (req.signal?.aborted) return resolve({ kind: "aborted" });
    let done = false;
    let cleanup = () => {};
    const onAbort = () => finish({ kind: "aborted" });
    const timer = setTimeout(() => finish({ kind: "timeout" }), req.timeoutMs);
    function finish(o: ExchangeOutcome): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
      cleanup();
      resolve(o);
    }
    req.signal?.addEventListener("abort", onAbort, { once: true });
    cleanup = body(finish);
  });
}

function errorOutcome(e: NodeJS.ErrnoException): ExchangeOutcome {
  return e.code === "ECONNREFUSED"
    ? { kind: "refused" }
    : { kind: "error", reason: e.code ?? e.message };
}

type Pooled = {
  sock: UdpSocket;
  uses: number;
  ready: Promise<NodeJS.ErrnoException | null>;
  pending: Map<number, Set<(raw: Buffer) => void>>;
  failed: Set<(e: NodeJS.ErrnoException) => void>;
  idle: NodeJS.Timeout | null;
};

const IDLE_CLOSE_MS = 2000;

/**
 * UDP with a small socket pool: one connected socket per server, shared by concurrent queries
 * and replaced after `maxQueries` uses (c-ares' udp_max_queries), so source ports still
 * rotate often. maxQueries = 1 gives a fresh socket per attempt, as libasr does.
 */
function udpPool(maxQueries: number): (req: ExchangeRequest) => Promise<ExchangeOutcome> {
  const pools = new Map<string, Pooled>();
  const close = (p: Pooled) => {
    if (p.idle) clearTimeout(p.idle);
    try {
      p.sock.close();
    } catch {
      // already closed
    }
  };
  const open = (server: Server): Pooled => {
    const sock = createSocket(isIPv6(server.address) ? "udp6" : "udp4");
    const p: Pooled = {
      sock,
      uses: 0,
      ready: Promise.resolve(null),
      pending: new Map(),
      failed: new Set(),
      idle: null,
    };
    p.ready = new Promise((res) => {
      sock.once("connect", () => res(null));
      sock.once("error", (e) => res(e));
    });
    sock.on("error", (e) => {
      for (const f of [...p.failed]) f(e);
    });
    sock.on("message", (raw) => {
      if (raw.length < 2) return;
      for (const f of [...(p.pending.get(raw.readUInt16BE(0)) ?? [])]) f(raw);
    });
    sock.connect(server.port, server.address);
    sock.unref();
    return p;
  };
  return (req) =>
    bounded(req, (finish) => {
      const key = `${req.server.address}#${req.server.port}`;
      let p = pools.get(key);
      if (!p || p.uses >= maxQueries) {
        if (p && p.pending.size === 0) close(p);
        p = open(req.server);
        pools.set(key, p);
      }
      const pool = p;
      pool.uses++;
      if (pool.idle) clearTimeout(pool.idle);
      pool.idle = null;
      const id = req.query.readUInt16BE(0);
      const onMessage = (raw: Buffer) => {
        const m = req.accept(raw);
        if (m) finish({ kind: "reply", message: m, raw });
      };
      const onError = (e: NodeJS.ErrnoException) => finish(errorOutcome(e));
      const set = pool.pending.get(id) ?? new Set();
      set.add(onMessage);
      pool.pending.set(id, set);
      pool.failed.add(onError);
      void pool.ready.then((e) => {
        if (e) return onError(e);
        // Without a callback, send errors arrive as "error" events, which reach onError.
        pool.sock.send(req.query);
      });
      return () => {
        set.delete(onMessage);
        if (set.size === 0) pool.pending.delete(id);
        pool.failed.delete(onError);
        if (pool.pending.size > 0) return;
        if (pools.get(key) !== pool) close(pool);
        else {
          pool.idle = setTimeout(() => {
            if (pools.get(key) === pool) pools.delete(key);
            close(pool);
          }, IDLE_CLOSE_MS);
          pool.idle.unref();
        }
      };
    });
}

function tcpExchange(req: ExchangeRequest): Promise<ExchangeOutcome> {
  return bounded(req, (finish) => {
    const sock = connect({ host: req.server.address, port: req.server.port });
    const chunks: Buffer[] = [];
    let have = 0;
    sock.setNoDelay(true);
    sock.on("connect", () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(req.query.length);
      sock.write(Buffer.concat([len, req.query]));
    });
    sock.on("data", (d) => {
      chunks.push(d);
      have += d.length;
      if (have < 2) return;
      const all = Buffer.concat(chunks);
      const want = all.readUInt16BE(0);
      if (have < want + 2) return;
      const m = req.accept(all.subarray(2, want + 2));
      finish(
        m
          ? { kind: "reply", message: m, raw: all.subarray(2, want + 2) }
          : { kind: "error", reason: "invalid TCP reply" },
      );
    });
    sock.on("error", (e) => finish(errorOutcome(e)));
    sock.on("close", () => finish({ kind: "error", reason: "TCP connection closed" }));
    return () => sock.destroy();
  });
}

export type NodeTransportOptions = { udpMaxQueries?: number };

export function createNodeTransport(o: NodeTransportOptions = {}): Transport {
  const udp = udpPool(Math.max(1, o.udpMaxQueries ?? 64));
  return { exchange: (req) => (req.tcp ? tcpExchange(req) : udp(req)) };
}

export const nodeTransport: Transport = createNodeTransport();
