// Table lookups of the lookup role: inline and file tables with table(5)'s matching rules
// per service, and the daemon's implicit tables (<localhost>, <localnames>, ...).
import { BlockList, isIP } from "node:net";
import { networkInterfaces } from "node:os";
import type { InlineEntries, TableArg } from "../config/ast.js";
import type { Model, TableModel } from "../config/model.js";
import { parseTableFile } from "../config/table-file.js";

export type MatchService = "domain" | "mailaddr" | "netaddr" | "string" | "regex" | "credentials";

/** Loaded contents: a list of values, or a mapping. */
export interface TableData {
  readonly values: readonly string[];
  readonly map: ReadonlyMap<string, string>;
}

export type TableResult =
  | { kind: "found"; value: string | null }
  | { kind: "not-found" }
  | { kind: "tempfail"; reason: string };

const fromEntries = (e: InlineEntries): TableData =>
  e.type === "list"
    ? { values: e.values, map: new Map() }
    : {
        values: e.pairs.map(([k]) => k),
        map: new Map(e.pairs.map(([k, v]) => [k, v] as [string, string])),
      };

const stripBrackets = (s: string) => (s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : s);

export function domainMatches(entry: string, domain: string): boolean {
  const e = entry.toLowerCase();
  const d = domain.toLowerCase();
  if (e === "*") return true;
  if (e.startsWith("*.")) return d.endsWith(e.slice(1));
  return e === d;
}

/** mailaddr entries: `user`, `@domain`, `user@domain` (domain may be `*.domain`). */
export function mailaddrMatches(entry: string, address: string): boolean {
  const at = address.lastIndexOf("@");
  const user = (at < 0 ? address : address.slice(0, at)).toLowerCase();
  const domain = at < 0 ? "" : address.slice(at + 1);
  const eat = entry.lastIndexOf("@");
  if (eat < 0) return entry.toLowerCase() === user;
  const euser = entry.slice(0, eat).toLowerCase();
  const edomain = entry.slice(eat + 1);
  if (euser !== "" && euser !== user) return false;
  return domainMatches(edomain, domain);
}

export function netaddrMatches(entry: string, address: string): boolean {
  const e = stripBrackets(entry);
  if (e === "local" || address === "local") return e === address;
  const [net, bits] = e.split("/");
  const fam = isIP(net ?? "");
  const afam = isIP(address);
  if (fam === 0 || afam === 0) return false;
  if (bits === undefined) return fam === afam && net!.toLowerCase() === address.toLowerCase();
  const b = new BlockList();
  try {
    b.addSubnet(net!, Number(bits), fam === 4 ? "ipv4" : "ipv6");
  } catch {
    return false;
  }
  return b.check(address, afam === 4 ? "ipv4" : "ipv6");
}

function entryMatches(service: MatchService, entry: string, key: string): boolean {
  switch (service) {
    case "domain":
      return domainMatches(entry, key);
    case "mailaddr":
      return mailaddrMatches(entry, key);
    case "netaddr":
      return netaddrMatches(entry, key);
    case "regex":
      try {
        return new RegExp(entry).test(key);
      } catch {
        return false;
      }
    default:
      return entry === key;
  }
}

export class TableStore {
  private readonly data = new Map<string, TableData | { error: string }>();
  private readonly model: Model;
  private readonly readFile: (path: string) => string;

  constructor(model: Model, readFile: (path: string) => string) {
    this.model = model;
    this.readFile = readFile;
    this.reload();
  }

  /** (Re)read every file table; errors are kept and make lookups tempfail. */
  reload(): void {
    for (const [name, t] of this.model.tables) this.data.set(name, this.load(t));
    this.data.set("<localhost>", { values: ["local", ...interfaceAddresses()], map: new Map() });
    this.data.set("<localnames>", { values: ["localhost", this.model.hostname], map: new Map() });
    this.data.set("<anyhost>", { values: ["local", "0.0.0.0/0", "::/0"], map: new Map() });
    this.data.set("<anydestination>", { values: ["*"], map: new Map() });
  }

  /**
   * A file is read as table(5) text. A `db:` table is read from its source text (the path
   * without `.db`): Facteur reads no Berkeley DB files, and makemap(8) keeps the source.
   */
  private load(t: TableModel): TableData | { error: string } {
    if (t.kind === "inline") return fromEntries(t.entries);
    if (t.config === null || !["static", "file", "db"].includes(t.backend))
      return { error: `table backend "${t.backend}" is not supported yet` };
    const path = t.backend === "db" ? t.config.replace(/\.db$/, "") : t.config;
    try {
      const r = parseTableFile(this.readFile(path));
      if (!r.ok) return { error: `${path}:${r.error.line}: ${r.error.message}` };
      return r.entries.type === "empty" ? { values: [], map: new Map() } : fromEntries(r.entries);
    } catch (e) {
      return { error: `${path}: ${(e as Error).message}` };
    }
  }

  /**
   * `smtpctl update table NAME` (newaliases): re-reads one table. An unreadable or invalid
   * file leaves the table as it was and says why.
   */
  update(name: string): { ok: boolean; text: string } {
    const t = this.model.tables.get(name);
    if (t === undefined) return { ok: false, text: `no such table: ${name}\n` };
    const next = this.load(t);
    if ("error" in next) return { ok: false, text: `table ${name} not updated: ${next.error}\n` };
    this.data.set(name, next);
    return { ok: true, text: "command succeeded\n" };
  }

  private resolve(arg: TableArg | string): TableData | { error: string } {
    if (typeof arg === "string") return this.data.get(arg) ?? { error: `no such table: ${arg}` };
    if (arg.kind === "inline") return fromEntries(arg.entries);
    return this.data.get(arg.name) ?? { error: `no such table: ${arg.name}` };
  }

  /** Does `key` match an entry of the table (its list, or its mapping's keys)? */
  match(arg: TableArg | string, service: MatchService, key: string): TableResult {
    const t = this.resolve(arg);
    if ("error" in t) return { kind: "tempfail", reason: t.error };
    for (const e of t.values)
      if (entryMatches(service, e, key)) return { kind: "found", value: t.map.get(e) ?? null };
    return { kind: "not-found" };
  }

  /** A mapping's value for an exact key (credentials, aliases, ...). */
  lookup(arg: TableArg | string, key: string): TableResult {
    const t = this.resolve(arg);
    if ("error" in t) return { kind: "tempfail", reason: t.error };
    const v = t.map.get(key);
    return v === undefined ? { kind: "not-found" } : { kind: "found", value: v };
  }
}

function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) out.push(a.address);
  return out;
}
