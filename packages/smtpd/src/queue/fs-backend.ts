// The queue role's file-system backend, OpenSMTPD's spool layout (reference §5): messages are
// built in temporary/ and incoming/<msgid>/, and committed by renaming the directory into
// queue/<bucket>/<msgid>/ after every file and directory involved is fsynced.
import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import {
  chmod,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
} from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { log } from "../log.js";
import type { MessageSink } from "./codec.js";
import { QueueCodec, QueueDataError, writeAll } from "./codec.js";
import { DirSyncer, fsyncPath } from "./dir-sync.js";
import type { Envelope } from "./envelope.js";
import { parseEnvelope, serializeEnvelope } from "./envelope.js";
import type { MessageTx } from "./message-tx.js";
import { FsMessageTx } from "./message-tx.js";

export type { MessageTx } from "./message-tx.js";

import { bucketOf, isEvpid, isMsgid, msgidOf, newMsgid } from "./ids.js";

export interface FsQueueOptions {
  /** gzip message and envelope files (`queue compression`). */
  compress?: boolean;
  /** 32-byte key: AES-256-GCM for message and envelope files (`queue encryption`). */
  key?: Buffer;
  /** Share directory fsyncs between commits of the same tick (default true). */
  groupCommit?: boolean;
  /**
   * Inspect only (smtpctl offline `show queue`): no directory is created, nothing is purged
   * or quarantined (invalid entries are only reported), and every mutating method throws.
   */
  readOnly?: boolean;
}

export type WalkItem =
  | { ok: true; evpid: string; envelope: Envelope }
  | { ok: false; path: string; error: string };

export type LoadResult =
  | { ok: true; envelope: Envelope }
  | { ok: false; missing: boolean; error: string };

// Modes from OpenSMTPD's smtpd.c setup_spool(): the root is 0711, offline/ 0770, the rest 0700.
/** The spool's directories and modes; the parent creates them for the queue user. */
export const SPOOL_DIRS: readonly [string, number][] = [
  ["incoming", 0o700],
  ["temporary", 0o700],
  ["queue", 0o700],
  ["purge", 0o700],
  ["offline", 0o770],
  ["quarantine", 0o700],
];

const errCode = (err: unknown): string | undefined =>
  err instanceof Error && "code" in err ? String((err as NodeJS.ErrnoException).code) : undefined;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errCode(err) === "ENOENT") return false;
    throw err;
  }
}

async function readdirOrEmpty(path: string): Promise<Dirent[]> {
  try {
    return await readdir(path, { withFileTypes: true });
  } catch (err) {
    if (errCode(err) === "ENOENT") return [];
    throw err;
  }
}

export class FsQueue {
  readonly spoolDir: string;
  readonly codec: QueueCodec;
  readonly syncer: DirSyncer;
  readonly readOnly: boolean;
  #durableBuckets = new Set<string>();
  #locks = new Map<string, Promise<void>>();
  #seq = 0;

  private constructor(spoolDir: string, codec: QueueCodec, syncer: DirSyncer, readOnly: boolean) {
    this.spoolDir = spoolDir;
    this.codec = codec;
    this.syncer = syncer;
    this.readOnly = readOnly;
  }

