// Looking into a test daemon's queue: `smtpctl show queue` lines parsed, and the spool read
// directly (spool/queue/<bucket>/<msgid>/{message,<evpid>}), as the end-to-end tests need.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Daemon } from "./harness.js";

/** One `smtpctl show queue` line: evpid|src|agent|flags|sender|rcpt|dest|... */
export interface QueueLine {
  readonly evpid: string;
  readonly msgid: string;
  readonly src: string;
  readonly sender: string;
  readonly rcpt: string;
  readonly dest: string;
}

export function showQueue(d: Daemon): QueueLine[] {
  const r = d.smtpctl("show", "queue");
  if (r.code !== 0) throw new Error(`smtpctl show queue: ${r.code} ${r.err}`);
  return r.out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const f = l.split("|");
      const evpid = f[0] ?? "";
      return {
        evpid,
        msgid: evpid.slice(0, 8),
        src: f[1] ?? "",
        sender: f[4] ?? "",
        rcpt: f[5] ?? "",
        dest: f[6] ?? "",
      };
    });
}

/** Distinct message ids in the queue, as smtpctl shows them. */
export const queuedMsgids = (d: Daemon): Set<string> => new Set(showQueue(d).map((l) => l.msgid));

export const messagePath = (root: string, msgid: string): string =>
  join(root, "spool", "queue", msgid.slice(0, 2), msgid, "message");

/** The stored message (Received header prepended by the daemon). */
export function spoolMessage(root: string, msgid: string): Buffer {
  return readFileSync(messagePath(root, msgid));
}

export interface SpoolEntry {
  readonly msgid: string;
  readonly message: Buffer | null;
  readonly envelopes: readonly string[];
}

/** Every message directory under spool/queue/, whatever it holds. */
export function spoolEntries(root: string): SpoolEntry[] {
  const q = join(root, "spool", "queue");
  if (!existsSync(q)) return [];
  const out: SpoolEntry[] = [];
  for (const bucket of readdirSync(q)) {
    for (const msgid of readdirSync(join(q, bucket))) {
      const dir = join(q, bucket, msgid);
      const files = readdirSync(dir);
      out.push({
        msgid,
        message: files.includes("message") ? readFileSync(join(dir, "message")) : null,
        envelopes: files.filter((f) => /^[0-9a-f]{16}$/.test(f)),
      });
    }
  }
  return out;
}

/** Files left in a spool directory such as incoming/ or temporary/. */
export function spoolDirEntries(root: string, name: string): string[] {
  const p = join(root, "spool", name);
  return existsSync(p) ? readdirSync(p) : [];
}
