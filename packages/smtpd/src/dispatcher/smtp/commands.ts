// The inbound command table (STYLE §5): for each verb the phases it is allowed in, a syntax-only
// parse (501/553/555 on failure) and an apply that may ask the ports. The runner is session.ts.
import { checkDomain, type Path, parsePath } from "../../smtp/address.js";
import {
  type MailParams,
  parseMailParams,
  parseRcptParams,
  type RcptParams,
} from "../../smtp/esmtp-params.js";
import {
  alreadyAuthenticated,
  alreadySecure,
  authBadBase64,
  authEmptyChallenge,
  authMechanism,
  authUsername,
  badHelo,
  badSequence,
  bye,
  dataGoAhead,
  expnDisabled,
  heloRequired,
  mixedDataBdat,
  mustAuth,
  mustStartTls,
  nestedMail,
  noMail,
  nonAsciiAddress,
  noParams,
  noRecipient,
  notSupported,
  okReply,
  rcptOk,
  resetOk,
  startTlsReady,
  syntaxError,
  tooManyMails,
  tooManyRecipients,
  vrfyPolicy,
} from "../../smtp/replies.js";
import { multiline, ok, permFail, type Reply } from "../../smtp/reply.js";
import { type AuthStep, authResponse, decodeBase64Strict } from "./auth.js";
import { ehloReply, heloReply, SERVER_NAME } from "./greeting.js";
import type { IncomingMessage } from "./message.js";
import { type Phase, type Session, Transaction } from "./state.js";
import type {
  ConnectionFacts,
  ListenerFacts,
  SessionPorts,
  SessionView,
  TransactionView,
} from "./types.js";

export type Verb =
  | "HELO"
  | "EHLO"
  | "MAIL"
  | "RCPT"
  | "DATA"
  | "BDAT"
  | "RSET"
  | "NOOP"
  | "QUIT"
  | "STARTTLS"
  | "AUTH"
  | "HELP"
  | "VRFY"
  | "EXPN";

/** What commands may see and do; implemented by SmtpSession. */
export interface Ctx {
  readonly listener: ListenerFacts;
  readonly conn: ConnectionFacts;
  readonly session: Session;
  view(): SessionView;
  txView(): TransactionView;
  /** Drops the transaction, aborting a message being received (BDAT chunks). */
  resetTx(): Promise<void>;
  newMessage(msgid: string): IncomingMessage;
  startTls(): void;
  beginAuth(step: AuthStep): void;
  beginData(): void;
  beginBdat(size: number, last: boolean, pending: Reply | null): void;
}

export interface Command<A> {
  readonly verb: Verb;
  readonly allowedIn: readonly Phase[];
  /** A more telling reply than badSequence for a phase not in allowedIn. */
  readonly sequenceReply?: (phase: Phase) => Reply;
  parse(args: string, c: Ctx): { ok: A } | Reply;
  /** null: the reply comes later (BDAT answers after its chunk). */
  apply(c: Ctx, a: A, ports: SessionPorts): Promise<Reply | null>;
}

const ALL: readonly Phase[] = ["greeted", "identified", "mail", "rcpt"];
const none = (args: string): { ok: null } | Reply => (args === "" ? { ok: null } : noParams);
const any = (): { ok: null } => ({ ok: null });

function heloArg(args: string): { ok: string } | Reply {
  // RFC 5321 §4.1.1.1: a domain or an address literal; it goes into Received, so strict.
  if (args === "" || /[^\x21-\x7e]/.test(args) || checkDomain(args, true) !== "ok") return badHelo;
  return { ok: args };
}

async function identify(c: Ctx, helo: string, esmtp: boolean): Promise<Reply> {
  await c.resetTx(); // RFC 5321 §4.1.4: HELO/EHLO in a transaction resets it
  const s = c.session;
  s.helo = helo;
  s.isEsmtp = esmtp;
  const { hostname } = c.listener;
  if (!esmtp) return heloReply(hostname, helo, c.conn.remoteAddress);
  return ehloReply({
    hostname,
    helo,
    remoteAddress: c.conn.remoteAddress,
    maxMessageBytes: c.listener.maxMessageBytes,
    dsn: c.listener.dsn,
    isSecure: s.isSecure,
    offerStartTls:
      (c.listener.tls === "starttls" || c.listener.tls === "starttls-required") && !s.isSecure,
    offerAuth: c.listener.authMode !== "none" && s.isSecure && s.authUser === null,
  });
}

