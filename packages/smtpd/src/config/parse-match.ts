// `match [options] action NAME | reject` (parse.y match/match_option).
import type { Directive, MatchOption, Pos, TableArg } from "./ast.js";
import type { Token } from "./lexer.js";
import type { Parser } from "./parser.js";
import type { Service } from "./scope.js";

type Flags = Set<"from" | "for" | "tag" | "helo" | "tls" | "auth" | "mail-from" | "rcpt-to">;

export function parseMatch(p: Parser): Directive {
  const start = p.next();
  const options: MatchOption[] = [];
  const flags: Flags = new Set();
  for (;;) {
    const t = p.peek();
    if (t.kind === "keyword" && t.text === "reject") {
      p.next();
      p.scope.rules++;
      return { kind: "match", options, action: null, pos: p.pos(start) };
    }
    if (t.kind === "keyword" && t.text === "action") {
      p.next();
      const name = p.expectString("an action name");
      if (!p.scope.dispatchers.has(name.text))
        throw p.semantic(name, `no such dispatcher: ${name.text}`);
      p.scope.rules++;
      return { kind: "match", options, action: name.text, pos: p.pos(start) };
    }
    options.push(matchOption(p, flags));
  }
}

function flag(p: Parser, flags: Flags, f: Parameters<Flags["add"]>[0], t: Token): void {
  if (flags.has(f)) throw p.semantic(t, `${f} already specified for this rule`);
  flags.add(f);
}

function hasTable(p: Parser): boolean {
  const t = p.peek();
  return t.kind === "string" || p.isPunct("<") || p.isPunct("{");
}

/** `[regex] tables`, checked for the lookup it serves (7.5+: lists or mappings). */
function regexTable(
  p: Parser,
  t: Token,
  service: Service,
  what: string,
): { regex: boolean; table: TableArg } {
  const regex = p.eatKw("regex");
  const table = p.tableArg("a table");
  const err = p.scope.checkUse(
    table,
    "either",
    regex ? "regex" : service,
    (n) => `table "${n}" may not be used for ${what} lookups`,
  );
  if (err !== null) throw p.semantic(t, err);
  return { regex, table };
}

function matchOption(p: Parser, flags: Flags): MatchOption {
  const first = p.peek();
  const negated = p.isPunct("!");
  if (negated) p.next();
  const t = p.peek();
  const pos: Pos = p.pos(first);
  if (t.kind !== "keyword") throw p.syntax(t, 'a match option, "action" or "reject"');
  p.next();
  switch (t.text) {
    case "tag":
      flag(p, flags, "tag", t);
      return { kind: "tag", negated, pos, ...regexTable(p, t, "string", "tag") };
    case "helo":
      flag(p, flags, "helo", t);
      return { kind: "helo", negated, pos, ...regexTable(p, t, "domain", "helo") };
    case "mail-from":
    case "rcpt-to":
      flag(p, flags, t.text, t);
      return { kind: t.text, negated, pos, ...regexTable(p, t, "mailaddr", t.text) };
    case "tls":
      flag(p, flags, "tls", t);
      return { kind: "tls", negated, pos };
    case "auth": {
      flag(p, flags, "auth", t);
      if (p.isKw("regex") || hasTable(p))
        return { kind: "auth", negated, pos, ...regexTable(p, t, "credentials", "auth") };
      return { kind: "auth", negated, pos, regex: false, table: null };
    }
    case "from":
      flag(p, flags, "from", t);
      return fromOption(p, flags, t, negated, pos);
    case "for":
      flag(p, flags, "for", t);
      return forOption(p, flags, t, negated, pos);
    default: {
      const hint = t.text === "tagged" ? '"tagged" is the pre-6.4 grammar: use "tag"' : undefined;
      throw p.syntax(t, 'a match option, "action" or "reject"', hint);
    }
  }
}

function fromOption(p: Parser, flags: Flags, t: Token, negated: boolean, pos: Pos): MatchOption {
  const k = p.peek();
  if (k.kind !== "keyword") throw p.syntax(k, "socket, local, any, src, rdns, auth or mail-from");
  p.next();
  switch (k.text) {
    case "socket":
    case "local":
    case "any":
      return { kind: `from-${k.text}`, negated, pos };
    case "src":
      return { kind: "from-src", negated, pos, ...regexTable(p, t, "netaddr", "from") };
    case "rdns":
      if (p.isKw("regex") || hasTable(p))
        return { kind: "from-rdns", negated, pos, ...regexTable(p, t, "domain", "rdns") };
      return { kind: "from-rdns", negated, pos, regex: false, table: null };
    case "auth":
      if (flags.has("auth")) throw p.semantic(k, "auth already specified for this rule");
      flags.add("auth");
      if (p.isKw("regex") || hasTable(p))
        return { kind: "from-auth", negated, pos, ...regexTable(p, t, "credentials", "from") };
      return { kind: "from-auth", negated, pos, regex: false, table: null };
    case "mail-from":
      if (flags.has("mail-from")) throw p.semantic(k, "mail-from already specified for this rule");
      flags.add("mail-from");
      return { kind: "from-mail-from", negated, pos, ...regexTable(p, t, "mailaddr", "from") };
    default:
      throw p.syntax(k, "socket, local, any, src, rdns, auth or mail-from");
  }
}

function forOption(p: Parser, flags: Flags, t: Token, negated: boolean, pos: Pos): MatchOption {
  const k = p.peek();
  if (k.kind !== "keyword") throw p.syntax(k, "local, any, domain or rcpt-to");
  p.next();
  switch (k.text) {
    case "local":
    case "any":
      return { kind: `for-${k.text}`, negated, pos };
    case "domain":
      return { kind: "for-domain", negated, pos, ...regexTable(p, t, "domain", "'for'") };
    case "rcpt-to":
      if (flags.has("rcpt-to")) throw p.semantic(k, "rcpt-to already specified for this rule");
      flags.add("rcpt-to");
      return { kind: "for-rcpt-to", negated, pos, ...regexTable(p, t, "mailaddr", "for") };
    default:
      throw p.syntax(k, "local, any, domain or rcpt-to");
  }
}
