// The scheduler (in the queue role): which envelope is due when. OpenSMTPD's retry schedule
// (reference §1.8): next try = creation + base·k² for the first k that lands in the future,
// base 10 s for local delivery and 400 s for relaying. Expiry is ctime + ttl.

export const RETRY_BASE_MDA = 10;
export const RETRY_BASE_MTA = 400;

/** The next attempt after `now` for an envelope created at `ctime` (Unix seconds). */
export function nextRetry(ctime: number, now: number, base: number): number {
  const k = Math.max(1, Math.floor(Math.sqrt(Math.max(0, now - ctime) / base)));
  for (let i = k; ; i++) {
    const t = ctime + base * i * i;
    if (t > now) return t;
  }
}

export type DeliveryKind = "mda" | "mta";

export interface Scheduled {
  readonly evpid: string;
  /** Unix seconds. */
  due: number;
  held: boolean;
  kind: DeliveryKind;
}

/**
 * Due envelopes in time order, at most `concurrency` running; `run` returns when the attempt
 * is over (the caller reschedules or removes). Timers are unref'd: the role's channel keeps
 * the process alive.
 */
export class Scheduler {
  readonly #items = new Map<string, Scheduled>();
  readonly #running = new Set<string>();
  readonly #run: (evpid: string) => Promise<void>;
  readonly #concurrency: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #started = false;
  readonly #paused = new Set<DeliveryKind>();

  constructor(
    run: (evpid: string) => Promise<void>,
    concurrency = 32,
    now: () => number = () => Date.now() / 1000,
  ) {
    this.#run = run;
    this.#concurrency = concurrency;
    this.#now = now;
  }

  get size(): number {
    return this.#items.size;
  }

  get running(): number {
    return this.#running.size;
  }

  has(evpid: string): boolean {
    return this.#items.has(evpid);
  }

  get(evpid: string): Scheduled | undefined {
    return this.#items.get(evpid);
  }

  /** Adds or moves an envelope (an envelope being attempted is taken off until it ends). */
  schedule(evpid: string, due: number, kind?: DeliveryKind): void {
    const it = this.#items.get(evpid);
    if (it !== undefined) {
      it.due = due;
      if (kind !== undefined) it.kind = kind;
    } else this.#items.set(evpid, { evpid, due, held: false, kind: kind ?? "mda" });
    this.#kick();
  }

  /** Envelope ids whose id or message id is `target` ("all": every one). */
  select(target: string): string[] {
    return [...this.#items.keys()].filter(
      (id) => target === "all" || id === target || id.startsWith(target),
    );
  }

  isRunning(evpid: string): boolean {
    return this.#running.has(evpid);
  }

  remove(evpid: string): void {
    this.#items.delete(evpid);
  }

  hold(evpid: string, held: boolean): boolean {
    const it = this.#items.get(evpid);
    if (it === undefined) return false;
    it.held = held;
    if (!held) this.#kick();
    return true;
  }

  /** Nothing runs before start (the daemon's other processes must be up first). */
  start(): void {
    this.#started = true;
    this.#kick();
  }

  /** `smtpctl pause mda|mta`: due envelopes of that kind wait until resumed. */
  pause(kind: DeliveryKind, paused: boolean): void {
    if (paused) this.#paused.add(kind);
    else this.#paused.delete(kind);
    this.#kick();
  }

  isPaused(kind: DeliveryKind): boolean {
    return this.#paused.has(kind);
  }

  #kick(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    queueMicrotask(() => this.#tick());
  }

  #tick(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#started) return;
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    const due: Scheduled[] = [];
    for (const it of this.#items.values()) {
      if (it.held || this.#paused.has(it.kind) || this.#running.has(it.evpid)) continue;
      if (it.due <= now) due.push(it);
      else next = Math.min(next, it.due);
    }
    due.sort((a, b) => a.due - b.due);
    for (const it of due) {
      if (this.#running.size >= this.#concurrency) break;
      // Taken off the schedule while it runs: the attempt reschedules it or it is done.
      this.#items.delete(it.evpid);
      this.#running.add(it.evpid);
      this.#run(it.evpid)
        .catch(() => undefined)
        .finally(() => {
          this.#running.delete(it.evpid);
          this.#kick();
        });
    }
    if (next !== Number.POSITIVE_INFINITY && this.#running.size < this.#concurrency) {
      const ms = Math.min(Math.max(0, (next - now) * 1000), 2 ** 31 - 1);
      this.#timer = setTimeout(() => this.#tick(), ms);
      this.#timer.unref();
    }
  }
}
