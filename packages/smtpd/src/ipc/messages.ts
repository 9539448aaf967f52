// The one message union spoken between Facteur's processes (parent and roles). Every change
// bumps IPC_VERSION; a role whose version differs is refused at its hello.
import type { Delivery } from "../lookup/expand.js";

export const IPC_VERSION = 4;

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

/** A local delivery method as the queue asks for it (the parent fills in paths it owns). */
export type DeliveryMethodSpec =
  | { readonly kind: "maildir"; readonly path: string | null; readonly junk: boolean }
  | { readonly kind: "mbox" }
  | { readonly kind: "mda"; readonly command: string; readonly wrapper?: string }
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "lmtp"; readonly destination: string; readonly rcptTo: boolean };

/** Requests, each with its response type. */
export interface Requests {
  "lookup.check-recipient": {
    req: { session: SessionFacts; sender: string; rcpt: string };
    res: { kind: "ok"; action: string; dest: string } | { kind: "reject"; reply: WireReply };
  };
  /** Rules for mail the daemon sends itself (bounces), as from local. */
  "lookup.route": {
    req: { rcpt: string };
    res: { kind: "ok"; action: string } | { kind: "reject" | "tempfail"; reason: string };
  };
  /** `smtpctl update table NAME`: re-read one table. */
  "lookup.update-table": { req: { name: string }; res: { ok: boolean; text: string } };
  /** Expansion of a local recipient at delivery time (aliases, virtual, userbase). */
  "lookup.expand": {
    req: { action: string; rcpt: string };
    res: { kind: "ok"; deliveries: Delivery[] } | { kind: "permfail" | "tempfail"; reason: string };
  };
  /** A user's ~/.forward, read by the parent through a worker holding the user's rights. */
  "parent.forward": {
    req: { user: string };
    res: { kind: "ok"; text: string | null } | { kind: "tempfail"; reason: string };
  };
  /** A local delivery, run by the parent in a worker holding the user's credentials. */
  "parent.deliver": {
    req: {
      user: string;
      method: DeliveryMethodSpec;
      sender: string;
      rcpt: string;
      dest: string;
      origRcpt: string;
      message: Uint8Array;
    };
    res: { result: "ok" | "tempfail" | "permfail"; text: string };
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
    /** evpids in the order of the drafts. */
    res: { kind: "ok"; evpids?: readonly string[] } | { kind: "tempfail"; reason: string };
  };
  "queue.message-abort": { req: { msgid: string }; res: { kind: "ok" } };
  "queue.list": { req: { msgid?: string }; res: { lines: readonly string[] } };
  "queue.envelope": { req: { evpid: string }; res: { text: string | null } };
  "queue.control": {
    req: {
      op:
        | "schedule"
        | "remove"
        | "hold"
        | "release"
        | "pause"
        | "resume"
        | "show-message"
        | "discover";
      /** evpid, msgid, "all", or "mda"/"mta" for pause and resume. */
      target: string;
    };
    res: { ok: boolean; text: string };
  };
  /** smtpctl pause/resume smtp; the dispatcher refuses new sessions while paused. */
  "dispatcher.pause": { req: { paused: boolean }; res: { ok: true } };
  "parent.pause": {
    req: { what: "mda" | "mta" | "smtp"; paused: boolean };
    res: { ok: true };
  };
  "parent.log": { req: { verbose: boolean }; res: { ok: true } };
  /** Re-reads and checks the configuration; applies it when valid. */
  "parent.reload": { req: Record<string, never>; res: { ok: boolean; text: string } };
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
    /** The unprivileged user of the roles (alias pipes and files run as this user). */
    smtpdUser: string;
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
  /** `smtpctl log brief|verbose`, sent to every role. */
  "parent.log-level": { verbose: boolean };
  /** A new configuration, already checked by the parent: new work uses it. */
  "parent.reload": {
    configText: string;
    pki: Record<string, { cert: string; key: string }>;
    ca: Record<string, string>;
  };
  /** Every role is ready (the queue starts its scheduler). */
  "parent.ready": Record<string, never>;
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
