// The one message union spoken between Facteur's processes (parent and roles). Every change
// bumps IPC_VERSION; a role whose version differs is refused at its hello.
export const IPC_VERSION = 3;

export const ROLES = ["parent", "queue", "lookup", "dispatcher", "control"] as const;
export type RoleName = (typeof ROLES)[number];

/** What the SMTP side knows of a session when it asks the lookup role. */
export interface SessionFacts {
  readonly listener: number;
  readonly remoteAddress: string;
  readonly rdns: string | null;
  readonly helo: string | null;
  readonly isSecure: boolean;
  readonly authUser: string | null;
  readonly tag: string | null;
  readonly isLocal: boolean;
  readonly isSocket: boolean;
}

export interface WireReply {
  readonly code: number;
  readonly esc?: string;
  readonly lines: readonly string[];
}

/** One recipient of a message as the dispatcher describes it; the queue adds ids and times. */
export interface EnvelopeDraft {
  readonly dispatcher: string;
  readonly tag: string;
  readonly smtpname: string;
  readonly helo: string;
  readonly hostname: string;
  readonly username: string;
  readonly sockaddr: string;
  readonly sender: string;
  readonly rcpt: string;
  readonly dest: string;
  readonly authenticated: boolean;
  readonly dsnNotify: readonly ("SUCCESS" | "FAILURE" | "DELAY" | "NEVER")[];
  readonly dsnRet: "" | "FULL" | "HDRS";
  readonly dsnEnvid: string;
  readonly dsnOrcpt: string;
  readonly smtputf8: boolean;
  readonly requiretls: boolean;
}

/** Requests, each with its response type. */
export interface Requests {
  "lookup.check-recipient": {
    req: { session: SessionFacts; sender: string; rcpt: string };
    res: { kind: "ok"; action: string; dest: string } | { kind: "reject"; reply: WireReply };
  };
  "lookup.check-sender": {
    req: { session: SessionFacts; sender: string };
    res: { kind: "ok" } | { kind: "reject"; reply: WireReply };
  };
  "lookup.authenticate": {
    req: { listener: number; user: string; password: string };
    res: { result: "ok" | "fail" | "tempfail" };
  };
  "queue.message-open": {
    req: Record<string, never>;
    res: { kind: "ok"; msgid: string } | { kind: "tempfail"; reason: string };
  };
  "queue.message-write": {
    req: { msgid: string; chunk: Uint8Array };
    res: { kind: "ok" } | { kind: "tempfail"; reason: string };
  };
  "queue.message-commit": {
    req: { msgid: string; envelopes: readonly EnvelopeDraft[] };
    res: { kind: "ok" } | { kind: "tempfail"; reason: string };
  };
  "queue.message-abort": { req: { msgid: string }; res: { kind: "ok" } };
  "queue.list": { req: { msgid?: string }; res: { lines: readonly string[] } };
  "queue.envelope": { req: { evpid: string }; res: { text: string | null } };
  "queue.stats": { req: Record<string, never>; res: { counters: Record<string, number> } };
  "dispatcher.stats": { req: Record<string, never>; res: { counters: Record<string, number> } };
  "parent.status": {
    req: Record<string, never>;
    res: { mda: "running" | "paused"; mta: "running" | "paused"; smtp: "running" | "paused" };
  };
}

export type RequestKind = keyof Requests;

/** One-way notices. */
export interface Notices {
  "role.hello": { role: RoleName; version: number; pid: number };
  "role.ready": { role: RoleName };
  "parent.start": {
    role: RoleName;
    configText: string;
    configFile: string;
    hostname: string;
    spoolDir: string;
    controlSocket: string;
    verbose: boolean;
    defines: Record<string, string>;
    /** certificate and key of each pki, read by the parent; sent to the dispatcher only */
    pki: Record<string, { cert: string; key: string }>;
    /** CA certificates of each `ca`, for client certificate verification */
    ca: Record<string, string>;
  };
  "parent.listen": { listener: number };
  /** The control socket, bound by the parent (the handle travels with the notice). */
  "parent.control": Record<string, never>;
  "parent.stop": Record<string, never>;
}

export type NoticeKind = keyof Notices;

/** What travels on a channel: routed between roles by the parent. */
export type Frame =
  | {
      readonly t: "req";
      readonly from: RoleName;
      readonly to: RoleName;
      readonly id: number;
      readonly kind: RequestKind;
      readonly body: unknown;
    }
  | {
      readonly t: "res";
      readonly from: RoleName;
      readonly to: RoleName;
      readonly id: number;
      readonly ok: boolean;
      readonly body: unknown;
    }
  | {
      readonly t: "note";
      readonly from: RoleName;
      readonly to: RoleName;
      readonly kind: NoticeKind;
      readonly body: unknown;
    };

export const isFrame = (v: unknown): v is Frame =>
  typeof v === "object" && v !== null && "t" in v && "from" in v && "to" in v;
