// `sendmail` and `send-mail` (cli, argv[0] dispatch): reads a message on stdin and submits it
// to smtpd over the enqueue socket, as OpenSMTPD's enqueue.c. With smtpd down the message is
// written to the spool's offline/ directory (exit 75) for smtpd to pick up at its next start;
// on an SMTP refusal it is appended to ~/dead.letter.
import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  openSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { type Passwd, platformFacts } from "@facteur/compat";
import { type EnqueueOutcome, enqueue } from "./enqueue.js";
import { getopt, withoutRoot } from "./getopt.js";
import {
  gecosName,
  type IdentityPorts,
  mailname,
  qualify,
  senderIdentity,
  systemIdentityPorts,
} from "./sendmail-identity.js";
import { latin1, messageLines, parseMessage } from "./sendmail-message.js";
import {
  EX_DATAERR,
  EX_IOERR,
  EX_NOUSER,
  EX_OK,
  EX_SOFTWARE,
  EX_TEMPFAIL,
  EX_UNAVAILABLE,
  EX_USAGE,
} from "./sysexits.js";

/** enqueue.c's getopt string: every sendmail flag is accepted, most are ignored. */
export const SENDMAIL_OPTSTRING = "A:B:b:E::e:F:f:iJ::L:mN:o:p:qr:R:StvV:x";

export interface SendmailOptions {
  readonly from: string | null;
  readonly fromName: string | null;
  readonly readRcpts: boolean;
  readonly verbose: boolean;
  readonly noGetlogin: boolean;
  readonly dsnNotify: string | null;
  readonly dsnRet: string | null;
  readonly dsnEnvid: string | null;
  readonly rcpts: readonly string[];
  readonly root: string | null;
}

export type SendmailArgs =
  | { readonly mode: "send"; readonly opts: SendmailOptions }
  | { readonly mode: "newaliases"; readonly root: string | null }
  | { readonly mode: "mailq"; readonly root: string | null }
  | { readonly mode: "queue-run" }
  | { readonly mode: "error"; readonly error: string };

export function parseSendmailArgs(argv: readonly string[]): SendmailArgs {
  const g = getopt(argv, SENDMAIL_OPTSTRING);
  if ("error" in g) return { mode: "error", error: g.error };
  let from: string | null = null;
  let fromName: string | null = null;
  let readRcpts = false;
  let verbose = false;
  let noGetlogin = false;
  let dsnNotify: string | null = null;
  let dsnRet: string | null = null;
  let dsnEnvid: string | null = null;
  for (const { opt, arg } of g.opts) {
    if (opt === "b" && arg?.startsWith("i")) return { mode: "newaliases", root: g.root };
    if (opt === "b" && arg === "p") return { mode: "mailq", root: g.root };
    if (opt === "q") return { mode: "queue-run" };
    if (opt === "f" || opt === "r") from = arg;
    else if (opt === "F") fromName = arg;
    else if (opt === "t") readRcpts = true;
    else if (opt === "v") verbose = true;
    else if (opt === "S") noGetlogin = true;
    else if (opt === "N") dsnNotify = arg;
    else if (opt === "R") dsnRet = arg;
    else if (opt === "V") dsnEnvid = arg;
    // A B b E e i J L m o p x: accepted for compatibility, without effect.
  }
  return {
    mode: "send",
    opts: {
      from,
      fromName,
      readRcpts,
      verbose,
      noGetlogin,
      dsnNotify,
      dsnRet,
      dsnEnvid,
      rcpts: g.operands,
      root: g.root,
    },
  };
}

/** RFC 3461 §4: xtext for ENVID. */
export function xtext(s: string): string {
  return [...Buffer.from(s, "utf8")]
    .map((b) =>
      b < 33 || b > 126 || b === 0x2b || b === 0x3d
        ? `+${b.toString(16).toUpperCase().padStart(2, "0")}`
        : String.fromCharCode(b),
    )
    .join("");
}

/** Lines to SMTP DATA: CRLF ends, a leading dot doubled (RFC 5321 §4.5.2). */
export function dotStuff(lines: readonly string[]): Buffer {
  return Buffer.from(
    lines.map((l) => `${l.startsWith(".") ? "." : ""}${l}\r\n`).join(""),
    "latin1",
  );
}

