// Sockets: one UDP or TCP exchange with one server. UDP goes through a small pool of
// connected sockets rotated often (udp-pool.ts); TCP frames with a 2-byte length and opens
// one connection per exchange.

import { connect } from "node:net";
import type { Message } from "./codec.js";
import type { Server } from "./resolv-conf.js";
import { errorOutcome, UdpPool } from "./udp-pool.js";

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

/** Runs `body` with a settle-once callback wired to the timeout and the abort signal (TCP). */
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

export type NodeTransportOptions = {
  /** Uses of one UDP socket (one source port) before it is replaced; 64 by default. */
  udpMaxQueries?: number;
  /** Connected UDP sockets per server, used in turn; 4 by default. */
  udpSockets?: number;
};

export function createNodeTransport(o: NodeTransportOptions = {}): Transport {
  const udp = new UdpPool(o.udpMaxQueries ?? 64, o.udpSockets ?? 4);
  return { exchange: (req) => (req.tcp ? tcpExchange(req) : udp.exchange(req)) };
}

export const nodeTransport: Transport = createNodeTransport();
