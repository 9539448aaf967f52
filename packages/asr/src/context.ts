// Resolver context: configuration (resolv.conf + hosts) with mtime-based reload, the
// transport, the concurrency limit and the rotation counter. The counterpart of libasr's
// asr_ctx; queries take a snapshot, so a reload never changes a query already running.

import { readFile, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { type HostsTable, parseHosts } from "./hosts.js";
import { defaultConf, parseResolvConf, type ResolvConf, type Server } from "./resolv-conf.js";
import { nodeTransport, type Transport } from "./transport.js";

export type ContextOptions = {
  /** Path of resolv.conf (default /etc/resolv.conf), or its text with `resolvConfText`. */
  resolvConfPath?: string;
  resolvConfText?: string;
  hostsPath?: string;
  hostsText?: string;
  /** How often files are re-checked (libasr RELOAD_DELAY is 15 s). */
  reloadIntervalMs?: number;
  /** Overrides the servers of the resolv.conf. */
  servers?: Server[];
  /** EDNS0 UDP payload size advertised (DNS Flag Day 2020: 1232). */
  udpSize?: number;
  /** Randomise the case of query names and require it back (draft-vixie-dnsext-dns0x20). */
  use0x20?: boolean;
  /** Bound on queries in flight; further queries wait. */
  maxInflight?: number;
  /** Bound on waiting queries; beyond it queries fail at once with a network error. */
  maxQueued?: number;
  /** Overall deadline of one query across all servers and rounds. */
  deadlineMs?: number;
  transport?: Transport;
  hostname?: string;
  env?: { RES_OPTIONS?: string; LOCALDOMAIN?: string };
};

export type Snapshot = { conf: ResolvConf; hosts: HostsTable; trusted: boolean };

type Watched<T> = { path: string; mtimeMs: number; checkedAt: number; value: T };

const TRUSTED = new Set(["127.0.0.1", "::1"]);

export class ResolverContext {
  readonly options: ContextOptions;
  readonly transport: Transport;
  private conf: Watched<ResolvConf> | null = null;
  private hosts: Watched<HostsTable> | null = null;
  /** The snapshot handed out until nextCheckMs, and the parsed resolv.conf it came from. */
  private current: Snapshot | null = null;
  private baseConf: ResolvConf | null = null;
  private nextCheckMs = 0;
  private rotation = 0;
  private inflight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: ContextOptions = {}) {
    this.options = options;
    this.transport = options.transport ?? nodeTransport;
  }

  private parse(text: string | null): ResolvConf {
    const host = this.options.hostname ?? hostname();
    if (text === null) return defaultConf(host);
    const env = this.options.env ?? {};
    return parseResolvConf(text, {
      hostname: host,
      resOptions: env.RES_OPTIONS,
      localDomain: env.LOCALDOMAIN,
    });
  }

  private async watch<T>(
    cur: Watched<T> | null,
    path: string,
    parse: (t: string | null) => T,
  ): Promise<Watched<T>> {
    const now = Date.now();
    const interval = this.options.reloadIntervalMs ?? 15000;
    if (cur && now - cur.checkedAt < interval) return cur;
    let mtimeMs = -1;
    try {
      mtimeMs = (await stat(path)).mtimeMs;
    } catch {
      mtimeMs = -1;
    }
    if (cur && cur.mtimeMs === mtimeMs) return { ...cur, checkedAt: now };
    let text: string | null = null;
    if (mtimeMs >= 0) {
      try {
        text = await readFile(path, "latin1");
      } catch {
        text = null;
      }
    }
    return { path, mtimeMs, checkedAt: now, value: parse(text) };
  }

  /**
   * The current configuration; re-reads the files when their mtime changed. Between checks
   * (reloadIntervalMs) the same snapshot is handed out without touching the file system.
   */
  async snapshot(): Promise<Snapshot> {
    return this.snapshotNow() ?? (await this.reload());
  }

  /** The snapshot without waiting, or null when the files are due for a check (use snapshot()). */
  snapshotNow(): Snapshot | null {
    const s = this.current;
    if (s) {
      // Text options never change: no clock reading needed.
      if (this.nextCheckMs === Number.POSITIVE_INFINITY || Date.now() < this.nextCheckMs) return s;
      return null;
    }
    const o = this.options;
    return o.resolvConfText !== undefined && o.hostsText !== undefined ? this.assemble() : null;
  }

  private async reload(): Promise<Snapshot> {
    const o = this.options;
    if (o.resolvConfText === undefined)
      this.conf = await this.watch(this.conf, o.resolvConfPath ?? "/etc/resolv.conf", (t) =>
        this.parse(t),
      );
    if (o.hostsText === undefined)
      this.hosts = await this.watch(this.hosts, o.hostsPath ?? "/etc/hosts", (t) =>
        parseHosts(t ?? ""),
      );
    return this.assemble();
  }

  /** Builds the snapshot from the files read (or the texts given); keeps it when nothing changed. */
  private assemble(): Snapshot {
    const o = this.options;
    if (o.resolvConfText !== undefined)
      this.conf ??= { path: "", mtimeMs: 0, checkedAt: 0, value: this.parse(o.resolvConfText) };
    if (o.hostsText !== undefined)
      this.hosts ??= { path: "", mtimeMs: 0, checkedAt: 0, value: parseHosts(o.hostsText) };
    if (!this.conf || !this.hosts) throw new Error("resolver context assembled before loading");
    const conf0 = this.conf.value;
    const hosts = this.hosts.value;
    let snap = this.current;
    if (!snap || snap.hosts !== hosts || this.baseConf !== conf0) {
      const conf = o.servers ? { ...conf0, nameservers: o.servers } : conf0;
      // libasr: AD is trusted with trust-ad, or when every server is exactly 127.0.0.1 or ::1.
      const trusted = conf.trustAd || conf.nameservers.every((s) => TRUSTED.has(s.address));
      snap = { conf, hosts, trusted };
      this.current = snap;
      this.baseConf = conf0;
    }
    // Text given in the options never changes; files are due again one interval after their check.
    let checked = Number.POSITIVE_INFINITY;
    if (o.resolvConfText === undefined) checked = this.conf.checkedAt;
    if (o.hostsText === undefined) checked = Math.min(checked, this.hosts.checkedAt);
    this.nextCheckMs = checked + (o.reloadIntervalMs ?? 15000);
    return snap;
  }

  /** The index of the first server to try (round-robin under `options rotate`). */
  firstServer(conf: ResolvConf): number {
    if (!conf.rotate || conf.nameservers.length === 0) return 0;
    this.rotation = (this.rotation + 1) % conf.nameservers.length;
    return this.rotation;
  }

  /**
   * Takes a slot in the in-flight bound: true at once when one is free (no promise, so no
   * extra turn of the event loop), else a promise of true once one frees up, or false when
   * the wait queue is full.
   */
  acquire(): true | Promise<boolean> {
    const max = this.options.maxInflight ?? 256;
    if (this.inflight < max) {
      this.inflight++;
      return true;
    }
    if (this.waiting.length >= (this.options.maxQueued ?? 10000)) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => this.waiting.push(() => resolve(true)));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inflight--;
  }
}
