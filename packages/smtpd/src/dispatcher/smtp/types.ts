// The inbound SMTP session core's contract with its shell (dispatcher role): listener and
// connection facts in, injected ports for lookups and the queue, outputs back.
import type { Path } from "../../smtp/address.js";
import type { DsnNotify, MailParams, Orcpt } from "../../smtp/esmtp-params.js";
import type { Reply } from "../../smtp/reply.js";

/** Facts from smtpd.conf `listen on` (the shell maps the config to this). */
export interface ListenerFacts {
  readonly hostname: string;
  readonly isLocal: boolean;
  readonly port: number;
  readonly tls: "none" | "starttls" | "starttls-required" | "smtps";
  readonly authMode: "none" | "optional" | "required";
  readonly dsn: boolean;
  readonly maskSrc: boolean;
  readonly receivedAuth: boolean;
  readonly tag: string | null;
  readonly maxMessageBytes: number;
  readonly maxRcpt: number;
  readonly maxMails: number;
  readonly subAddrDelim: string;
}

export interface ConnectionFacts {
  /** IP address, or "local" for the local socket. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly rdns: string | null;
  readonly localAddress: string;
  readonly isSecure: boolean;
  /** "TLSv1.3:CIPHER:bits" when isSecure from the start (smtps). */
  readonly tlsInfo?: string;
  /** The client certificate was verified (the YES/NO of Received). */
  readonly tlsVerified?: boolean;
}

export interface SessionView {
  readonly listener: ListenerFacts;
  readonly conn: ConnectionFacts;
  readonly helo: string | null;
  readonly isEsmtp: boolean;
  readonly isSecure: boolean;
  readonly tlsInfo: string | null;
  readonly authUser: string | null;
}

export interface Recipient {
  readonly path: Path;
  /** The action (dispatcher) name the rules chose. */
  readonly action: string;
  /** Destination after expansion when the lookup gave one. */
  readonly dest: string | null;
  readonly notify: readonly DsnNotify[] | null;
  readonly orcpt: Orcpt | null;
}

export interface TransactionView {
  readonly session: SessionView;
  readonly sender: Path;
  readonly params: MailParams;
  readonly recipients: readonly Recipient[];
  readonly msgid: string | null;
  /** Raw message octets received so far (DATA: between 354 and the final dot; BDAT: chunks). */
  readonly messageBytes: number;
}

export type CheckResult = { kind: "ok" } | { kind: "reject"; reply: Reply };
export type RcptCheckResult =
  | { kind: "ok"; action: string; dest?: string }
  | { kind: "reject"; reply: Reply };

/** Injected by the shell (wired to ipc); unit tests use in-memory fakes. */
export interface SessionPorts {
  authenticate(user: string, password: string): Promise<"ok" | "fail" | "tempfail">;
  checkSender(s: SessionView, mailFrom: Path): Promise<CheckResult>;
  /** `sender` is the transaction's reverse-path (rules match `mail-from`). */
  checkRecipient(s: SessionView, rcpt: Path, sender: Path): Promise<RcptCheckResult>;
  openMessage(
    tx: TransactionView,
  ): Promise<{ kind: "ok"; msgid: string } | { kind: "tempfail"; reply: Reply }>;
  writeMessage(msgid: string, chunk: Buffer): Promise<void>;
  /** The queue fsyncs, then ok → "250 2.0.0 <msgid> Message accepted for delivery". */
  commitMessage(
    msgid: string,
    tx: TransactionView,
  ): Promise<{ kind: "ok" } | { kind: "tempfail" | "permfail"; reply: Reply }>;
  abortMessage(msgid: string): Promise<void>;
  /** Optional log sink for details that never go to the client. */
  log?(level: "info" | "warn" | "error", message: string): void;
  /**
   * A command answered 4xx/5xx, for OpenSMTPD's `smtp failed-command` log line (log
   * watchers such as fail2ban read it). AUTH arguments are never passed on.
   */
  failedCommand?(command: string, reply: Reply): void;
}

export type Output = { kind: "reply"; reply: Reply } | { kind: "starttls" } | { kind: "close" };
