// Seeded random generator of VALID smtpd.conf syntax trees (property tests, fuzzing, the
// parse benchmark). Every directive kind and option of ast.ts is produced, in an order that
// satisfies the parser's semantic rules (scope.ts, parse-*.ts): names are declared before use,
// TLS listeners have a pki, relay `auth` follows `host`, `srs` follows an `srs key`, and so on.
// Values are deliberately awkward (spaces, quotes, backslashes, unicode, `#`, `$`, keywords)
// so that the printer's quoting is exercised. No dependencies; the PRNG is mulberry32.
import type {
  ActionMethod,
  ActionOption,
  Config,
  Directive,
  Duration,
  FilterCheck,
  FilterDecision,
  FilterPhase,
  InlineEntries,
  LimitEntry,
  ListenOption,
  MatchOption,
  Pos,
  TableArg,
} from "./ast.js";
import { FILTER_PHASES } from "./ast.js";
import { MDA_LIMITS, MTA_LIMITS, SCHEDULER_LIMITS, SMTP_LIMITS } from "./directives.js";
import { KEYWORDS } from "./keywords.js";
import { printConfig } from "./printer.js";
import type { Service } from "./scope.js";

/** mulberry32: a small, fast, seedable 32-bit PRNG. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** a float in [0, 1) */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** an integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from an empty list");
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  shuffle<T>(xs: readonly T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
  /** a random subset, in random order */
  subset<T>(xs: readonly T[], p = 0.5): T[] {
    return this.shuffle(xs.filter(() => this.chance(p)));
  }
}

export interface GenOptions {
  /** how many directives to aim for (default: 5 to 60) */
  readonly size?: number;
  /** the `file` of the dummy positions */
  readonly file?: string;
}

/** The position put on generated nodes (the round-trip test strips positions). */
const posOf = (file: string): Pos => ({ file, line: 0, col: 0 });

// ---- strings ----------------------------------------------------------------------------

const PIECES: readonly string[] = [
  "a",
  "mail",
  "example.com",
  "user@example.org",
  "/usr/local/libexec/smtpd",
  " ",
  "  ",
  "\t",
  '"',
  "'",
  "''",
  "\\ ",
  "\\\t",
  '\\"',
  "\\",
  "\\x",
  "\\\\",
  "\\\\ ",
  "\\n",
  "é",
  "日本語",
  "😀",
  "ß\u00a0ü",
  "\r",
  "#",
  "# not a comment",
  "$",
  "$macro",
  "$" + "{x}",
  "{",
  "}",
  "<",
  ">",
  "<t>",
  ",",
  "=",
  "=>",
  "!",
  "(",
  ")",
  "-",
  "-1",
  "0",
  "123",
  "4d",
  ";",
  "|",
  "*",
  "%s",
  ":",
  "=\\",
];

const KW: readonly string[] = KEYWORDS;

function ident(r: Rng): string {
  const first = "abcdefghijklmnopqrstuvwxyz";
  const rest = "abcdefghijklmnopqrstuvwxyz0123456789._-";
  let s = r.pick([...first]);
  const n = r.int(0, 10);
  for (let i = 0; i < n; i++) s += r.pick([...rest]);
  return s;
}

// ---- the generator ----------------------------------------------------------------------

interface TableInfo {
  /** "none": `file` or `static` with no path, which no use accepts */
  readonly shape: "list" | "map" | "any" | "none";
  /** getpwnam tables serve userinfo lookups only */
  readonly userinfoOnly: boolean;
}

const SERVICES: Readonly<Record<string, number>> = {
  smtp: 25,
  smtps: 465,
  submissions: 465,
  urd: 465,
  submission: 587,
  lmtp: 24,
};
type CheckWord = "fcrdns" | "rdns" | "src" | "helo" | "auth" | "mail-from" | "rcpt-to";
const GLOBAL_CHECKS: readonly CheckWord[] = ["fcrdns", "rdns", "src"];
const UP_TO_MAIL: readonly CheckWord[] = [...GLOBAL_CHECKS, "helo", "auth", "mail-from"];
const PHASE_CHECKS: Readonly<Record<FilterPhase, readonly CheckWord[]>> = {
  connect: GLOBAL_CHECKS,
  helo: [...GLOBAL_CHECKS, "helo"],
  ehlo: [...GLOBAL_CHECKS, "helo"],
  auth: [...GLOBAL_CHECKS, "helo", "auth"],
  "mail-from": UP_TO_MAIL,
  "rcpt-to": [...UP_TO_MAIL, "rcpt-to"],
  data: UP_TO_MAIL,
  commit: UP_TO_MAIL,
};