const HELO: Command<string> = {
  verb: "HELO",
  allowedIn: ALL,
  parse: heloArg,
  apply: (c, helo) => identify(c, helo, false),
};
const EHLO: Command<string> = {
  verb: "EHLO",
  allowedIn: ALL,
  parse: heloArg,
  apply: (c, helo) => identify(c, helo, true),
};

interface MailArgs {
  path: Path;
  params: MailParams;
}

const MAIL: Command<MailArgs> = {
  verb: "MAIL",
  allowedIn: ["identified"],
  sequenceReply: (p) => (p === "greeted" ? heloRequired : nestedMail),
  parse(args, c) {
    const m = /^FROM:/i.exec(args);
    if (m === null) return syntaxError;
    const r = parsePath(args.slice(5), {
      role: "sender",
      smtputf8: true,
      defaultDomain: c.listener.hostname,
    });
    if (r.kind === "error") return r.reply;
    const p = parseMailParams(r.params, {
      dsn: c.listener.dsn,
      isSecure: c.session.isSecure,
      maxMessageBytes: c.listener.maxMessageBytes,
    });
    if (p.kind === "error") return p.reply;
    if (r.path.isUtf8 && !p.params.smtputf8) return nonAsciiAddress;
    return { ok: { path: r.path, params: p.params } };
  },
  async apply(c, a, ports) {
    const s = c.session;
    if (c.listener.tls === "starttls-required" && !s.isSecure) return mustStartTls;
    if (c.listener.authMode === "required" && s.authUser === null) return mustAuth;
    if (s.mails >= c.listener.maxMails) return tooManyMails;
    const r = await ports.checkSender(c.view(), a.path);
    if (r.kind === "reject") return r.reply;
    s.tx = new Transaction(a.path, a.params);
    return okReply;
  },
};

interface RcptArgs {
  path: Path;
  params: RcptParams;
}

const sameMailbox = (a: Path, b: Path): boolean =>
  a.local === b.local && a.domain.toLowerCase() === b.domain.toLowerCase();

const RCPT: Command<RcptArgs> = {
  verb: "RCPT",
  allowedIn: ["mail", "rcpt"],
  sequenceReply: (p) => (p === "greeted" ? heloRequired : noMail),
  parse(args, c) {
    const m = /^TO:/i.exec(args);
    if (m === null) return syntaxError;
    const smtputf8 = c.session.tx?.params.smtputf8 ?? false;
    const r = parsePath(args.slice(3), {
      role: "recipient",
      smtputf8,
      defaultDomain: c.listener.hostname,
    });
    if (r.kind === "error") return r.reply;
    const p = parseRcptParams(r.params, { dsn: c.listener.dsn, smtputf8 });
    if (p.kind === "error") return p.reply;
    return { ok: { path: r.path, params: p.params } };
  },
  async apply(c, a, ports) {
    const tx = c.session.tx;
    if (tx === null) return badSequence;
    // RFC 5321 §4.5.3.1.10: 452 for too many recipients (OpenSMTPD says 451).
    if (tx.recipients.length >= c.listener.maxRcpt) return tooManyRecipients;
    const r = await ports.checkRecipient(c.view(), a.path, tx.sender);
    if (r.kind === "reject") return r.reply;
    if (c.session.tx !== tx) return badSequence;
    // A repeated recipient is acknowledged again but queued once.
    if (!tx.recipients.some((x) => sameMailbox(x.path, a.path))) {
      tx.recipients.push({
        path: a.path,
        action: r.action,
        dest: r.dest ?? null,
        notify: a.params.notify,
        orcpt: a.params.orcpt,
      });
    }
    return rcptOk;
  },
};

async function openMessage(c: Ctx, tx: Transaction, ports: SessionPorts): Promise<Reply | null> {
  const r = await ports.openMessage(c.txView());
  if (r.kind !== "ok") {
    await c.resetTx();
    return r.reply;
  }
  tx.msgid = r.msgid;
  tx.message = c.newMessage(r.msgid);
  return null;
}

const DATA: Command<null> = {
  verb: "DATA",
  allowedIn: ["rcpt"],
  sequenceReply: (p) =>
    p === "greeted" ? heloRequired : p === "identified" ? noMail : noRecipient,
  parse: none,
  async apply(c, _a, ports) {
    const tx = c.session.tx;
    if (tx === null) return badSequence;
    if (tx.usedBdat) return mixedDataBdat;
    const err = await openMessage(c, tx, ports);
    if (err !== null) return err;
    c.beginData();
    return dataGoAhead;
  },
};

interface BdatArgs {
  size: number;
  last: boolean;
}