  #writable(what: string): void {
    if (this.readOnly) throw new Error(`${what}: queue opened read-only`);
  }

  /** Creates missing spool directories and throws away uncommitted data (reference §5). */
  static async open(spoolDir: string, opts: FsQueueOptions = {}): Promise<FsQueue> {
    const q = new FsQueue(
      spoolDir,
      new QueueCodec(opts),
      new DirSyncer(opts.groupCommit !== false),
      opts.readOnly === true,
    );
    if (q.readOnly) {
      if (!(await exists(q.#path("queue")))) throw new Error(`${spoolDir}: no queue/ directory`);
      return q;
    }
    let created = await q.#mkdirMode(spoolDir, 0o711);
    for (const [name, mode] of SPOOL_DIRS)
      created = (await q.#mkdirMode(join(spoolDir, name), mode)) || created;
    if (created) await fsyncPath(spoolDir);
    await q.#purgeUncommitted();
    for (const b of await readdirOrEmpty(q.#path("queue"))) {
      if (b.isDirectory()) q.#durableBuckets.add(b.name);
    }
    await fsyncPath(q.#path("queue"));
    return q;
  }

  async #mkdirMode(path: string, mode: number): Promise<boolean> {
    try {
      await mkdir(path, { mode });
    } catch (err) {
      if (errCode(err) === "EEXIST") return false;
      throw err;
    }
    await chmod(path, mode); // mkdir's mode is filtered by the umask
    return true;
  }

  #path(...parts: string[]): string {
    return join(this.spoolDir, ...parts);
  }

  #msgDir(msgid: string): string {
    return this.#path("queue", bucketOf(msgid), msgid);
  }

  #unique(): string {
    return `${process.pid}.${++this.#seq}.${randomBytes(4).toString("hex")}`;
  }

  /** Moves a path into purge/ (atomic disappearance), then deletes it. */
  async #purge(path: string): Promise<void> {
    const dest = this.#path("purge", this.#unique());
    try {
      await rename(path, dest);
    } catch (err) {
      if (errCode(err) === "ENOENT") return;
      throw err;
    }
    await rm(dest, { recursive: true, force: true });
  }

  async #purgeUncommitted(): Promise<void> {
    let n = 0;
    for (const dir of ["incoming", "temporary"]) {
      for (const e of await readdirOrEmpty(this.#path(dir))) {
        await rename(
          this.#path(dir, e.name),
          this.#path("purge", `${dir}.${e.name}.${this.#unique()}`),
        );
        n++;
      }
    }
    for (const e of await readdirOrEmpty(this.#path("purge"))) {
      await rm(this.#path("purge", e.name), { recursive: true, force: true });
    }
    if (n > 0) log("info", `queue: purged ${n} uncommitted entries from incoming/ and temporary/`);
  }

  /** Runs `fn` with the per-message lock held (envelope create/update/remove, orphan purge). */
  async #locked<T>(msgid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(msgid) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chain = prev.then(() => mine);
    this.#locks.set(msgid, chain);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.#locks.get(msgid) === chain) this.#locks.delete(msgid);
    }
  }

  /** @internal serialize + encode; throws (before any I/O) when the envelope is refused. */
  encodeEnvelope(e: Envelope): Buffer {
    const s = serializeEnvelope(e);
    if (!s.ok) throw new Error(`envelope ${e.id}: refused: ${s.error}`);
    return this.codec.encode(Buffer.from(s.text, "utf8"));
  }

  /** Writes `data` to a fresh file, fsyncs it, closes it. */
  async #writeSynced(path: string, data: Buffer, flags: string): Promise<void> {
    const fh = await open(path, flags, 0o600);
    try {
      await writeAll(fh, data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** Makes queue/<bucket> exist and its entry durable before a message is renamed into it. */
  async #ensureBucket(bucket: string): Promise<void> {
    if (this.#durableBuckets.has(bucket)) return;
    await this.#mkdirMode(this.#path("queue", bucket), 0o700);
    await this.syncer.sync(this.#path("queue"));
    this.#durableBuckets.add(bucket);
  }

  async beginMessage(): Promise<MessageTx> {
    this.#writable("beginMessage");
    for (;;) {
      const msgid = newMsgid();
      if (await exists(this.#msgDir(msgid))) continue;
      try {
        await mkdir(this.#path("incoming", msgid), { mode: 0o700 });
      } catch (err) {
        if (errCode(err) === "EEXIST") continue;
        throw err;
      }
      let fh: FileHandle;
      try {
        fh = await open(this.#path("temporary", msgid), "wx", 0o600);
      } catch (err) {
        await rm(this.#path("incoming", msgid), { recursive: true, force: true });
        throw err;
      }
      return new FsMessageTx(this, msgid, this.codec.sink(fh));
    }
  }

  /** @internal used by FsMessageTx */
  async writeIncomingEnvelope(e: Envelope, data: Buffer): Promise<void> {
    const fh = await open(this.#path("incoming", e.msgid, e.id), "wx", 0o600);
    try {
      await writeAll(fh, data);
    } finally {
      await fh.close();
    }
  }

  /** @internal used by FsMessageTx: the durable commit sequence. */
  async commitIncoming(msgid: string, evpids: readonly string[], sink: MessageSink): Promise<void> {
    const inc = this.#path("incoming", msgid);
    // 1. File contents: the message, then every envelope (new envelopes were written unsynced).
    await sink.finish();
    await mapLimited(evpids, 32, (id) => fsyncPath(join(inc, id)));
    // 2. The message joins its envelopes; the directory's entries become durable.
    await rename(this.#path("temporary", msgid), join(inc, "message"));
    await fsyncPath(inc);
    // 3. The directory enters the queue; the bucket entry becomes durable.
    const bucket = bucketOf(msgid);
    await this.#ensureBucket(bucket);
    await rename(inc, this.#msgDir(msgid));
    await this.syncer.sync(this.#path("queue", bucket));
  }

  /** @internal used by FsMessageTx */
  async rollbackIncoming(msgid: string, sink: MessageSink | undefined): Promise<void> {
    if (sink !== undefined) await sink.abort();
    await rm(this.#path("temporary", msgid), { force: true });
    await rm(this.#path("incoming", msgid), { recursive: true, force: true });
  }

  /** Committed msgids, sorted. */
  async messageIds(): Promise<string[]> {
    const out: string[] = [];
    for (const b of (await readdirOrEmpty(this.#path("queue"))).sort(byName)) {
      if (!b.isDirectory() || !/^[0-9a-f]{2}$/.test(b.name)) continue;
      for (const m of await readdirOrEmpty(this.#path("queue", b.name))) {
        if (m.isDirectory() && isMsgid(m.name) && bucketOf(m.name) === b.name) out.push(m.name);
      }
    }
    return out.sort();
  }

  /** evpids of one committed message, sorted. */
  async envelopeIds(msgid: string): Promise<string[]> {
    if (!isMsgid(msgid)) return [];
    const entries = await readdirOrEmpty(this.#msgDir(msgid));
    return entries
      .filter((e) => isEvpid(e.name) && msgidOf(e.name) === msgid)
      .map((e) => e.name)
      .sort();
  }

  /**
   * Every committed envelope. Invalid ones are moved to quarantine/<msgid>/ (with a hard link
   * to their message) and reported; a file that fails to decrypt is reported and left in
   * place, since a wrong key would otherwise move the whole queue. Never throws for content.
   */
  async *walk(): AsyncIterable<WalkItem> {
    for (const b of (await readdirOrEmpty(this.#path("queue"))).sort(byName)) {
      const bdir = this.#path("queue", b.name);
      if (!b.isDirectory() || !/^[0-9a-f]{2}$/.test(b.name)) {
        yield { ok: false, path: bdir, error: "unexpected entry in queue/" };
        continue;
      }
      for (const m of (await readdirOrEmpty(bdir)).sort(byName)) {
        yield* this.#walkMessage(b.name, m);
      }
    }
  }

  async *#walkMessage(bucket: string, m: Dirent): AsyncIterable<WalkItem> {
    const mdir = this.#path("queue", bucket, m.name);
    if (!m.isDirectory() || !isMsgid(m.name) || bucketOf(m.name) !== bucket) {
      const dest = await this.#quarantinePath(mdir, m.name);
      yield {
        ok: false,
        path: mdir,
        error: `not a message directory of this bucket (moved to ${dest})`,
      };
      return;
    }
    const msgid = m.name;
    const entries = (await readdirOrEmpty(mdir)).sort(byName);
    const hasMessage = entries.some((e) => e.name === "message" && e.isFile());
    const envs = entries.filter((e) => e.name !== "message");
    if (!hasMessage && envs.length > 0) {
      const dest = await this.#locked(msgid, () => this.#quarantinePath(mdir, msgid));
      yield { ok: false, path: mdir, error: `message file missing (moved to ${dest})` };
      return;
    }
    if (envs.length === 0) {
      // Left by a crash between removing the last envelope and removing the directory.
      if (this.readOnly) return;
      await this.#locked(msgid, async () => {
        if ((await this.envelopeIds(msgid)).length > 0) return;
        log("info", `queue: removing message ${msgid} without envelopes`);
        await this.#purge(mdir);
      });
      return;
    }
    for (const e of envs) {
      const path = join(mdir, e.name);
      if (!e.isFile() || !isEvpid(e.name) || msgidOf(e.name) !== msgid) {
        const dest = await this.#locked(msgid, () =>
          this.#quarantineEnvelope(msgid, e.name, "not an envelope of this message"),
        );
        yield { ok: false, path, error: `not an envelope of this message (moved to ${dest})` };
        continue;
      }
      const r = await this.loadEnvelope(e.name);
      if (r.ok) yield { ok: true, evpid: e.name, envelope: r.envelope };
      else if (!r.missing) yield { ok: false, path, error: r.error };
    }
  }

  /** Moves a whole path into quarantine/ under a fresh name; returns the new path. */
  async #quarantinePath(path: string, name: string): Promise<string> {
    if (this.readOnly) return "nowhere (read-only queue)";
    const dest = this.#path("quarantine", `${name}.${this.#unique()}`);
    await rename(path, dest);
    log("warn", `invalid queue entry ${path}: moved to ${dest}`);
    return dest;
  }

  async #quarantineEnvelope(msgid: string, name: string, why: string): Promise<string> {
    if (this.readOnly) return "nowhere (read-only queue)";
    const qdir = this.#path("quarantine", msgid);
    await mkdir(qdir, { recursive: true, mode: 0o700 });
    // Keep the message reachable: once its last envelope is gone, queue/ drops it.
    try {
      await link(join(this.#msgDir(msgid), "message"), join(qdir, "message"));
    } catch (err) {
      if (errCode(err) !== "EEXIST" && errCode(err) !== "ENOENT") throw err;
    }
    let dest = join(qdir, name);
    if (await exists(dest)) dest = `${dest}.${this.#unique()}`;
    await rename(join(this.#msgDir(msgid), name), dest);
    log("warn", `invalid envelope ${name}: ${why}: moved to ${dest}`);
    return dest;
  }

  /** The decoded text of an envelope file (for `smtpctl show envelope`), or null. */
  async envelopeText(evpid: string): Promise<string | null> {
    if (!isEvpid(evpid)) return null;
    try {
      const raw = await readFile(join(this.#msgDir(msgidOf(evpid)), evpid));
      return this.codec.decodeEnvelope(raw, `envelope ${evpid}`).toString("utf8");
    } catch (err) {
      if (errCode(err) === "ENOENT") return null;
      throw err;
    }
  }

  /** Loads one envelope; an invalid one is quarantined (decryption failures are not). */
  async loadEnvelope(evpid: string): Promise<LoadResult> {
    if (!isEvpid(evpid)) return { ok: false, missing: true, error: `invalid evpid "${evpid}"` };
    const msgid = msgidOf(evpid);
    let raw: Buffer;
    try {
      raw = await readFile(join(this.#msgDir(msgid), evpid));
    } catch (err) {
      if (errCode(err) === "ENOENT") return { ok: false, missing: true, error: "no such envelope" };
      throw err;
    }
    let error: string;
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(
        this.codec.decodeEnvelope(raw, `envelope ${evpid}`),
      );
      const p = parseEnvelope(text, evpid);
      if (p.ok) return p;
      error = `envelope ${evpid}: ${p.error}`;
    } catch (err) {
      if (err instanceof QueueDataError && err.kind === "crypto") {
        log("warn", err.message);
        return { ok: false, missing: false, error: err.message };
      }
      error = err instanceof QueueDataError ? err.message : `envelope ${evpid}: invalid UTF-8`;
    }
    const dest = await this.#locked(msgid, () => this.#quarantineEnvelope(msgid, evpid, error));
    return { ok: false, missing: false, error: `${error} (moved to ${dest})` };
  }

  /** Writes a durable temp copy in incoming/ and renames it over (or into) the message dir. */
  async #replaceEnvelope(e: Envelope): Promise<void> {
    const tmp = this.#path("incoming", `envelope.${this.#unique()}.tmp`);
    await this.#writeSynced(tmp, this.encodeEnvelope(e), "wx");
    try {
      await rename(tmp, join(this.#msgDir(e.msgid), e.id));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await fsyncPath(this.#msgDir(e.msgid));
  }

  /** Adds an envelope to a committed message (e.g. a bounce); durable when it resolves. */
  async createEnvelope(e: Envelope): Promise<boolean> {
    this.#writable("createEnvelope");
    return this.#locked(e.msgid, async () => {
      if (!(await exists(join(this.#msgDir(e.msgid), "message")))) return false;
      if (await exists(join(this.#msgDir(e.msgid), e.id)))
        throw new Error(`envelope ${e.id} exists`);
      await this.#replaceEnvelope(e);
      return true;
    });
  }

  /** Replaces a committed envelope durably; false if it is no longer in the queue. */
  async updateEnvelope(e: Envelope): Promise<boolean> {
    this.#writable("updateEnvelope");
    return this.#locked(e.msgid, async () => {
      if (!(await exists(join(this.#msgDir(e.msgid), e.id)))) return false;
      await this.#replaceEnvelope(e);
      return true;
    });
  }

  /**
   * Removes one envelope, and the message when it was the last. Not fsynced (as OpenSMTPD):
   * after a power loss a removed envelope may come back, i.e. a duplicate, never a loss.
   */
  async removeEnvelope(evpid: string): Promise<boolean> {
    this.#writable("removeEnvelope");
    if (!isEvpid(evpid)) return false;
    const msgid = msgidOf(evpid);
    return this.#locked(msgid, async () => {
      try {
        await unlink(join(this.#msgDir(msgid), evpid));
      } catch (err) {
        if (errCode(err) === "ENOENT") return false;
        throw err;
      }
      if ((await this.envelopeIds(msgid)).length === 0) await this.#purge(this.#msgDir(msgid));
      return true;
    });
  }

  /** Removes a message and all its envelopes; false if absent. */
  async removeMessage(msgid: string): Promise<boolean> {
    this.#writable("removeMessage");
    if (!isMsgid(msgid)) return false;
    return this.#locked(msgid, async () => {
      if (!(await exists(this.#msgDir(msgid)))) return false;
      await this.#purge(this.#msgDir(msgid));
      return true;
    });
  }

  /**
   * The message bytes. Plain messages are streamed from the file; with compression or
   * encryption the file is read and verified whole first (GCM tag, gzip CRC), so a wrong key
   * or a corrupt file rejects here with a QueueDataError instead of yielding garbage.
   */
  async openMessage(msgid: string): Promise<Readable> {
    if (!isMsgid(msgid)) throw new Error(`invalid msgid "${msgid}"`);
    const path = join(this.#msgDir(msgid), "message");
    if (this.codec.isPlain) {
      const fh = await open(path, "r");
      return fh.createReadStream();
    }
    const raw = await readFile(path);
    return Readable.from([this.codec.decodeMessage(raw, `message ${msgid}`)]);
  }
}

const byName = (a: Dirent, b: Dirent): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

async function mapLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (t: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
