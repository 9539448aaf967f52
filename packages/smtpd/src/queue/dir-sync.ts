// Directory fsync for the queue role, with group commit: requests for the same directory made
// before its fsync *starts* share that fsync; a request made while one is running waits for
// the next one, so nobody is told "durable" by an fsync that began before their rename.
import { open } from "node:fs/promises";

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

interface Waiters {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class DirSyncer {
  readonly coalesce: boolean;
  /** fsyncs performed (for tests and stats). */
  count = 0;
  #pending = new Map<string, Waiters>();
  #running = new Map<string, Promise<void>>();

  constructor(coalesce: boolean) {
    this.coalesce = coalesce;
  }

  /** Resolves once an fsync of `dir` that started after this call has completed. */
  sync(dir: string): Promise<void> {
    if (!this.coalesce) {
      this.count++;
      return fsyncPath(dir);
    }
    const existing = this.#pending.get(dir);
    if (existing !== undefined) return existing.promise;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const w: Waiters = { promise, resolve, reject };
    this.#pending.set(dir, w);
    // Let every commit of this tick join, and wait for a running fsync of the same directory:
    // more callers join meanwhile, and one fsync then serves them all.
    const before = this.#running.get(dir) ?? Promise.resolve();
    void before.then(() => new Promise<void>((r) => setImmediate(r))).then(() => this.#run(dir, w));
    return promise;
  }

  async #run(dir: string, w: Waiters): Promise<void> {
    this.#pending.delete(dir); // later callers wait for the next fsync
    this.count++;
    const run = fsyncPath(dir);
    const settled = run.then(
      () => {},
      () => {},
    );
    this.#running.set(dir, settled);
    try {
      await run;
      w.resolve();
    } catch (err) {
      w.reject(err);
    } finally {
      if (this.#running.get(dir) === settled) this.#running.delete(dir);
    }
  }
}
