// What a config has declared so far, and the checks OpenSMTPD makes while it parses
// (parse.y actions): names must be declared before use, tables must suit their use.
import type { InlineEntries, TableArg } from "./ast.js";

/** table(5) services (OpenSMTPD K_* lookups). */
export type Service =
  | "alias"
  | "domain"
  | "credentials"
  | "netaddr"
  | "userinfo"
  | "source"
  | "mailaddr"
  | "addrname"
  | "mailaddrmap"
  | "relayhost"
  | "string"
  | "regex"
  | "auth";

/**
 * What is known of a table's shape: a list, a mapping, "any" (a backend that decides at
 * lookup time, an empty file, or a file not read in --syntax mode), or "none": a `file` or
 * `static` table declared without a path, empty and of no type, which no use accepts.
 */
export interface TableInfo {
  readonly shape: "list" | "map" | "any" | "none";
  /** null: every service */
  readonly services: ReadonlySet<Service> | null;
}

export const inlineShape = (e: InlineEntries): "list" | "map" =>
  e.type === "list" ? "list" : "map";

/**
 * Tables the daemon defines itself. Their names carry the angle brackets (`<localhost>`), so
 * a config cannot refer to them and may declare its own `localhost` table (as OpenSMTPD).
 */
export const IMPLICIT_TABLES: ReadonlyMap<string, TableInfo> = new Map([
  ["<localhost>", { shape: "list", services: null }],
  ["<localnames>", { shape: "list", services: null }],
  ["<anyhost>", { shape: "list", services: null }],
  ["<anydestination>", { shape: "list", services: null }],
  ["<getpwnam>", { shape: "any", services: new Set<Service>(["userinfo"]) }],
] as const);

export interface FilterInfo {
  readonly type: "proc" | "builtin" | "chain";
  readonly proc: string | null;
}

export class Scope {
  readonly tables = new Map<string, TableInfo>();
  readonly dispatchers = new Set<string>();
  readonly wrappers = new Set<string>();
  readonly procs = new Set<string>();
  readonly filters = new Map<string, FilterInfo>();
  readonly pkis = new Set<string>();
  readonly cas = new Set<string>();
  hasSrsKey = false;
  hasSocketListener = false;
  rules = 0;

  /** The shape of a table argument, or a message when `<name>` is unknown. */
  tableInfo(t: TableArg): TableInfo | string {
    if (t.kind === "inline") return { shape: inlineShape(t.entries), services: null };
    const info = this.tables.get(t.name);
    return info ?? `no such table: ${t.name}`;
  }

  /**
   * parse.y table_check_use: the table must have the wanted shape ("list", "map" or
   * "either") and offer the service. Returns an error message or null.
   */
  checkUse(
    t: TableArg,
    want: "list" | "map" | "either",
    service: Service,
    message: (name: string) => string,
  ): string | null {
    const info = this.tableInfo(t);
    if (typeof info === "string") return info;
    const name = t.kind === "ref" ? t.name : "<dynamic>";
    if (info.shape === "none")
      return `${message(name)}: it was declared with no path, so it is empty`;
    const shapeOk = info.shape === "any" || want === "either" || info.shape === want;
    const serviceOk = info.services === null || info.services.has(service);
    if (shapeOk && serviceOk) return null;
    return message(name);
  }
}
