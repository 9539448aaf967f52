// A typed request/response channel over Node's process IPC (every role, and the parent for
// each child). Requests carry ids and time out; a handler's exception becomes an error reply.
import type { Frame, NoticeKind, Notices, RequestKind, Requests, RoleName } from "./messages.js";
import { isFrame } from "./messages.js";

export interface Port {
  send(frame: Frame, handle?: unknown): void;
  onFrame(cb: (frame: Frame, handle: unknown) => void): void;
}

/** The port of a child process to its parent. */
export function parentPort(): Port {
  return {
    send(frame, handle) {
      if (process.send === undefined) throw new Error("not started by the smtpd parent");
      process.send(frame, handle as never);
    },
    onFrame(cb) {
      process.on("message", (m: unknown, handle: unknown) => {
        if (isFrame(m)) cb(m, handle);
      });
    },
  };
}

export class IpcTimeoutError extends Error {
  readonly kind: string;
  constructor(kind: string, ms: number) {
    super(`ipc: ${kind} timed out after ${ms} ms`);
    this.kind = kind;
  }
}

type Handler<K extends RequestKind> = (
  req: Requests[K]["req"],
  from: RoleName,
) => Promise<Requests[K]["res"]> | Requests[K]["res"];

export class Channel {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private readonly handlers = new Map<string, (req: unknown, from: RoleName) => unknown>();
  private readonly noticeHandlers = new Map<
    string,
    (body: unknown, handle: unknown, from: RoleName) => void
  >();
  readonly self: RoleName;
  private readonly port: Port;

  constructor(self: RoleName, port: Port) {
    this.self = self;
    this.port = port;
    port.onFrame((f, handle) => this.receive(f, handle));
  }

  handle<K extends RequestKind>(kind: K, h: Handler<K>): void {
    this.handlers.set(kind, h as (req: unknown, from: RoleName) => unknown);
  }

  onNotice<K extends NoticeKind>(
    kind: K,
    h: (body: Notices[K], handle: unknown, from: RoleName) => void,
  ): void {
    this.noticeHandlers.set(kind, h as (body: unknown, handle: unknown, from: RoleName) => void);
  }

  notify<K extends NoticeKind>(to: RoleName, kind: K, body: Notices[K], handle?: unknown): void {
    this.port.send({ t: "note", from: this.self, to, kind, body }, handle);
  }

  request<K extends RequestKind>(
    to: RoleName,
    kind: K,
    body: Requests[K]["req"],
    timeoutMs = 30_000,
  ): Promise<Requests[K]["res"]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new IpcTimeoutError(kind, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.port.send({ t: "req", from: this.self, to, id, kind, body });
    });
  }

  /** Fail every request in flight (the peer is gone). */
  failAll(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(reason));
      this.pending.delete(id);
    }
  }

  private receive(f: Frame, handle: unknown): void {
    if (f.t === "res") {
      const p = this.pending.get(f.id);
      if (p === undefined) return;
      this.pending.delete(f.id);
      clearTimeout(p.timer);
      if (f.ok) p.resolve(f.body);
      else p.reject(new Error(String(f.body)));
      return;
    }
    if (f.t === "note") {
      this.noticeHandlers.get(f.kind)?.(f.body, handle, f.from);
      return;
    }
    const h = this.handlers.get(f.kind);
    const reply = (ok: boolean, body: unknown) =>
      this.port.send({ t: "res", from: this.self, to: f.from, id: f.id, ok, body });
    if (h === undefined) {
      reply(false, `${this.self}: no handler for ${f.kind}`);
      return;
    }
    Promise.resolve()
      .then(() => h(f.body, f.from))
      .then(
        (v) => reply(true, v),
        (e: unknown) =>
          reply(false, `${this.self}: ${f.kind}: ${(e as Error).message ?? String(e)}`),
      );
  }
}
