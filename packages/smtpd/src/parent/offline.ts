// Offline mail (parent). While smtpd is down, sendmail writes messages to <spool>/offline/;
// once the listeners are up, the parent replays each file through sendmail, run as the file's
// owner, with OpenSMTPD's checks (smtpd.c offline_scan/offline_enqueue): a regular file at
// depth 1, one link, the directory's group, owner and group unchanged since the scan.
import { spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  createReadStream,
  existsSync,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  unlinkSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { getpwuid } from "@facteur/compat";
import { log } from "../log.js";

/**
 * offline/ is root:<queue group>, mode 3733: any user may create a file there (which gets the
 * directory's group, from the setgid bit) but not list it nor remove another's file (sticky
 * bit). OpenSMTPD makes it 0770 and installs smtpctl setgid _smtpq instead; a Node program
 * cannot be setgid safely, so the directory does the work for every flavour of Facteur.
 */
export const OFFLINE_DIR_MODE = 0o3733;
/** OpenSMTPD's OFFLINE_QUEUEMAX: replays running at once. */
const MAX_RUNNING = 5;
const REPLAY_TIMEOUT_MS = 5 * 60_000;
/** The first line (the arguments) may not be longer than this. */
const MAX_ARGS_LINE = 64 * 1024;
/** PATH for the replay (OpenSMTPD's _PATH_DEFPATH). */
const DEFPATH = "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin";

export interface PickupOptions {
  readonly spoolDir: string;
  /** `smtpd --root DIR`, passed on to sendmail. */
  readonly root: string | null;
  /** The parent's own entry point: the smtpctl program sits beside it. */
  readonly entry: string;
  /** The queue user's group (root only): the group of offline/. */
  readonly queueGid: number | null;
}

/** smtpd.cjs -> smtpctl.cjs, smtpd-main.js -> smtpctl-main.js, in the same directory. */
export function smtpctlBeside(entry: string): string {
  const b = basename(entry);
  const i = b.lastIndexOf("smtpd");
  return join(dirname(entry), i < 0 ? "smtpctl" : `${b.slice(0, i)}smtpctl${b.slice(i + 5)}`);
}

/** The argument line of an offline file, as smtpd.c splits it (strsep on `|`). */
export function offlineArgs(line: string): string[] {
  return line === "" ? [] : line.split("|");
}

interface Candidate {
  readonly path: string;
  readonly uid: number;
  readonly gid: number;
}

/** The files to replay; empty files are removed, as OpenSMTPD does. */
export function scanOffline(dir: string): Candidate[] {
  const dirGid = statSync(dir).gid;
  const out: Candidate[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isFile()) continue; // sub-directories, links, fifos: depth 1 regular files only
    const path = join(dir, e.name);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(path);
    } catch {
      continue;
    }
    if (!st.isFile() || st.gid !== dirGid) continue;
    if (st.size === 0) {
      try {
        unlinkSync(path);
      } catch {
        log("warn", `smtpd: could not unlink ${path}`);
      }
      continue;
    }
    out.push({ path, uid: st.uid, gid: st.gid });
  }
  return out;
}

