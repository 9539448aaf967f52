// Local delivery methods (reference §1.5, §1.9), run inside a delivery worker that already
// holds the recipient's uid/gid: maildir, mbox (mail.local semantics), mda commands, files
// from aliases, and LMTP. Every method returns a result, never throws; the message is given
// with CRLF line endings as queued and is written with LF locally (LMTP keeps CRLF).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { lstat, mkdir, open, rename, rm, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { asctimeDate } from "../smtp/headers.js";
import { expandFormat, type FormatFacts } from "./format.js";
import { lmtpDeliver } from "./lmtp.js";

export type DeliveryMethod =
  | { readonly kind: "maildir"; readonly path: string | null; readonly junk: boolean }
  | { readonly kind: "mbox"; readonly spoolDir: string }
  | { readonly kind: "mda"; readonly command: string; readonly wrapper?: string }
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "lmtp"; readonly destination: string; readonly rcptTo: boolean };

export interface DeliveryRequest {
  readonly method: DeliveryMethod;
  readonly user: { name: string; uid: number; gid: number; home: string; shell: string };
  readonly sender: string;
  readonly rcpt: string;
  readonly dest: string;
  readonly origRcpt: string;
  readonly subAddrDelim: string;
  readonly mailname: string;
  readonly message: Uint8Array;
}

export type DeliveryResult = {
  readonly result: "ok" | "tempfail" | "permfail";
  readonly text: string;
};

const ok = (text: string): DeliveryResult => ({ result: "ok", text });
const temp = (text: string): DeliveryResult => ({ result: "tempfail", text });
const perm = (text: string): DeliveryResult => ({ result: "permfail", text });
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Mail commands get this long to finish (OpenSMTPD has no limit; a stuck one would pin us). */
export const MDA_TIMEOUT_MS = 10 * 60_000;
const LOCK_TIMEOUT_MS = 30_000;
const STALE_LOCK_MS = 5 * 60_000;

/** CRLF to LF for local mailboxes (a lone CR cannot be queued: DATA refuses it). */
export function toUnixLines(msg: Uint8Array): Buffer {
  const b = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  const out = Buffer.allocUnsafe(b.length);
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0d && b[i + 1] === 0x0a) continue;
    out[n++] = b[i]!;
  }
  return out.subarray(0, n);
}

/** The headers the MDA adds in front of the message, as OpenSMTPD's mda does. */
export function deliveryHeaders(r: DeliveryRequest): string {
  const clean = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, "?");
  return `Return-Path: <${clean(r.sender)}>\nDelivered-To: ${clean(r.rcpt)}\n`;
}

function facts(r: DeliveryRequest): FormatFacts {
  return {
    sender: r.sender,
    rcpt: r.rcpt,
    dest: r.dest,
    username: r.user.name,
    directory: r.user.home,
    mboxFrom: r.sender === "" ? "MAILER-DAEMON" : r.sender,
    subAddrDelim: r.subAddrDelim,
  };
}

export async function deliver(r: DeliveryRequest): Promise<DeliveryResult> {
  try {
    switch (r.method.kind) {
      case "maildir":
        return await deliverMaildir(r, r.method.path, r.method.junk);
      case "mbox":
        return await deliverMbox(r, join(r.method.spoolDir, r.user.name));
      case "file":
        return await deliverFile(r, r.method.path);
      case "mda":
        return await deliverMda(r, r.method.command, r.method.wrapper);
      case "lmtp":
        // rcpt-to: the address after expansion (OpenSMTPD's mail.lmtp -r sends RECIPIENT,
        // i.e. %{dest}), so a virtual or alias target reaches the LMTP server, not the
        // address the client gave; without it, the user name (mail.lmtp -u).
        return await lmtpDeliver(r.method.destination, {
          sender: r.sender,
          rcpt: r.method.rcptTo ? r.dest : r.user.name,
          mailname: r.mailname,
          message: Buffer.from(r.message.buffer, r.message.byteOffset, r.message.byteLength),
        });
    }
  } catch (e) {
    return temp(`delivery failed: ${errText(e)}`);
  }
}

