// match rule evaluation of the lookup role (reference §1.6): per recipient, first match
// wins; no match or `reject` refuses the recipient.
import type { MatchOption } from "../config/ast.js";
import type { RuleModel } from "../config/model.js";
import type { SessionFacts } from "../ipc/messages.js";
import type { MatchService, TableResult, TableStore } from "./tables.js";

export type RuleOutcome =
  | { kind: "action"; action: string; rule: number }
  | { kind: "reject"; rule: number | null }
  | { kind: "tempfail"; reason: string };

export interface Envelope {
  readonly sender: string;
  readonly rcpt: string;
}

const domainOf = (addr: string) =>
  addr.includes("@") ? addr.slice(addr.lastIndexOf("@") + 1) : "";

/** true, false, or a tempfail reason when a table could not be read. */
type Cond = boolean | string;

function fromTable(r: TableResult): Cond {
  return r.kind === "tempfail" ? r.reason : r.kind === "found";
}

function evalOption(o: MatchOption, s: SessionFacts, e: Envelope, tables: TableStore): Cond {
  const svc = (regex: boolean, s2: MatchService): MatchService => (regex ? "regex" : s2);
  switch (o.kind) {
    case "from-socket":
      return s.isSocket;
    case "from-local":
      return fromTable(tables.match("<localhost>", "netaddr", s.remoteAddress));
    case "from-any":
      return true;
    case "from-src":
      return fromTable(tables.match(o.table, svc(o.regex, "netaddr"), s.remoteAddress));
    case "from-rdns":
      if (s.rdns === null) return false;
      return o.table === null
        ? true
        : fromTable(tables.match(o.table, svc(o.regex, "domain"), s.rdns));
    case "from-auth":
    case "auth":
      if (s.authUser === null) return false;
      return o.table === null
        ? true
        : fromTable(tables.match(o.table, svc(o.regex, "string"), s.authUser));
    case "from-mail-from":
    case "mail-from":
      return fromTable(tables.match(o.table, svc(o.regex, "mailaddr"), e.sender));
    case "for-local":
      return fromTable(tables.match("<localnames>", "domain", domainOf(e.rcpt)));
    case "for-any":
      return true;
    case "for-domain":
      return fromTable(tables.match(o.table, svc(o.regex, "domain"), domainOf(e.rcpt)));
    case "for-rcpt-to":
    case "rcpt-to":
      return fromTable(tables.match(o.table, svc(o.regex, "mailaddr"), e.rcpt));
    case "tag":
      if (s.tag === null) return false;
      return fromTable(tables.match(o.table, svc(o.regex, "string"), s.tag));
    case "helo":
      if (s.helo === null) return false;
      return fromTable(tables.match(o.table, svc(o.regex, "domain"), s.helo));
    case "tls":
      return s.isSecure;
  }
}

/** Rules without `from` default to `from local`; without `for`, to `for local`. */
function withDefaults(options: readonly MatchOption[]): readonly MatchOption[] {
  const pos = { file: "<default>", line: 0, col: 0 };
  const hasFrom = options.some((o) => o.kind.startsWith("from-"));
  const hasFor = options.some((o) => o.kind.startsWith("for-"));
  const out = [...options];
  if (!hasFrom) out.push({ kind: "from-local", negated: false, pos });
  if (!hasFor) out.push({ kind: "for-local", negated: false, pos });
  return out;
}

export function evaluateRules(
  rules: readonly RuleModel[],
  s: SessionFacts,
  e: Envelope,
  tables: TableStore,
): RuleOutcome {
  for (const r of rules) {
    let matched = true;
    for (const o of withDefaults(r.options)) {
      const c = evalOption(o, s, e, tables);
      if (typeof c === "string") return { kind: "tempfail", reason: c };
      if (c === o.negated) {
        matched = false;
        break;
      }
    }
    if (matched)
      return r.action === null
        ? { kind: "reject", rule: r.index }
        : { kind: "action", action: r.action, rule: r.index };
  }
  return { kind: "reject", rule: null };
}
