// The parent's delivery workers: one per (user, kind), started on demand with the user's
// credentials, reused for every delivery to that user and stopped after a while idle.
// mbox workers also hold the mail group (to create /var/mail/USER and its dotlock); command
// and maildir workers do not, so a user's command never gains it.
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { userInfo } from "node:os";
import { getpwnamAsync } from "@facteur/compat";
import type { Requests } from "../ipc/messages.js";
import { log } from "../log.js";
import type { DeliveryMethod, DeliveryResult } from "../mda/deliver.js";
import type { WorkerMessage, WorkerReply } from "../mda/worker.js";

const IDLE_MS = 60_000;
const MAX_WORKERS = 64;
const DELIVERY_TIMEOUT_MS = 15 * 60_000;

interface Worker {
  readonly key: string;
  readonly proc: ChildProcess;
  readonly ready: Promise<boolean>;
  readonly pending: Map<number, (r: DeliveryResult) => void>;
  readonly forwards: Map<number, (r: { text: string | null; error?: string }) => void>;
  idleTimer: NodeJS.Timeout | null;
}

function groupId(name: string): number | null {
  try {
    const line = execFileSync("getent", ["group", name], { encoding: "utf8" }).trim();
    const gid = Number(line.split(":")[2]);
    return Number.isInteger(gid) ? gid : null;
  } catch {
    return null;
  }
}

export interface PoolOptions {
  readonly entry: string;
  readonly mboxDir: string;
  readonly mailname: string;
  readonly subAddrDelim: string;
  readonly verbose: boolean;
}

export class DeliveryPool {
  readonly #o: PoolOptions;
  readonly #workers = new Map<string, Worker>();
  readonly #isRoot = process.getuid?.() === 0;
  #nextId = 1;
  /** The daemon's own user, for deliveries when it does not run as root. */
  readonly #self = userInfo();
  #stopped = false;

  constructor(o: PoolOptions) {
    this.#o = o;
  }

