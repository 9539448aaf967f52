// Recursive-descent parser for smtpd.conf(5), OpenSMTPD 7.8 grammar (parent and `smtpd -n`).
// Errors are collected, not thrown: after one, the rest of the line is skipped. As in
// OpenSMTPD (yacc recovery), a syntax error is only reported once three tokens have been
// read since the previous error; semantic errors are always reported.
import type { Config, Directive, Duration, InlineEntries, Pos, TableArg } from "./ast.js";
import { parseDirective } from "./directives.js";
import { ConfigError, type Diagnostic } from "./errors.js";
import { Lexer, type Token } from "./lexer.js";
import { Scope } from "./scope.js";

export interface TableFileInfo {
  readonly shape: "list" | "map" | "any";
}

/** What the parser may ask of the system; absent in --syntax mode (nothing is read). */
export interface ParseHost {
  /** text of an included file, or an error message */
  readInclude(path: string): { text: string } | { error: string };
  /** what names the same file whatever path leads to it (include cycles) */
  realPath(path: string): string;
  /** a `file:` table's shape, or an error message (table(5), read at parse time) */
  readTableFile(path: string): TableFileInfo | { error: string };
  /** whether a `table-<backend>` helper is installed */
  backendExists(backend: string): boolean;
}

export interface ParseOptions {
  readonly file: string;
  /** `-D name=value`: these win over the file's own definitions */
  readonly defines?: Readonly<Record<string, string>>;
  readonly host?: ParseHost;
}

/** How many files deep `include` may go below the main file. */
export const MAX_INCLUDE_DEPTH = 16;

export interface ParseResult {
  readonly config: Config;
  readonly diagnostics: readonly Diagnostic[];
  readonly ok: boolean;
  readonly macros: ReadonlyMap<string, { value: string; persist: boolean }>;
  readonly unusedMacros: readonly string[];
}

const describe = (t: Token): string => {
  switch (t.kind) {
    case "newline":
      return "end of line";
    case "eof":
      return "end of file";
    case "number":
      return t.text;
    case "string":
      return t.quoted ? `"${t.text}"` : `"${t.text}"`;
    default:
      return `"${t.text}"`;
  }
};

export class Parser {
  readonly lexer: Lexer;
  readonly scope = new Scope();
  readonly diagnostics: Diagnostic[] = [];
  readonly macros = new Map<string, { value: string; persist: boolean }>();
  /** tokens read since the last error (yacc's three-token rule) */
  private sinceError = 3;
  private lexErrorsAtLineStart = 0;
  /** lexer errors already in `diagnostics`: both are kept in the order they were met */
  private lexErrorsTaken = 0;

  readonly options: ParseOptions;

  constructor(text: string, options: ParseOptions) {
    this.options = options;
    for (const [k, v] of Object.entries(options.defines ?? {}))
      this.macros.set(k, { value: v, persist: true });
    this.lexer = new Lexer(
      text,
      options.file,
      { get: (n) => this.macros.get(n)?.value },
      options.host?.realPath(options.file),
    );
  }

  get host(): ParseHost | undefined {
    return this.options.host;
  }

  peek(n = 0): Token {
    return this.lexer.peek(n);
  }

  next(): Token {
    this.sinceError++;
    return this.lexer.next();
  }

  pos(t: Token): Pos {
    return { file: t.file, line: t.line, col: t.col };
  }

  isKw(word: string, n = 0): boolean {
    const t = this.peek(n);
    return t.kind === "keyword" && t.text === word;
  }

  isPunct(p: string, n = 0): boolean {
    const t = this.peek(n);
    return t.kind === "punct" && t.text === p;
  }

  /** Consume the keyword if it is next. */
  eatKw(word: string): boolean {
    if (!this.isKw(word)) return false;
    this.next();
    return true;
  }

  syntax(t: Token, expected?: string, hint?: string): ConfigError {
    let msg = `syntax error: unexpected ${describe(t)}`;
    if (expected !== undefined) msg += `, expected ${expected}`;
    if (hint !== undefined) msg = `syntax error: ${hint}`;
    return new ConfigError(t.file, t.line, t.col, msg, "syntax");
  }

  semantic(t: Token, message: string): ConfigError {
    return new ConfigError(t.file, t.line, t.col, message, "semantic");
  }

