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

  /** The current configuration; re-reads the files when their mtime changed. */
  async snapshot(): Promise<Snapshot> {
    const o = this.options;
    if (o.resolvConfText !== undefined)
      this.conf ??= { path: "", mtimeMs: 0, checkedAt: 0, value: this.parse(o.resolvConfText) };
    else
      this.conf = await this.watch(this.conf, o.resolvConfPath ?? "/etc/resolv.conf", (t) =>
        this.parse(t),
      );
    if (o.hostsText !== undefined)
      this.hosts ??= { path: "", mtimeMs: 0, checkedAt: 0, value: parseHosts(o.hostsText) };
    else
      this.hosts = await this.watch(this.hosts, o.hostsPath ?? "/etc/hosts", (t) =>
        parseHosts(t ?? ""),
      );
    let conf = this.conf.value;
    if (o.servers) conf = { ...conf, nameservers: o.servers };
    // libasr: AD is trusted with trust-ad, or when every server is exactly 127.0.0.1 or ::1.
    const trusted = conf.trustAd || conf.nameservers.every((s) => TRUSTED.has(s.address));
    return { conf, hosts: this.hosts.value, trusted };
  }

  /** The index of the first server to try (round-robin under `options rotate`). */
  firstServer(conf: ResolvConf): number {
    if (!conf.rotate || conf.nameservers.length === 0) return 0;
    this.rotation = (this.rotation + 1) % conf.nameservers.length;
    return this.rotation;
  }

  /** Takes a slot in the in-flight bound; resolves to false when the wait queue is full. */
  async acquire(): Promise<boolean> {
    const max = this.options.maxInflight ?? 256;
    if (this.inflight < max) {
      this.inflight++;
      return true;
    }
    if (this.waiting.length >= (this.options.maxQueued ?? 10000)) return false;
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    return true;
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inflight--;
  }
}