export interface SendmailEnv {
  readonly argv: readonly string[];
  readonly stdin: AsyncIterable<Buffer | string> | Iterable<Buffer>;
  readonly stdout: (b: Buffer) => void;
  readonly stderr: (s: string) => void;
  readonly identity: IdentityPorts;
  readonly now: () => Date;
  /**
   * Run by smtpd on an offline file (FACTEUR_SENDMAIL_REPLAY=1): a failure leaves that file
   * in place for the next start, so nothing is written to offline/ or dead.letter.
   */
  readonly isReplay: boolean;
}

const USAGE = "usage: sendmail [-tv] [-f from] [-F name] to ...\n";

/** `-bi` is newaliases and `-bp` is mailq, for the programs that call sendmail so. */
export interface SendmailOthers {
  readonly newaliases: (root: string | null) => Promise<number>;
  readonly mailq: (root: string | null) => Promise<number>;
}

export async function sendmailMain(env: SendmailEnv, others: SendmailOthers): Promise<number> {
  const args = parseSendmailArgs(env.argv);
  if (args.mode === "error") {
    env.stderr(`sendmail: ${args.error}\n${USAGE}`);
    return EX_USAGE;
  }
  if (args.mode === "queue-run") {
    env.stderr("sendmail: -q is not supported: smtpd runs its queue by itself\n");
    return EX_SOFTWARE;
  }
  if (args.mode === "newaliases") return others.newaliases(args.root);
  if (args.mode === "mailq") return others.mailq(args.root);
  const o = args.opts;
  const facts = platformFacts(o.root !== null ? { root: o.root } : {});
  const s = await prepare(o, env, mailname(facts.mailnameFile));
  if (typeof s === "number") return s;
  const data = dotStuff(s.lines);
  const outcome = await enqueue({
    socketPath: facts.enqueueSocket,
    sender: latin1(s.sender),
    mailParams: [
      ...(o.dsnRet !== null ? [`RET=${o.dsnRet.toUpperCase()}`] : []),
      ...(o.dsnEnvid !== null && o.dsnEnvid !== "" ? [`ENVID=${xtext(o.dsnEnvid)}`] : []),
    ],
    rcpts: s.rcpts.map(latin1),
    rcptParams: o.dsnNotify !== null ? [`NOTIFY=${o.dsnNotify.toUpperCase()}`] : [],
    data,
    is8bit: data.some((b) => b > 0x7f),
    isUtf8: [s.sender, ...s.rcpts].some((a) => /[^\x00-\x7f]/.test(a)),
    trace: o.verbose ? (l) => env.stdout(Buffer.from(`${l}\n`, "latin1")) : null,
  });
  if (outcome.kind === "ok") return EX_OK;
  if (outcome.kind === "down") {
    if (env.isReplay) {
      env.stderr("sendmail: smtpd is not running\n");
      return EX_TEMPFAIL;
    }
    const dir = join(facts.spoolDir, "offline");
    return writeOffline(dir, withoutRoot(env.argv), s.raw, env, s.now);
  }
  env.stderr(`sendmail: ${describe(outcome)}\n`);
  if (s.pw !== null && !env.isReplay) {
    const where = saveDeadLetter(s.pw.home, s.sender, s.lines, s.now);
    env.stderr(
      where !== null
        ? `sendmail: message saved in ${where}\n`
        : "sendmail: could not save the message in dead.letter\n",
    );
  }
  return exitCode(outcome);
}

/** A message ready to submit: the input as read and the lines to send. */
interface Submission {
  readonly raw: Buffer;
  readonly sender: string;
  readonly rcpts: readonly string[];
  readonly lines: readonly string[];
  readonly pw: Passwd | null;
  readonly now: Date;
}

