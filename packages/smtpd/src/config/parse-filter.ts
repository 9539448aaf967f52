// `filter NAME proc|proc-exec|phase|chain ...` (parse.y filter): proc filters, chains and the
// builtin filters, each of which checks exactly one condition in one phase.
import type { Directive, FilterCheck, FilterDecision, FilterPhase } from "./ast.js";
import { procParams } from "./directives.js";
import type { Token } from "./lexer.js";
import type { Parser } from "./parser.js";

type CheckWord = "fcrdns" | "rdns" | "src" | "helo" | "auth" | "mail-from" | "rcpt-to";

const GLOBAL: readonly CheckWord[] = ["fcrdns", "rdns", "src"];
const UP_TO_MAIL: readonly CheckWord[] = [...GLOBAL, "helo", "auth", "mail-from"];

/** Which checks each builtin phase allows (parse.y filter_phase_*_options). */
export const PHASE_CHECKS: Readonly<Record<FilterPhase, readonly CheckWord[]>> = {
  connect: GLOBAL,
  helo: [...GLOBAL, "helo"],
  ehlo: [...GLOBAL, "helo"],
  auth: [...GLOBAL, "helo", "auth"],
  "mail-from": UP_TO_MAIL,
  "rcpt-to": [...UP_TO_MAIL, "rcpt-to"],
  data: UP_TO_MAIL,
  commit: UP_TO_MAIL,
};

const PHASES = Object.keys(PHASE_CHECKS) as FilterPhase[];

export function parseFilter(p: Parser): Directive {
  const start = p.next();
  const name = p.expectString("a filter name");
  const k = p.peek();
  const exists = () => {
    if (p.scope.filters.has(name.text))
      throw p.semantic(name, `filter already exists with that name: ${name.text}`);
  };
  if (k.kind !== "keyword") throw p.syntax(k, "proc, proc-exec, phase or chain");
  p.next();
  switch (k.text) {
    case "proc": {
      const proc = p.expectString("a processor name");
      exists();
      if (!p.scope.procs.has(proc.text))
        throw p.semantic(proc, `no processor exist with that name: ${proc.text}`);
      p.scope.filters.set(name.text, { type: "proc", proc: proc.text });
      return { kind: "filter-proc", name: name.text, proc: proc.text, pos: p.pos(start) };
    }
    case "proc-exec": {
      const cmd = p.expectString("a command");
      exists();
      p.scope.filters.set(name.text, { type: "proc", proc: name.text });
      const params = procParams(p, "processor");
      p.scope.procs.add(name.text);
      return {
        kind: "filter-proc-exec",
        name: name.text,
        command: cmd.text,
        ...params,
        pos: p.pos(start),
      };
    }
    case "chain": {
      exists();
      p.expectPunct("{");
      const filters = p.filterList();
      p.scope.filters.set(name.text, { type: "chain", proc: null });
      return { kind: "filter-chain", name: name.text, filters, pos: p.pos(start) };
    }
    case "phase": {
      exists();
      p.scope.filters.set(name.text, { type: "builtin", proc: null });
      const { phase, check, decision } = builtin(p);
      return { kind: "filter-builtin", name: name.text, phase, check, decision, pos: p.pos(start) };
    }
    default:
      throw p.syntax(k, "proc, proc-exec, phase or chain");
  }
}

function builtin(p: Parser): { phase: FilterPhase; check: FilterCheck; decision: FilterDecision } {
  const ph = p.peek();
  if (ph.kind !== "keyword" || !(PHASES as string[]).includes(ph.text)) {
    const hint =
      ph.kind === "keyword" && ["data-line", "quit", "rset", "noop"].includes(ph.text)
        ? `there is no builtin filter for phase "${ph.text}" (use a proc filter)`
        : undefined;
    throw p.syntax(ph, PHASES.join(", "), hint);
  }
  p.next();
  const phase = ph.text as FilterPhase;
  p.expectKw("match");
  const check = filterCheck(p, phase);
  const decision = filterDecision(p, phase);
  return { phase, check, decision };
}

function filterCheck(p: Parser, phase: FilterPhase): FilterCheck {
  const negated = p.isPunct("!");
  if (negated) p.next();
  const t = p.peek();
  const allowed = PHASE_CHECKS[phase];
  if (t.kind !== "keyword" || !(allowed as readonly string[]).includes(t.text)) {
    const known = ["fcrdns", "rdns", "src", "helo", "auth", "mail-from", "rcpt-to"].includes(
      t.text,
    );
    const hint =
      known && t.kind === "keyword"
        ? `"${t.text}" cannot be checked in phase ${phase} (allowed: ${allowed.join(", ")})`
        : undefined;
    throw p.syntax(t, `one check of ${allowed.join(", ")}`, hint);
  }
  p.next();
  const word = t.text as CheckWord;
  const tableNext = () =>
    p.isKw("regex") || p.peek().kind === "string" || p.isPunct("<") || p.isPunct("{");
  const withTable = (
    kind: "rdns-table" | "src" | "helo" | "auth-table" | "mail-from" | "rcpt-to",
  ): FilterCheck => {
    const regex = p.eatKw("regex");
    return { kind, negated, regex, table: p.tableArg("a table") };
  };
  switch (word) {
    case "fcrdns":
      return { kind: "fcrdns", negated };
    case "rdns":
      return tableNext() ? withTable("rdns-table") : { kind: "rdns", negated };
    case "auth":
      return tableNext() ? withTable("auth-table") : { kind: "auth", negated };
    default:
      return withTable(word);
  }
}

function filterDecision(p: Parser, phase: FilterPhase): FilterDecision {
  const t: Token = p.peek();
  const noJunk = phase === "commit";
  const expected = noJunk
    ? "reject, disconnect, rewrite or report"
    : "reject, disconnect, rewrite, report, junk or bypass";
  if (t.kind !== "keyword") throw p.syntax(t, expected);
  switch (t.text) {
    case "junk":
    case "bypass":
      if (noJunk) throw p.syntax(t, expected, `"${t.text}" is not allowed in phase commit`);
      p.next();
      return { kind: t.text };
    case "reject":
    case "disconnect":
    case "rewrite":
    case "report": {
      p.next();
      const v = p.expectString(t.text === "rewrite" ? "a value" : 'a reply such as "550 go away"');
      return { kind: t.text, value: v.text };
    }
    default:
      throw p.syntax(t, expected);
  }
}