const isSpam = (body: Buffer): boolean => {
  const end = body.indexOf("\n\n");
  const head = (end < 0 ? body : body.subarray(0, end)).toString("latin1");
  return /^X-Spam:[ \t]*yes[ \t]*$/im.test(head);
};

let maildirSeq = 0;
/** Maildirs this worker has made sure of: no three mkdir per delivery. A maildir removed
 * meanwhile makes the open in tmp/ fail: the entry is dropped and the delivery retried. */
const knownMaildirs = new Set<string>();

async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
}

async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Maildir (D. J. Bernstein): tmp/ with O_EXCL, fsync, rename into new/, fsync new/. */
async function deliverMaildir(
  r: DeliveryRequest,
  format: string | null,
  junk: boolean,
): Promise<DeliveryResult> {
  const x = expandFormat(format ?? "~/Maildir", facts(r));
  if (!x.ok) return perm(`maildir path: ${x.error}`);
  const body = toUnixLines(r.message);
  let dir = x.value;
  if (junk && isSpam(body)) dir = join(dir, ".Junk");
  if (!knownMaildirs.has(dir)) {
    for (const sub of ["tmp", "new", "cur"]) await ensureDir(join(dir, sub));
    if (knownMaildirs.size > 10_000) knownMaildirs.clear();
    knownMaildirs.add(dir);
  }
  const now = process.hrtime.bigint();
  const sec = Math.floor(Date.now() / 1000);
  const name = `${sec}.M${(now / 1000n) % 1_000_000n}P${process.pid}Q${++maildirSeq}R${randomBytes(4).toString("hex")}.${hostname().replace(/[/:]/g, "_")}`;
  const tmp = join(dir, "tmp", name);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(tmp, "wx", 0o600);
  } catch (e) {
    knownMaildirs.delete(dir);
    throw e;
  }
  try {
    await fh.writeFile(deliveryHeaders(r));
    await fh.writeFile(body);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    return temp(`maildir write: ${errText(e)}`);
  }
  await fh.close();
  await rename(tmp, join(dir, "new", name));
  await fsyncDir(join(dir, "new"));
  return ok(`delivered to maildir ${dir}`);
}

/** The mbox form of a message: "From " line, ">From " quoting, a blank line at the end. */
export function mboxEntry(r: DeliveryRequest, body: Buffer, now: Date): Buffer {
  const from = r.sender === "" ? "MAILER-DAEMON" : r.sender;
  const text = body.toString("latin1");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const quoted = lines.map((l) => (/^>*From /.test(l) ? `>${l}` : l));
  return Buffer.from(
    `From ${from} ${asctimeDate(now)}\n${deliveryHeaders(r)}${quoted.join("\n")}\n\n`,
    "latin1",
  );
}

/** A dotlock (`mbox.lock`, O_EXCL) that other mbox users (mutt, procmail, dovecot) honour. */
async function dotlock(path: string): Promise<(() => Promise<void>) | null> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (let delay = 10; Date.now() < deadline; delay = Math.min(delay * 2, 1000)) {
    try {
      const fh = await open(lock, "wx", 0o600);
      await fh.close();
      return () => unlink(lock).catch(() => undefined);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const st = await lstat(lock).catch(() => null);
      if (st !== null && Date.now() - st.mtimeMs > STALE_LOCK_MS) await rm(lock, { force: true });
      await new Promise((res) => setTimeout(res, delay));
    }
  }
  return null;
}

/** Refuses a mailbox that is a symlink, a hard link, or not a regular file (mail.local). */
function unsafeMailbox(st: Stats, uid: number): string | null {
  if (!st.isFile()) return "mailbox is not a regular file";
  if (st.nlink !== 1) return "mailbox has hard links";
  if (process.getuid?.() !== undefined && st.uid !== uid) return "mailbox owned by another user";
  return null;
}