type Kind =
  | "admd"
  | "bounce"
  | "ca"
  | "pki"
  | "pki-name"
  | "mda-wrapper"
  | "mda-limit"
  | "mta-max-deferred"
  | "mta-limit"
  | "proc"
  | "queue-compression"
  | "queue-encryption"
  | "queue-ttl"
  | "scheduler-limit"
  | "smtp-limit"
  | "smtp-ciphers"
  | "smtp-max-message-size"
  | "smtp-sub-addr-delim"
  | "srs-key"
  | "srs-ttl"
  | "table"
  | "listen"
  | "action"
  | "match"
  | "filter";

const WEIGHTS: readonly (readonly [Kind, number])[] = [
  ["admd", 1],
  ["bounce", 1],
  ["ca", 2],
  ["pki", 3],
  ["pki-name", 1],
  ["mda-wrapper", 2],
  ["mda-limit", 1],
  ["mta-max-deferred", 1],
  ["mta-limit", 1],
  ["proc", 2],
  ["queue-compression", 1],
  ["queue-encryption", 1],
  ["queue-ttl", 1],
  ["scheduler-limit", 1],
  ["smtp-limit", 1],
  ["smtp-ciphers", 1],
  ["smtp-max-message-size", 1],
  ["smtp-sub-addr-delim", 1],
  ["srs-key", 1],
  ["srs-ttl", 1],
  ["table", 8],
  ["listen", 4],
  ["action", 6],
  ["match", 8],
  ["filter", 5],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((n, [, w]) => n + w, 0);

export class ConfigGenerator {
  readonly r: Rng;
  private readonly P: Pos;
  private readonly used = new Set<string>();
  private readonly tables = new Map<string, TableInfo>();
  private readonly pkis: string[] = [];
  private readonly cas: string[] = [];
  private readonly procs: string[] = [];
  private readonly filters = new Map<string, { chain: boolean; proc: string | null }>();
  private readonly wrappers: string[] = [];
  private readonly dispatchers: string[] = [];
  private hasSrsKey = false;
  private hasSocket = false;

  constructor(seed: number, opts: GenOptions = {}) {
    this.r = new Rng(seed);
    this.P = posOf(opts.file ?? "gen.conf");
  }

  // ---- values ---------------------------------------------------------------------------

  /** An awkward string: may hold anything but a newline or NUL. */
  str(): string {
    const r = this.r;
    const x = r.next();
    let s: string;
    if (x < 0.2) s = ident(r);
    else if (x < 0.3) s = r.pick(KW);
    else if (x < 0.33) s = "";
    else if (x < 0.4) s = String(r.int(-5, 100000));
    else {
      s = "";
      const n = r.int(1, 5);
      for (let i = 0; i < n; i++) s += r.chance(0.3) ? ident(r) : r.pick(PIECES);
    }
    return s;
  }

  /** A fresh name (never used for anything else in this config). */
  name(): string {
    for (let i = 0; i < 5; i++) {
      const s = this.str();
      if (!this.used.has(s)) {
        this.used.add(s);
        return s;
      }
    }
    const s = `${this.str()}#${this.used.size}`;
    this.used.add(s);
    return s;
  }

  /** A fresh lower-case name that res_hnok() accepts (pki and ca names). */
  hostName(): string {
    const r = this.r;
    for (let i = 0; ; i++) {
      let s: string;
      const x = r.next();
      if (x < 0.15) s = r.pick(["tls", "pki", "from", "match", "cert", "key", "ca", "any"]);
      else if (x < 0.2) s = "*";
      else if (x < 0.3) s = `${r.int(0, 255)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(0, 255)}`;
      else {
        const labels: string[] = [];
        const n = r.int(1, 4);
        for (let j = 0; j < n; j++) {
          let l = r.pick(["mx", "mail", "_dmarc", "a", "x1", "example", "com", "9", "smtp"]);
          if (r.chance(0.3)) l += `-${r.int(0, 99)}`;
          labels.push(l);
        }
        s = labels.join(".");
        if (r.chance(0.1)) s += ".";
      }
      if (i > 4) s = `h${this.used.size}.${s === "*" ? "x" : s}`;
      if (!this.used.has(`host:${s}`)) {
        this.used.add(`host:${s}`);
        return s;
      }
    }
  }

  /** A (possibly upper-cased) spelling of a declared pki or ca name. */
  private spell(name: string): string {
    return this.r.chance(0.3) ? name.toUpperCase() : name;
  }

  duration(minSeconds = 1): Duration {
    const r = this.r;
    for (;;) {
      const unit = r.pick(["s", "m", "h", "d"] as const);
      const n = r.int(1, r.chance(0.1) ? 100000 : 60);
      const factor = { s: 1, m: 60, h: 3600, d: 86400 }[unit];
      if (n * factor > 2147483647 || n * factor < minSeconds) continue;
      const text = `${r.chance(0.1) ? "0" : ""}${n}${unit}`;
      return { text, seconds: n * factor };
    }
  }

  /** A NUMBER as written and its value: int64, so past 2^53 the value is rounded. */
  limitValue(): { value: number; text: string } {
    const r = this.r;
    const x = r.next();
    let text: string;
    if (x < 0.1) text = r.pick(["0", "-0", "00", "007"]);
    else if (x < 0.15) text = String(-r.int(1, 100));
    else if (x < 0.2) text = String(Number.MAX_SAFE_INTEGER);
    else if (x < 0.25)
      text = r.pick(["9223372036854775807", "-9223372036854775808", "9007199254740993"]);
    else text = String(r.int(1, 100000));
    return { value: Number(BigInt(text)), text };
  }

  limits(keys: readonly string[], families = false): LimitEntry[] {
    const n = this.r.int(0, 4);
    const out: LimitEntry[] = [];
    for (let i = 0; i < n; i++) {
      if (families && this.r.chance(0.2)) out.push({ family: this.r.pick(["inet4", "inet6"]) });
      else out.push({ key: this.r.pick(keys), ...this.limitValue() });
    }
    return out;
  }

  inlineEntries(shape: "list" | "map"): InlineEntries {
    const n = this.r.int(1, 5);
    if (shape === "list") {
      const values: string[] = [];
      for (let i = 0; i < n; i++) values.push(this.str());
      return { type: "list", values };
    }
    const pairs: [string, string][] = [];
    for (let i = 0; i < n; i++) pairs.push([this.str(), this.str()]);
    return { type: "map", pairs };
  }

  /** A table argument that scope.checkUse accepts for this shape and service. */
  tableArg(want: "list" | "map" | "either", service: Service | null): TableArg {
    const r = this.r;
    const refs = [...this.tables].filter(
      ([, t]) =>
        t.shape !== "none" &&
        (t.shape === "any" || want === "either" || t.shape === want) &&
        (!t.userinfoOnly || service === "userinfo"),
    );
    const x = r.next();
    if (refs.length > 0 && x < 0.45) return { kind: "ref", name: r.pick(refs)[0], pos: this.P };
    const shape = want === "either" ? r.pick(["list", "map"] as const) : want;
    if (shape === "list" && x < 0.65)
      return {
        kind: "inline",
        braced: false,
        entries: { type: "list", values: [this.str()] },
        pos: this.P,
      };
    return { kind: "inline", braced: true, entries: this.inlineEntries(shape), pos: this.P };
  }

  /** `filter NAME` or `filter { a, b }`, from the filters declared so far (null if none). */
  filterRef():
    | { kind: "filter"; name: string }
    | { kind: "filter-chain"; filters: string[] }
    | null {
    if (this.filters.size === 0) return null;
    if (this.r.chance(0.5)) return { kind: "filter", name: this.r.pick([...this.filters.keys()]) };
    const filters = this.chainList();
    if (filters === null) return { kind: "filter", name: this.r.pick([...this.filters.keys()]) };
    return { kind: "filter-chain", filters };
  }

  /** Non-chain filters, no proc twice (parser.filterList); null when there are none. */
  private chainList(): string[] | null {
    const procs = new Set<string>();
    const out: string[] = [];
    for (const [name, f] of this.r.shuffle([...this.filters])) {
      if (f.chain) continue;
      if (f.proc !== null && procs.has(f.proc)) continue;
      if (out.length > 0 && this.r.chance(0.4)) continue;
      if (f.proc !== null) procs.add(f.proc);
      out.push(name);
    }
    return out.length > 0 ? out : null;
  }

  // ---- directives -----------------------------------------------------------------------

  private pickKind(): Kind {
    let x = this.r.next() * TOTAL_WEIGHT;
    for (const [k, w] of WEIGHTS) {
      x -= w;
      if (x < 0) return k;
    }
    return "match";
  }

  /** One directive of this kind, or null when what it needs is not declared yet. */
  directive(kind: Kind): Directive | null {
    const r = this.r;
    const pos = this.P;
    switch (kind) {
      case "admd": {
        const v = this.str().replace(/[^\x20-\x7e]/g, "");
        return { kind: "admd", value: v, pos };
      }
      case "bounce": {
        const warnIntervals: Duration[] = [];
        const n = r.int(1, 4);
        for (let i = 0; i < n; i++) warnIntervals.push(this.duration());
        return { kind: "bounce", warnIntervals, pos };
      }
      case "ca": {
        const name = this.hostName();
        this.cas.push(name);
        return { kind: "ca", name, cert: this.str(), pos };
      }
      case "pki": {
        const name = r.chance(0.5) && this.pkis.length > 0 ? r.pick(this.pkis) : this.hostName();
        if (!this.pkis.includes(name)) this.pkis.push(name);
        const param = r.pick(["cert", "key", "dhe"] as const);
        const value =
          param === "dhe" ? r.pick(["none", "auto", "legacy", "AUTO", "None"]) : this.str();
        return { kind: "pki", name, param, value, pos };
      }
      case "pki-name": {
        const name = this.hostName();
        this.pkis.push(name);
        return { kind: "pki-name", name, pos };
      }
      case "mda-wrapper": {
        const name = this.name();
        this.wrappers.push(name);
        return { kind: "mda-wrapper", name, command: this.str(), pos };
      }
      case "mda-limit":
        return { kind: "mda-limit", limits: this.limits(MDA_LIMITS), pos };
      case "mta-max-deferred":
        return { kind: "mta-max-deferred", ...this.limitValue(), pos };
      case "mta-limit":
        return {
          kind: "mta-limit",
          domain: r.chance(0.5) ? this.str() : null,
          limits: this.limits(MTA_LIMITS, true),
          pos,
        };
      case "proc": {
        const name = this.name();
        this.procs.push(name);
        return { kind: "proc", name, command: this.str(), ...this.procParams(), pos };
      }
      case "queue-compression":
        return { kind: "queue-compression", pos };
      case "queue-encryption": {
        const x = r.next();
        let key: string | null = null;
        if (x < 0.3) key = "stdin";
        else if (x < 0.7) {
          // exactly 32 bytes, awkward characters included
          let k = "";
          while (Buffer.byteLength(k) < 32) {
            const c = r.pick([
              "a",
              "Z",
              "9",
              " ",
              "#",
              "$",
              "'",
              '"',
              "é",
              "\\ ",
              "\\",
              '\\"',
              "{",
            ]);
            if (Buffer.byteLength(k + c) <= 32) k += c;
          }
          key = k;
        }
        return { kind: "queue-encryption", key, pos };
      }
      case "queue-ttl":
        return { kind: "queue-ttl", ttl: this.duration(), pos };
      case "scheduler-limit":
        return { kind: "scheduler-limit", limits: this.limits(SCHEDULER_LIMITS), pos };
      case "smtp-limit":
        return { kind: "smtp-limit", limits: this.limits(SMTP_LIMITS), pos };
      case "smtp-ciphers":
        return { kind: "smtp-ciphers", value: this.str(), pos };
      case "smtp-max-message-size": {
        const x = r.next();
        if (x < 0.4) {
          const n = r.int(0, 1e9);
          return { kind: "smtp-max-message-size", bytes: n, text: String(n), pos };
        }
        const [text, bytes] = r.pick([
          ["35M", 35 * 1024 ** 2],
          ["35m", 35 * 1024 ** 2],
          ["1.5G", 1.5 * 1024 ** 3],
          ["10K", 10240],
          ["100B", 100],
          ["2T", 2 * 1024 ** 4],
          ["0.5k", 512],
          ["0010M", 10 * 1024 ** 2],
          // NUMBER tokens written as they were
          ["-0", 0],
          ["00", 0],
          ["9223372036854775807", 2 ** 63],
        ] as const);
        return { kind: "smtp-max-message-size", bytes, text, pos };
      }
      case "smtp-sub-addr-delim": {
        // one printable character, not a space, not @
        const chars = [..."!\"#$%&'()*+,-./0123456789:;<=>?ABZ[\\]^_`az{|}~"];
        return { kind: "smtp-sub-addr-delim", value: r.pick(chars), pos };
      }
      case "srs-key": {
        const backup = r.chance(0.3);
        if (!backup) this.hasSrsKey = true;
        return { kind: "srs-key", backup, value: this.str(), pos };
      }
      case "srs-ttl":
        return { kind: "srs-ttl", ttl: this.duration(86400), pos };
      case "table":
        return this.table();
      case "listen":
        return this.listen();
      case "action":
        return this.action();
      case "match":
        return this.match();
      case "filter":
        return this.filter();
    }
  }

  private procParams(): { user: string | null; group: string | null; chroot: string | null } {
    return {
      user: this.r.chance(0.4) ? this.str() : null,
      group: this.r.chance(0.3) ? this.str() : null,
      chroot: this.r.chance(0.3) ? this.str() : null,
    };
  }

  private table(): Directive {
    const r = this.r;
    const name = this.name();
    const pos = this.P;
    if (r.chance(0.6)) {
      const entries = this.inlineEntries(r.pick(["list", "map"] as const));
      this.tables.set(name, { shape: entries.type, userinfoOnly: false });
      return { kind: "table", name, source: { kind: "inline", entries }, pos };
    }
    const path = `/${this.str()}`;
    const x = r.next();
    let backend: string;
    let config: string | null;
    let raw: string;
    if (x < 0.25) [backend, config, raw] = ["static", path, path];
    else if (x < 0.4) [backend, config, raw] = ["getpwnam", null, "getpwnam"];
    else if (x < 0.5) [backend, config, raw] = ["static", null, "static"];
    else {
      backend = r.pick(["file", "db", "ldap", "sqlite", "postgres", "static", "x-y_z"]);
      config = path;
      raw = `${backend}:${path}`;
    }
    const shape = config === null && backend === "static" ? "none" : "any";
    this.tables.set(name, { shape, userinfoOnly: backend === "getpwnam" });
    return { kind: "table", name, source: { kind: "backend", backend, config, raw }, pos };
  }

  private listen(): Directive | null {
    const r = this.r;
    const pos = this.P;
    if (!this.hasSocket && r.chance(0.25)) {
      this.hasSocket = true;
      const options: ListenOption[] = [];
      for (const k of r.subset(["filter", "mask-src", "no-dsn", "tag"] as const)) {
        if (k === "filter") {
          const f = this.filterRef();
          if (f !== null) options.push(f);
        } else if (k === "tag") options.push({ kind: "tag", value: this.tag() });
        else options.push({ kind: k });
      }
      return { kind: "listen", target: { socket: true }, options, pos };
    }
    const options: ListenOption[] = [];
    const tls = this.pkis.length > 0 && r.chance(0.6);
    const kinds = r.subset(
      [
        "family",
        "port",
        "filter",
        "ciphers",
        "protocols",
        "ca",
        "hostname",
        "auth",
        "tag",
        "hostnames",
        "senders",
        "mask-src",
        "received-auth",
        "no-dsn",
        "proxy-v2",
        ...(tls ? (["tls-mode", "pki", "pki"] as const) : []),
      ] as const,
      0.35,
    );
    if (tls) {
      if (!kinds.includes("tls-mode")) kinds.splice(r.int(0, kinds.length), 0, "tls-mode");
      if (!kinds.includes("pki")) kinds.splice(r.int(0, kinds.length), 0, "pki");
    }
    for (const k of kinds) {
      switch (k) {
        case "family":
          options.push({ kind: "family", family: r.pick(["inet4", "inet6"]) });
          break;
        case "port":
          if (r.chance(0.7)) {
            const port = r.int(1, 65535);
            options.push({ kind: "port", port, text: String(port) });
          } else {
            const text = r.pick(Object.keys(SERVICES));
            options.push({ kind: "port", port: SERVICES[text]!, text });
          }
          break;
        case "filter": {
          const f = this.filterRef();
          if (f !== null) options.push(f);
          break;
        }
        case "tls-mode": {
          const mode = r.pick(["tls", "tls-require", "smtps"] as const);
          options.push({ kind: "tls-mode", mode, verify: mode !== "tls" && r.chance(0.5) });
          break;
        }
        case "pki":
          options.push({ kind: "pki", value: this.spell(r.pick(this.pkis)) });
          break;
        case "ca":
          if (this.cas.length > 0)
            options.push({ kind: "ca", value: this.spell(r.pick(this.cas)) });
          break;
        case "ciphers":
        case "protocols":
        case "hostname":
          options.push({ kind: k, value: this.str() });
          break;
        case "auth":
          if (tls)
            options.push({
              kind: "auth",
              optional: r.chance(0.5),
              table: r.chance(0.6) ? this.tableArg("either", null) : null,
            });
          break;
        case "tag":
          options.push({ kind: "tag", value: this.tag() });
          break;
        case "hostnames":
          options.push({ kind: "hostnames", table: this.tableArg("map", "addrname") });
          break;
        case "senders":
          options.push({
            kind: "senders",
            table: this.tableArg("map", "mailaddrmap"),
            masquerade: r.chance(0.5),
          });
          break;
        default:
          options.push({ kind: k });
      }
    }
    return { kind: "listen", target: { ifx: this.str() }, options, pos };
  }

  /** A listener tag: shorter than 32 bytes. */
  private tag(): string {
    let s = this.str();
    while (Buffer.byteLength(s) >= 32) s = s.slice(0, -1);
    // slicing may split a surrogate pair
    return s.replace(/[\ud800-\udbff]$/, "");
  }

  private action(): Directive {
    const r = this.r;
    const name = this.name();
    let method: ActionMethod;
    const m = r.pick([
      "mbox",
      "maildir",
      "lmtp",
      "mda",
      "forward-only",
      "expand-only",
      "relay",
      "relay",
    ] as const);
    if (m === "maildir")
      method = { kind: "maildir", path: r.chance(0.6) ? this.str() : null, junk: r.chance(0.4) };
    else if (m === "lmtp")
      method = { kind: "lmtp", destination: this.str(), rcptTo: r.chance(0.4) };
    else if (m === "mda") method = { kind: "mda", command: this.str() };
    else method = { kind: m };
    const options = m === "relay" ? this.remoteOptions() : this.localOptions(method);
    if (r.chance(0.3)) options.push({ kind: "ttl", ttl: this.duration() });
    this.dispatchers.push(name);
    return { kind: "action", name, method, options, pos: this.P };
  }

  private localOptions(method: ActionMethod): ActionOption[] {
    const r = this.r;
    const out: ActionOption[] = [];
    const userOk = !["mbox", "forward-only", "expand-only"].includes(method.kind);
    const kinds = r.subset(["user", "mapping", "userbase", "wrapper", "wrapper"] as const);
    for (const k of kinds) {
      if (k === "user" && userOk) out.push({ kind: "user", value: this.str() });
      else if (k === "mapping")
        out.push({
          kind: r.pick(["alias", "virtual"] as const),
          table: this.tableArg("map", "alias"),
        });
      else if (k === "userbase")
        out.push({ kind: "userbase", table: this.tableArg("map", "userinfo") });
      else if (k === "wrapper" && this.wrappers.length > 0)
        out.push({ kind: "wrapper", value: r.pick(this.wrappers) });
    }
    return out;
  }

  private remoteOptions(): ActionOption[] {
    const r = this.r;
    const out: ActionOption[] = [];
    const kinds = r.subset(
      [
        "helo",
        "pki",
        "ca",
        "ciphers",
        "protocols",
        "mail-from",
        "helo-src",
        "src",
        "route",
        "tls",
        "auth",
        "filter",
        "srs",
      ] as const,
      0.4,
    );
    let routed = false;
    for (const k of kinds) {
      switch (k) {
        case "helo":
        case "pki":
        case "ca":
        case "ciphers":
        case "protocols":
        case "mail-from":
          out.push({ kind: k, value: this.str() });
          break;
        case "helo-src":
          out.push({ kind: "helo-src", table: this.tableArg("map", "addrname") });
          break;
        case "src":
          out.push({ kind: "src", table: this.tableArg("list", "source") });
          break;
        case "route": {
          const x = r.next();
          if (x < 0.3) out.push({ kind: "backup", mx: r.chance(0.5) ? this.str() : null });
          else {
            routed = true;
            if (x < 0.7) out.push({ kind: "host", table: this.tableArg("list", "relayhost") });
            else out.push({ kind: "domain", table: this.tableArg("map", "relayhost") });
          }
          break;
        }
        case "tls":
          out.push({ kind: "tls", noVerify: r.chance(0.5) });
          break;
        case "auth":
          // `auth` needs `host` or `domain` before it
          if (routed) out.push({ kind: "auth", table: this.tableArg("map", "credentials") });
          break;
        case "filter": {
          const f = this.filterRef();
          if (f !== null) out.push(f);
          break;
        }
        case "srs":
          if (this.hasSrsKey) out.push({ kind: "srs" });
          break;
      }
    }
    return out;
  }

  private match(): Directive {
    const r = this.r;
    const P = this.P;
    const options: MatchOption[] = [];
    const flags = new Set<string>();
    const take = (...fs: string[]): boolean => {
      if (fs.some((f) => flags.has(f))) return false;
      for (const f of fs) flags.add(f);
      return true;
    };
    const n = r.int(0, 6);
    for (let i = 0; i < n; i++) {
      const negated = r.chance(0.25);
      const regex = r.chance(0.3);
      const svc = (s: Service): Service => (regex ? "regex" : s);
      const k = r.pick([
        "tag",
        "helo",
        "mail-from",
        "rcpt-to",
        "auth",
        "tls",
        "from",
        "from",
        "for",
        "for",
      ] as const);
      switch (k) {
        case "tag":
        case "helo":
        case "mail-from":
        case "rcpt-to": {
          if (!take(k)) break;
          const s = k === "tag" ? "string" : k === "helo" ? "domain" : "mailaddr";
          options.push({ kind: k, negated, pos: P, regex, table: this.tableArg("either", svc(s)) });
          break;
        }
        case "tls":
          if (take("tls")) options.push({ kind: "tls", negated, pos: P });
          break;
        case "auth":
          if (!take("auth")) break;
          options.push(
            r.chance(0.4)
              ? { kind: "auth", negated, pos: P, regex: false, table: null }
              : {
                  kind: "auth",
                  negated,
                  pos: P,
                  regex,
                  table: this.tableArg("either", svc("credentials")),
                },
          );
          break;
        case "from": {
          const f = r.pick(["socket", "local", "any", "src", "rdns", "auth", "mail-from"] as const);
          if (f === "socket" || f === "local" || f === "any") {
            if (take("from")) options.push({ kind: `from-${f}`, negated, pos: P });
          } else if (f === "src") {
            if (take("from"))
              options.push({
                kind: "from-src",
                negated,
                pos: P,
                regex,
                table: this.tableArg("either", svc("netaddr")),
              });
          } else if (f === "rdns" || f === "auth") {
            if (!(f === "auth" ? take("from", "auth") : take("from"))) break;
            const kind = f === "rdns" ? "from-rdns" : "from-auth";
            options.push(
              r.chance(0.4)
                ? { kind, negated, pos: P, regex: false, table: null }
                : {
                    kind,
                    negated,
                    pos: P,
                    regex,
                    table: this.tableArg("either", svc(f === "rdns" ? "domain" : "credentials")),
                  },
            );
          } else if (take("from", "mail-from"))
            options.push({
              kind: "from-mail-from",
              negated,
              pos: P,
              regex,
              table: this.tableArg("either", svc("mailaddr")),
            });
          break;
        }
        case "for": {
          const f = r.pick(["local", "any", "domain", "rcpt-to"] as const);
          if (f === "local" || f === "any") {
            if (take("for")) options.push({ kind: `for-${f}`, negated, pos: P });
          } else if (f === "domain") {
            if (take("for"))
              options.push({
                kind: "for-domain",
                negated,
                pos: P,
                regex,
                table: this.tableArg("either", svc("domain")),
              });
          } else if (take("for", "rcpt-to"))
            options.push({
              kind: "for-rcpt-to",
              negated,
              pos: P,
              regex,
              table: this.tableArg("either", svc("mailaddr")),
            });
          break;
        }
      }
    }
    const action = this.dispatchers.length > 0 && r.chance(0.8) ? r.pick(this.dispatchers) : null;
    return { kind: "match", options, action, pos: P };
  }

  private filter(): Directive | null {
    const r = this.r;
    const pos = this.P;
    const x = r.next();
    if (x < 0.2 && this.procs.length > 0) {
      const name = this.name();
      const proc = r.pick(this.procs);
      this.filters.set(name, { chain: false, proc });
      return { kind: "filter-proc", name, proc, pos };
    }
    if (x < 0.4) {
      const name = this.name();
      this.filters.set(name, { chain: false, proc: name });
      this.procs.push(name);
      return { kind: "filter-proc-exec", name, command: this.str(), ...this.procParams(), pos };
    }
    if (x < 0.55) {
      const filters = this.chainList();
      if (filters === null) return null;
      const name = this.name();
      this.filters.set(name, { chain: true, proc: null });
      return { kind: "filter-chain", name, filters, pos };
    }
    const name = this.name();
    this.filters.set(name, { chain: false, proc: null });
    const phase: FilterPhase = r.pick(FILTER_PHASES);
    const word = r.pick(PHASE_CHECKS[phase]);
    const negated = r.chance(0.3);
    const regex = r.chance(0.3);
    let check: FilterCheck;
    const table = () => this.tableArg("either", null);
    if (word === "fcrdns") check = { kind: "fcrdns", negated };
    else if (word === "rdns" || word === "auth") {
      check = r.chance(0.5)
        ? { kind: word, negated }
        : { kind: word === "rdns" ? "rdns-table" : "auth-table", negated, regex, table: table() };
    } else check = { kind: word, negated, regex, table: table() };
    let decision: FilterDecision;
    const d = r.pick(["junk", "bypass", "reject", "disconnect", "rewrite", "report"] as const);
    if (d === "junk" || d === "bypass") {
      decision = phase === "commit" ? { kind: "reject", value: this.str() } : { kind: d };
    } else decision = { kind: d, value: this.str() };
    return { kind: "filter-builtin", name, phase, check, decision, pos };
  }

  /** A whole configuration: `size` directives in a random valid order, then a match rule. */
  config(size?: number): Config {
    const n = size ?? this.r.int(5, 60);
    const directives: Directive[] = [];
    while (directives.length < n) {
      const d = this.directive(this.pickKind());
      if (d !== null) directives.push(d);
    }
    if (!directives.some((d) => d.kind === "match")) directives.push(this.match());
    return { directives };
  }
}

/** A random valid configuration (syntax tree) for this seed. */
export function genConfig(seed: number, opts: GenOptions = {}): Config {
  return new ConfigGenerator(seed, opts).config(opts.size);
}

/** The same configuration as canonical smtpd.conf text. */
export function genConfigText(seed: number, opts: GenOptions = {}): string {
  return printConfig(genConfig(seed, opts));
}