  async deliver(req: Requests["parent.deliver"]["req"]): Promise<DeliveryResult> {
    if (this.#stopped) return { result: "tempfail", text: "daemon stopping" };
    const pw = this.#isRoot ? await getpwnamAsync(req.user) : null;
    if (this.#isRoot && pw === null)
      return { result: "permfail", text: `unknown user ${req.user}` };
    if (pw !== null && pw.uid === 0)
      return { result: "permfail", text: "delivery as root is refused: use an alias for root" };
    const self = this.#self;
    const user = pw ?? {
      name: req.user,
      uid: self.uid,
      gid: self.gid,
      home: self.homedir,
      shell: self.shell ?? "/bin/sh",
    };
    const method: DeliveryMethod =
      req.method.kind === "mbox" ? { kind: "mbox", spoolDir: this.#o.mboxDir } : req.method;
    const kind = method.kind === "mbox" || method.kind === "file" ? "mbox" : "user";
    const w = await this.#worker(`${kind}:${user.uid}`, user, kind === "mbox");
    if (w === null) return { result: "tempfail", text: "cannot start a delivery worker" };
    const id = this.#nextId++;
    const msg: WorkerMessage = {
      t: "deliver",
      id,
      req: {
        method,
        user: { name: user.name, uid: user.uid, gid: user.gid, home: user.home, shell: user.shell },
        sender: req.sender,
        rcpt: req.rcpt,
        dest: req.dest,
        origRcpt: req.origRcpt,
        subAddrDelim: this.#o.subAddrDelim,
        mailname: this.#o.mailname,
        message: req.message,
      },
    };
    if (w.idleTimer !== null) clearTimeout(w.idleTimer);
    w.idleTimer = null;
    return new Promise<DeliveryResult>((resolve) => {
      const timer = setTimeout(() => {
        w.pending.delete(id);
        resolve({ result: "tempfail", text: "delivery timed out" });
      }, DELIVERY_TIMEOUT_MS);
      w.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      w.proc.send(msg);
    }).finally(() => this.#maybeIdle(w));
  }

  /** The user's ~/.forward, read by that user's worker (so with the user's rights). */
  async readForward(
    name: string,
  ): Promise<{ kind: "ok"; text: string | null } | { kind: "tempfail"; reason: string }> {
    if (this.#stopped) return { kind: "tempfail", reason: "daemon stopping" };
    const pw = await getpwnamAsync(name);
    if (pw === null) return { kind: "ok", text: null };
    if (pw.uid === 0) return { kind: "ok", text: null }; // root's mail goes through aliases
    const uid = this.#isRoot ? pw.uid : (process.getuid?.() ?? pw.uid);
    const user = {
      name: pw.name,
      uid,
      gid: this.#isRoot ? pw.gid : (process.getgid?.() ?? pw.gid),
    };
    const w = await this.#worker(`user:${user.uid}`, user, false);
    if (w === null) return { kind: "tempfail", reason: "cannot start a worker to read .forward" };
    const id = this.#nextId++;
    if (w.idleTimer !== null) clearTimeout(w.idleTimer);
    w.idleTimer = null;
    const r = await new Promise<{ text: string | null; error?: string }>((resolve) => {
      const timer = setTimeout(() => {
        w.forwards.delete(id);
        resolve({ text: null, error: "timed out" });
      }, 30_000);
      w.forwards.set(id, (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      w.proc.send({ t: "forward", id, home: pw.home, uid: pw.uid } satisfies WorkerMessage);
    }).finally(() => this.#maybeIdle(w));
    if (r.error !== undefined) log("warn", `.forward of ${name}: ${r.error}`);
    if (r.error === "timed out") return { kind: "tempfail", reason: "reading .forward timed out" };
    return { kind: "ok", text: r.text };
  }

  #maybeIdle(w: Worker): void {
    if (w.pending.size > 0 || w.forwards.size > 0 || w.idleTimer !== null) return;
    w.idleTimer = setTimeout(() => {
      this.#workers.delete(w.key);
      if (w.proc.connected) w.proc.send({ t: "stop" } satisfies WorkerMessage);
    }, IDLE_MS);
    w.idleTimer.unref();
  }

  async #worker(
    key: string,
    user: { name: string; uid: number; gid: number },
    mailGroup: boolean,
  ): Promise<Worker | null> {
    const have = this.#workers.get(key);
    if (have !== undefined) return (await have.ready) ? have : null;
    if (this.#workers.size >= MAX_WORKERS) {
      // Stop the idle ones first; if all are busy, the caller retries later.
      for (const w of this.#workers.values())
        if (w.pending.size === 0) {
          this.#workers.delete(w.key);
          w.proc.send({ t: "stop" } satisfies WorkerMessage);
        }
      if (this.#workers.size >= MAX_WORKERS) return null;
    }
    const proc = fork(this.#o.entry, ["-x", "deliver", ...(this.#o.verbose ? ["-v"] : [])], {
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    // Sending to a worker that has just exited fails; its exit settles what it had.
    proc.on("error", (e) => log("debug", `delivery worker for ${user.name}: ${e.message}`));
    const pending = new Map<number, (r: DeliveryResult) => void>();
    const forwards = new Map<number, (r: { text: string | null; error?: string }) => void>();
    const ready = new Promise<boolean>((resolve) => {
      proc.on("message", (m: WorkerReply) => {
        if (m.t === "ready") resolve(true);
        else if (m.t === "fatal") {
          log("warn", `delivery worker for ${user.name}: ${m.error}`);
          resolve(false);
        } else if (m.t === "result") {
          pending.get(m.id)?.(m.res);
          pending.delete(m.id);
        } else if (m.t === "forward") {
          forwards.get(m.id)?.(
            m.error !== undefined ? { text: m.text, error: m.error } : { text: m.text },
          );
          forwards.delete(m.id);
        }
      });
      proc.once("exit", (code, signal) => {
        resolve(false);
        if (this.#workers.get(key)?.proc === proc) this.#workers.delete(key);
        for (const done of pending.values())
          done({ result: "tempfail", text: `delivery worker exited (${signal ?? code})` });
        pending.clear();
        for (const done of forwards.values()) done({ text: null, error: "timed out" });
        forwards.clear();
      });
    });
    const extra = mailGroup && this.#isRoot ? [groupId("mail")].filter((g) => g !== null) : [];
    proc.send({
      t: "init",
      user: user.name,
      uid: user.uid,
      gid: user.gid,
      extraGroups: extra as number[],
    } satisfies WorkerMessage);
    const w: Worker = { key, proc, ready, pending, forwards, idleTimer: null };
    this.#workers.set(key, w);
    return (await ready) ? w : null;
  }

  stop(): void {
    this.#stopped = true;
    for (const w of this.#workers.values()) {
      if (w.idleTimer !== null) clearTimeout(w.idleTimer);
      if (w.proc.connected) w.proc.send({ t: "stop" } satisfies WorkerMessage);
    }
    this.#workers.clear();
  }
}