async function appendLocked(
  path: string,
  data: Buffer,
  uid: number,
  create: boolean,
): Promise<DeliveryResult> {
  await ensureDir(dirname(path)).catch(() => undefined);
  const unlock = await dotlock(path);
  if (unlock === null) return temp(`cannot lock ${path}`);
  try {
    const st = await lstat(path).catch(() => null);
    if (st !== null) {
      const bad = unsafeMailbox(st, uid);
      if (bad !== null) return temp(`${path}: ${bad}`);
    } else if (!create) return perm(`${path}: no such file`);
    const flags =
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
    const fh = await open(path, flags, 0o600);
    try {
      const before = (await fh.stat()).size;
      try {
        await fh.write(data);
        await fh.sync();
      } catch (e) {
        await fh.truncate(before).catch(() => undefined);
        return temp(`${path}: ${errText(e)}`);
      }
    } finally {
      await fh.close();
    }
    return ok(`delivered to ${path}`);
  } finally {
    await unlock();
  }
}

async function deliverMbox(r: DeliveryRequest, path: string): Promise<DeliveryResult> {
  return appendLocked(path, mboxEntry(r, toUnixLines(r.message), new Date()), r.user.uid, true);
}

/** A `/path` alias target: appended in mbox format (mail.mboxfile). */
async function deliverFile(r: DeliveryRequest, path: string): Promise<DeliveryResult> {
  if (!path.startsWith("/")) return perm(`not an absolute path: ${path}`);
  return appendLocked(path, mboxEntry(r, toUnixLines(r.message), new Date()), r.user.uid, true);
}

/** The environment of reference §1.9; addresses travel here, never in the command text. */
export function mdaEnvironment(r: DeliveryRequest): Record<string, string> {
  const at = r.dest.lastIndexOf("@");
  const local = at < 0 ? r.dest : r.dest.slice(0, at);
  const cut = local.indexOf(r.subAddrDelim);
  return {
    PATH: "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin",
    SHELL: "/bin/sh",
    HOME: r.user.home,
    USER: r.user.name,
    LOGNAME: r.user.name,
    SENDER: r.sender,
    RECIPIENT: r.rcpt,
    ORIGINAL_RECIPIENT: r.origRcpt,
    LOCAL: cut < 0 ? local : local.slice(0, cut),
    EXTENSION: cut < 0 ? "" : local.slice(cut + r.subAddrDelim.length),
    DOMAIN: at < 0 ? "" : r.dest.slice(at + 1),
  };
}

/**
 * `mda "cmd"`: the command (after sanitised %{} expansion) runs under /bin/sh -c with the
 * message on stdin. Exit 0 delivered, 71/75 temporary (EX_OSERR/EX_TEMPFAIL), else permanent.
 */
async function deliverMda(
  r: DeliveryRequest,
  command: string,
  wrapper?: string,
): Promise<DeliveryResult> {
  let x = expandFormat(command, facts(r));
  if (!x.ok) return perm(`mda command: ${x.error}`);
  // `mda wrapper`: the wrapper runs, with the expanded command as %{mda}.
  if (wrapper !== undefined) {
    x = expandFormat(wrapper, { ...facts(r), mda: x.value });
    if (!x.ok) return perm(`mda wrapper: ${x.error}`);
  }
  const input = Buffer.concat([Buffer.from(deliveryHeaders(r)), toUnixLines(r.message)]);
  return new Promise((resolve) => {
    const child = spawn("/bin/sh", ["-c", x.value], {
      cwd: r.user.home,
      env: mdaEnvironment(r),
      stdio: ["pipe", "ignore", "pipe"],
    });
    let stderr = "";
    let settled = false;
    const done = (res: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(res);
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      done(temp("mda command timed out"));
    }, MDA_TIMEOUT_MS);
    child.stderr.on("data", (d: Buffer) => {
      if (stderr.length < 1024) stderr += d.toString("utf8");
    });
    child.on("error", (e) => done(temp(`cannot run mda: ${e.message}`)));
    child.stdin.on("error", () => undefined); // a command that does not read its input
    child.on("close", (code, signal) => {
      const why = stderr.trim().split("\n").pop() ?? "";
      if (code === 0) done(ok("delivered through mda"));
      else if (code === 71 || code === 75 || signal !== null)
        done(temp(`mda exited ${signal ?? code}${why ? `: ${why}` : ""}`));
      else done(perm(`mda exited ${code}${why ? `: ${why}` : ""}`));
    });
    child.stdin.end(input);
  });
}