  expectKw(word: string, expected?: string): Token {
    const t = this.peek();
    if (t.kind !== "keyword" || t.text !== word) throw this.syntax(t, expected ?? `"${word}"`);
    return this.next();
  }

  expectPunct(p: string, expected?: string): Token {
    const t = this.peek();
    if (t.kind !== "punct" || t.text !== p) throw this.syntax(t, expected ?? `"${p}"`);
    return this.next();
  }

  /** A STRING token (quoted, or a bare word that is not a keyword). */
  expectString(what: string): Token {
    const t = this.peek();
    if (t.kind !== "string") {
      const hint =
        t.kind === "keyword"
          ? `"${t.text}" is a reserved word: quote it to use it as ${what}`
          : undefined;
      throw this.syntax(t, what, hint);
    }
    return this.next();
  }

  expectNumber(what: string): Token {
    const t = this.peek();
    if (t.kind !== "number") throw this.syntax(t, what);
    return this.next();
  }

  /** parse.y delaytonum: N{s,m,h,d}, N >= 1. */
  duration(t: Token, message: (s: string) => string): Duration {
    const m = /^(\d+)([smhd])$/.exec(t.text);
    const factor = m ? { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "s" | "m" | "h" | "d"] : 0;
    const n = m ? Number(m[1]) : 0;
    if (!m || n < 1 || n > Math.floor(2147483647 / factor)) throw this.semantic(t, message(t.text));
    return { text: t.text, seconds: n * factor };
  }

  // ---- tables -------------------------------------------------------------------------

  /** parse.y `tables`: `<name>`, a bare string, or an inline `{ ... }`. */
  tableArg(what: string): TableArg {
    const t = this.peek();
    if (this.isPunct("<")) {
      this.next();
      const name = this.expectString("a table name");
      this.expectPunct(">");
      const arg: TableArg = { kind: "ref", name: name.text, pos: this.pos(t) };
      if (!this.scope.tables.has(name.text))
        throw this.semantic(name, `no such table: ${name.text}`);
      return arg;
    }
    if (this.isPunct("{")) {
      this.next();
      const entries = this.inlineEntries();
      return { kind: "inline", braced: true, entries, pos: this.pos(t) };
    }
    if (t.kind === "string") {
      this.next();
      return {
        kind: "inline",
        braced: false,
        entries: { type: "list", values: [t.text] },
        pos: this.pos(t),
      };
    }
    throw this.syntax(t, what);
  }

  /** After `{`: a list or a mapping, separated by commas, nothing or newlines; then `}`. */
  inlineEntries(): InlineEntries {
    this.skipNewlines();
    const first = this.expectString("a table entry");
    const isMap = this.isPunct("=") || this.isPunct("=>");
    const values: string[] = [];
    const pairs: [string, string][] = [];
    let key = first;
    for (;;) {
      if (isMap) {
        const a = this.peek();
        if (!(this.isPunct("=") || this.isPunct("=>")))
          throw this.syntax(a, '"=" (the table is a mapping)');
        this.next();
        const v = this.expectString("a table value");
        pairs.push([key.text, v.text]);
      } else {
        if (this.isPunct("=") || this.isPunct("=>"))
          throw this.syntax(this.peek(), '"," or "}" (the table is a list)');
        values.push(key.text);
      }
      if (this.isPunct(",")) this.next();
      this.skipNewlines();
      if (this.isPunct("}")) {
        this.next();
        break;
      }
      key = this.expectString(isMap ? 'a key or "}"' : 'a value or "}"');
    }
    return isMap ? { type: "map", pairs } : { type: "list", values };
  }

  skipNewlines(): void {
    while (this.peek().kind === "newline") this.next();
  }

  /** parse.y filter_list inside `{ }`: existing non-chain filters, no filter or proc twice. */
  filterList(): string[] {
    const names: string[] = [];
    const procs = new Set<string>();
    for (;;) {
      const t = this.expectString("a filter name");
      const f = this.scope.filters.get(t.text);
      if (f === undefined) throw this.semantic(t, `no filter exist with that name: ${t.text}`);
      if (f.type === "chain")
        throw this.semantic(t, `no filter chain allowed within a filter chain: ${t.text}`);
      if (names.includes(t.text))
        throw this.semantic(t, `no filter allowed twice within a filter chain: ${t.text}`);
      if (f.proc !== null) {
        if (procs.has(f.proc))
          throw this.semantic(t, `no proc allowed twice within a filter chain: ${f.proc}`);
        procs.add(f.proc);
      }
      names.push(t.text);
      if (this.isPunct(",")) this.next();
      this.skipNewlines();
      if (this.isPunct("}")) {
        this.next();
        return names;
      }
    }
  }