/** Opens and checks one file; its argument line and where the message starts, or why not. */
function openChecked(
  c: Candidate,
): { fd: number; args: string[]; start: number } | { error: string } {
  let fd: number;
  try {
    fd = openSync(c.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    return { error: `open: ${c.path}: ${(e as Error).message}` };
  }
  const fail = (error: string) => {
    closeSync(fd);
    return { error };
  };
  const st = fstatSync(fd);
  if (!st.isFile()) return fail(`file ${c.path} (uid ${st.uid}) not regular`);
  if (st.nlink !== 1) return fail(`file ${c.path} is hard-link`);
  if (st.uid !== c.uid) return fail(`file ${c.path} has bad uid ${st.uid}`);
  if (st.gid !== c.gid) return fail(`file ${c.path} has bad gid ${st.gid}`);
  const buf = Buffer.alloc(Math.min(MAX_ARGS_LINE, st.size));
  const n = readSync(fd, buf, 0, buf.length, 0);
  const nl = buf.subarray(0, n).indexOf(0x0a);
  if (nl < 0) return fail(`file ${c.path}: no argument line`);
  return { fd, args: offlineArgs(buf.subarray(0, nl).toString("utf8")), start: nl + 1 };
}

/** Runs sendmail as the file's owner on the message; resolves to its exit status. */
function replay(c: Candidate, o: PickupOptions, isRoot: boolean): Promise<string | null> {
  const pw = getpwuid(c.uid);
  if (pw === null) return Promise.resolve(`getpwuid for uid ${c.uid} failed`);
  if (!isRoot && c.uid !== process.getuid?.())
    return Promise.resolve(`file ${c.path} belongs to uid ${c.uid}: only root can replay it`);
  const opened = openChecked(c);
  if ("error" in opened) return Promise.resolve(opened.error);
  const home = (() => {
    try {
      return statSync(pw.home).isDirectory() ? pw.home : "/";
    } catch {
      return "/";
    }
  })();
  const env: NodeJS.ProcessEnv = { PATH: DEFPATH, FACTEUR_SENDMAIL_REPLAY: "1" };
  if (process.env.FACTEUR_PLATFORM) env.FACTEUR_PLATFORM = process.env.FACTEUR_PLATFORM;
  const args = [
    smtpctlBeside(o.entry),
    ...(o.root !== null ? ["--root", o.root] : []),
    "-S",
    ...opened.args,
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      argv0: "sendmail",
      cwd: home,
      env,
      detached: true, // setsid(), as OpenSMTPD
      stdio: ["pipe", "ignore", "pipe"],
      ...(isRoot ? { uid: pw.uid, gid: pw.gid } : {}),
    });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), REPLAY_TIMEOUT_MS);
    const input = createReadStream("", { fd: opened.fd, start: opened.start, autoClose: true });
    input.on("error", () => child.stdin?.destroy());
    child.stdin?.on("error", () => input.destroy());
    input.pipe(child.stdin!);
    child.on("error", (e) => {
      clearTimeout(timer);
      input.destroy();
      resolve(`sendmail: ${e.message}`);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      input.destroy();
      if (code === 0) return resolve(null);
      const why = signal !== null ? `killed by ${signal}` : `exited with status ${code}`;
      resolve(`sendmail ${why}${stderr !== "" ? `: ${stderr.trim()}` : ""}`);
    });
  });
}

/** Sets offline/'s owner and mode (root only), then replays what is there. Never throws. */
export async function pickupOffline(o: PickupOptions): Promise<void> {
  const dir = join(o.spoolDir, "offline");
  const isRoot = process.getuid?.() === 0;
  try {
    if (!existsSync(dir)) return;
    if (isRoot && o.queueGid !== null) {
      chownSync(dir, 0, o.queueGid);
      chmodSync(dir, OFFLINE_DIR_MODE);
    }
    const todo = scanOffline(dir);
    if (todo.length === 0) return;
    if (!existsSync(smtpctlBeside(o.entry))) {
      log("warn", `smtpd: cannot replay offline mail: no ${smtpctlBeside(o.entry)}`);
      return;
    }
    log("debug", `smtpd: enqueueing ${todo.length} offline message(s)`);
    const worker = async () => {
      for (let c = todo.shift(); c !== undefined; c = todo.shift()) {
        const err = await replay(c, o, isRoot);
        if (err === null) {
          log("info", `smtpd: enqueued offline message ${c.path}`);
          try {
            unlinkSync(c.path);
          } catch (e) {
            log("warn", `smtpd: could not unlink ${c.path}: ${(e as Error).message}`);
          }
        } else log("warn", `smtpd: couldn't enqueue offline message ${c.path}; ${err}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_RUNNING, todo.length) }, worker));
  } catch (e) {
    log("warn", `smtpd: offline scan of ${dir} failed: ${(e as Error).message}`);
  }
}