/** Reads stdin and works out sender, recipients and lines; an exit status on failure. */
async function prepare(
  o: SendmailOptions,
  env: SendmailEnv,
  host: string,
): Promise<Submission | number> {
  const id = senderIdentity(o.noGetlogin, env.identity);
  let fake = o.from;
  if (fake?.startsWith("<")) {
    if (!fake.endsWith(">")) {
      env.stderr("sendmail: leading < but no trailing >\n");
      return EX_USAGE;
    }
    fake = fake.slice(1, -1);
  }
  let raw: Buffer;
  try {
    const chunks: Buffer[] = [];
    for await (const c of env.stdin) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
    raw = Buffer.concat(chunks);
  } catch (e) {
    env.stderr(`sendmail: read error: ${(e as Error).message}\n`);
    return EX_IOERR;
  }
  const msg = parseMessage(raw.toString("latin1"));
  if ("error" in msg) {
    env.stderr(`sendmail: ${msg.error}\n`);
    return EX_DATAERR;
  }
  // enqueue.c takes the envelope sender from From: unless -f says otherwise.
  const sender = qualify(fake ?? msg.headerFrom ?? id.user, host);
  const fromName = o.fromName ?? (fake === null && id.pw !== null ? gecosName(id.pw) : null);
  const rcpts = [...o.rcpts.flatMap((a) => a.split(",")), ...(o.readRcpts ? msg.headerRcpts : [])]
    .map((a) => a.trim())
    .filter((a) => a !== "")
    .map((a) => qualify(a, host));
  if (rcpts.length === 0) {
    env.stderr("sendmail: no recipients\n");
    return EX_SOFTWARE;
  }
  const now = env.now();
  const from = sender !== "" ? sender : qualify(id.user, host);
  const lines = messageLines(msg, { from, fromName, host, now });
  return { raw, sender, rcpts, lines, pw: id.pw, now };
}

function describe(o: Exclude<EnqueueOutcome, { kind: "ok" | "down" }>): string {
  if (o.kind === "failed") return `${o.step}: ${o.error}`;
  return `command failed: ${o.reply.lines.join(" / ")}`;
}

/** sysexits for a failed submission (enqueue.c says EX_SOFTWARE to everything). */
export function exitCode(o: Exclude<EnqueueOutcome, { kind: "ok" | "down" }>): number {
  if (o.kind === "failed") return o.step === "connect" ? EX_UNAVAILABLE : EX_TEMPFAIL;
  if (o.reply.code < 500) return EX_TEMPFAIL;
  if (o.step === "rcpt") return EX_NOUSER;
  if (o.step === "message") return EX_DATAERR;
  return EX_UNAVAILABLE;
}

const NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** mkstemp(3)'s ten random characters. */
function randomName(): string {
  let s = "";
  for (let i = 0; i < 10; i++) s += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
  return s;
}

/**
 * smtpd is down: `<offline>/<time>.<random>` (0600) holds the arguments joined by `|`, a
 * newline, then the message as read. smtpd replays it as the file's owner at its next start.
 */
export function writeOffline(
  dir: string,
  args: readonly string[],
  raw: Buffer,
  env: Pick<SendmailEnv, "stderr">,
  now: Date,
): number {
  for (const a of args) {
    if (a.includes("|") || a.includes("\n")) {
      env.stderr(`sendmail: ${a} contains illegal character\n`);
      return EX_SOFTWARE;
    }
  }
  const path = join(dir, `${Math.floor(now.getTime() / 1000)}.${randomName()}`);
  let fd = -1;
  try {
    fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    fchmodSync(fd, 0o600);
    writeSync(fd, Buffer.from(`${args.join("|")}\n`, "utf8"));
    writeSync(fd, raw);
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    if (fd >= 0) {
      closeSync(fd);
      unlinkSync(path);
    }
    env.stderr(`sendmail: cannot create temporary file ${path}: ${(e as Error).message}\n`);
    return EX_UNAVAILABLE;
  }
  return EX_TEMPFAIL;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** ctime(3) without the newline, for the mbox `From ` line. */
export function ctime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${d.getFullYear()}`;
}

/**
 * Appends the message to ~/dead.letter in mbox form (enqueue.c overwrites the file; appending
 * keeps earlier failures and stays readable with `mail -f`). Returns the path, or null.
 */
export function saveDeadLetter(
  home: string,
  sender: string,
  lines: readonly string[],
  now: Date,
): string | null {
  const path = join(home, "dead.letter");
  const text =
    `From ${sender !== "" ? latin1(sender) : "MAILER-DAEMON"} ${ctime(now)}\n` +
    lines.map((l) => `${/^>*From /.test(l) ? ">" : ""}${l}\n`).join("") +
    "\n";
  try {
    const fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      writeSync(fd, Buffer.from(text, "latin1"));
    } finally {
      closeSync(fd);
    }
    return path;
  } catch {
    return null;
  }
}

/** The process as sendmail sees it. */
export const processSendmailEnv = (argv: readonly string[]): SendmailEnv => ({
  argv,
  stdin: process.stdin,
  stdout: (b) => process.stdout.write(b),
  stderr: (s) => process.stderr.write(s),
  identity: systemIdentityPorts(),
  now: () => new Date(),
  isReplay: process.env.FACTEUR_SENDMAIL_REPLAY === "1",
});