  /** `filter NAME` or `filter { a, b }` after the keyword (listeners and relay actions). */
  filterRef(): { kind: "filter"; name: string } | { kind: "filter-chain"; filters: string[] } {
    if (this.isPunct("{")) {
      this.next();
      return { kind: "filter-chain", filters: this.filterList() };
    }
    const name = this.expectString('a filter name or "{"');
    if (!this.scope.filters.has(name.text)) {
      throw this.semantic(name, `no filter exist with that name: ${name.text}`);
    }
    return { kind: "filter", name: name.text };
  }

  // ---- driver -------------------------------------------------------------------------

  run(): Directive[] {
    const out: Directive[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === "eof") break;
      if (t.kind === "newline") {
        this.next();
        continue;
      }
      this.lexErrorsAtLineStart = this.lexer.errors.length;
      try {
        const d = parseDirective(this);
        const end = this.peek();
        if (end.kind !== "newline" && end.kind !== "eof") throw this.syntax(end, "end of line");
        const nl = this.next();
        if (d !== null) out.push(d);
        if (d !== null && d.kind === "include") this.include(d.path, nl);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        this.record(e);
        this.lexer.skipLine();
        this.sinceError = 1;
      }
    }
    this.takeLexErrors();
    return out;
  }

  private takeLexErrors(): void {
    const errors = this.lexer.errors;
    for (; this.lexErrorsTaken < errors.length; this.lexErrorsTaken++)
      this.diagnostics.push({ ...errors[this.lexErrorsTaken]!, kind: "semantic" });
  }

  private record(e: ConfigError): void {
    const lexFailed = this.lexer.errors.length > this.lexErrorsAtLineStart;
    const report = e.kind === "semantic" || (this.sinceError >= 3 && !lexFailed);
    this.takeLexErrors();
    if (report)
      this.diagnostics.push({
        file: e.file,
        line: e.line,
        col: e.col,
        message: e.message,
        kind: e.kind,
      });
    this.sinceError = 0;
  }

  /**
   * Read an included file where the `include` stands. A file that is already being read is
   * refused (OpenSMTPD has no check of its own: it fails once it runs out of descriptors).
   */
  private include(path: string, at: Token): void {
    const host = this.host;
    if (host === undefined) return; // --syntax: no file is read
    const key = host.realPath(path);
    const open = this.lexer.openFiles();
    const again = open.findIndex((f) => f.key === key);
    const r =
      again >= 0
        ? { error: `include cycle ${[...open.slice(again).map((f) => f.file), path].join(" -> ")}` }
        : open.length > MAX_INCLUDE_DEPTH
          ? { error: `includes nested more than ${MAX_INCLUDE_DEPTH} deep` }
          : host.readInclude(path);
    if ("text" in r) {
      this.lexer.pushFile(r.text, path, key);
      return;
    }
    this.takeLexErrors();
    this.diagnostics.push({
      ...this.pos(at),
      message: `failed to include file ${path}: ${r.error}`,
      kind: "semantic",
    });
  }
}

export function parseConfig(text: string, options: ParseOptions): ParseResult {
  const p = new Parser(text, options);
  const directives = p.run();
  // Grouped by file, the files in the order their first error was met, lines ascending (a
  // lookahead token may have met a lexical error on a later line first). The sort is stable.
  const diagnostics: Diagnostic[] = [...p.diagnostics];
  const fileOrder = new Map<string, number>();
  for (const d of diagnostics) if (!fileOrder.has(d.file)) fileOrder.set(d.file, fileOrder.size);
  diagnostics.sort((a, b) => fileOrder.get(a.file)! - fileOrder.get(b.file)! || a.line - b.line);
  if (p.scope.rules === 0) {
    diagnostics.push({
      file: options.file,
      line: 0,
      col: 0,
      message: "no rules, nothing to do",
      kind: "semantic",
    });
  }
  const unusedMacros = [...p.macros.keys()].filter((k) => !p.lexer.usedMacros.has(k));
  return {
    config: { directives },
    diagnostics,
    ok: !diagnostics.some((d) => d.kind !== "warning"),
    macros: p.macros,
    unusedMacros,
  };
}