/** A BDAT whose size cannot be read leaves the stream unsynchronised: reply, then close. */
export const bdatSyntax: Reply = {
  ...permFail(501, "5.5.4", "Invalid command arguments: BDAT size [LAST]"),
  close: true,
};

const BDAT: Command<BdatArgs> = {
  verb: "BDAT",
  allowedIn: ALL, // every BDAT chunk is read, even a refused one (RFC 3030 §2)
  parse(args) {
    const m = /^([0-9]{1,15})(?: +(LAST))?$/i.exec(args);
    if (m === null) return bdatSyntax;
    return { ok: { size: Number(m[1]), last: m[2] !== undefined } };
  },
  async apply(c, a, ports) {
    const s = c.session;
    const tx = s.tx;
    let pending: Reply | null = null;
    if (s.phase !== "rcpt" || tx === null) {
      pending =
        s.phase === "greeted" ? heloRequired : s.phase === "identified" ? noMail : noRecipient;
    } else if (tx.message === null) {
      pending = await openMessage(c, tx, ports);
      tx.usedBdat = true;
    }
    c.beginBdat(a.size, a.last, pending);
    return null;
  },
};

const RSET: Command<null> = {
  verb: "RSET",
  allowedIn: ALL,
  parse: none,
  async apply(c) {
    await c.resetTx();
    return resetOk;
  },
};

const NOOP: Command<null> = {
  verb: "NOOP",
  allowedIn: ALL,
  parse: any,
  apply: async () => okReply,
};
const QUIT: Command<null> = { verb: "QUIT", allowedIn: ALL, parse: any, apply: async () => bye };

const HELP: Command<null> = {
  verb: "HELP",
  allowedIn: ALL,
  parse: any,
  apply: async () =>
    multiline(ok(214, "2.0.0", ""), [`This is ${SERVER_NAME}`, "End of HELP info"]),
};

/** VRFY never tells whether a user exists (no enumeration): 252, as RFC 5321 §3.5.3 allows. */
const VRFY: Command<null> = {
  verb: "VRFY",
  allowedIn: ALL,
  parse: (args) => (args === "" ? syntaxError : { ok: null }),
  apply: async () => vrfyPolicy,
};
const EXPN: Command<null> = {
  verb: "EXPN",
  allowedIn: ALL,
  parse: any,
  apply: async () => expnDisabled,
};

const STARTTLS: Command<null> = {
  verb: "STARTTLS",
  allowedIn: ["identified"],
  parse: none,
  async apply(c) {
    if (c.listener.tls !== "starttls" && c.listener.tls !== "starttls-required")
      return notSupported;
    if (c.session.isSecure) return alreadySecure;
    c.startTls();
    return startTlsReady;
  },
};

interface AuthArgs {
  mech: string;
  initial: string | null;
}

const AUTH: Command<AuthArgs> = {
  verb: "AUTH",
  allowedIn: ["identified"],
  parse(args) {
    const m = /^([A-Za-z0-9_-]+)(?: ([^ ]+))?$/.exec(args);
    if (m === null) return syntaxError;
    return { ok: { mech: (m[1] ?? "").toUpperCase(), initial: m[2] ?? null } };
  },
  async apply(c, a, ports) {
    const s = c.session;
    // RFC 4954 §4 / OpenSMTPD: AUTH only on auth listeners, only under TLS.
    if (c.listener.authMode === "none" || !s.isSecure) return notSupported;
    if (s.authUser !== null) return alreadyAuthenticated;
    if (a.mech !== "PLAIN" && a.mech !== "LOGIN") return authMechanism;
    const first: AuthStep = a.mech === "PLAIN" ? { mech: "plain" } : { mech: "login-user" };
    if (a.initial === null) {
      c.beginAuth(first);
      return a.mech === "PLAIN" ? authEmptyChallenge : authUsername;
    }
    const b = decodeBase64Strict(a.initial);
    if (b === null) return authBadBase64;
    const r = await authResponse(first, b, s, ports);
    if (r.next !== null) c.beginAuth(r.next);
    return r.reply;
  },
};

export const COMMANDS: ReadonlyMap<string, Command<unknown>> = new Map(
  (
    [
      HELO,
      EHLO,
      MAIL,
      RCPT,
      DATA,
      BDAT,
      RSET,
      NOOP,
      QUIT,
      HELP,
      VRFY,
      EXPN,
      STARTTLS,
      AUTH,
    ] as Command<never>[]
  ).map((c) => [c.verb, c as unknown as Command<unknown>]),
);
