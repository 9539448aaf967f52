// `action NAME METHOD [options]` (parse.y dispatcher): local delivery methods and relay.
import type { ActionMethod, ActionOption, Directive, TableArg } from "./ast.js";
import type { Token } from "./lexer.js";
import type { Parser } from "./parser.js";
import type { Service } from "./scope.js";

export function parseAction(p: Parser): Directive {
  const start = p.next();
  const name = p.expectString("an action name");
  if (p.scope.dispatchers.has(name.text)) {
    throw p.semantic(name, `dispatcher already declared with that name: ${name.text}`);
  }
  const method = parseMethod(p);
  const options = method.kind === "relay" ? remoteOptions(p) : localOptions(p, method);
  ttlOptions(p, options);
  p.scope.dispatchers.add(name.text);
  return { kind: "action", name: name.text, method, options, pos: p.pos(start) };
}

function parseMethod(p: Parser): ActionMethod {
  const t = p.peek();
  if (t.kind !== "keyword")
    throw p.syntax(t, "mbox, maildir, lmtp, mda, forward-only, expand-only or relay");
  switch (t.text) {
    case "mbox":
    case "forward-only":
    case "expand-only":
    case "relay":
      p.next();
      return { kind: t.text };
    case "maildir": {
      p.next();
      const path = p.peek().kind === "string" ? p.next().text : null;
      const junk = p.eatKw("junk");
      return { kind: "maildir", path, junk };
    }
    case "lmtp": {
      p.next();
      const destination = p.expectString("host:port or a socket path").text;
      return { kind: "lmtp", destination, rcptTo: p.eatKw("rcpt-to") };
    }
    case "mda": {
      p.next();
      return { kind: "mda", command: p.expectString("a command").text };
    }
    default:
      throw p.syntax(t, "mbox, maildir, lmtp, mda, forward-only, expand-only or relay");
  }
}

function tableOption(
  p: Parser,
  t: Token,
  shape: "list" | "map",
  service: Service,
  what: string,
): TableArg {
  const table = p.tableArg("a table");
  const err = p.scope.checkUse(
    table,
    shape,
    service,
    (n) => `table "${n}" may not be used for ${what} lookups`,
  );
  if (err !== null) throw p.semantic(t, err);
  return table;
}

function localOptions(p: Parser, method: ActionMethod): ActionOption[] {
  const out: ActionOption[] = [];
  const has = (k: string) => out.some((o) => o.kind === k);
  for (;;) {
    const t = p.peek();
    if (
      t.kind !== "keyword" ||
      !["user", "alias", "virtual", "userbase", "wrapper"].includes(t.text)
    )
      return out;
    p.next();
    switch (t.text) {
      case "user": {
        const v = p.expectString("a user name");
        if (method.kind === "mbox")
          throw p.semantic(t, "user may not be specified for this dispatcher");
        if (method.kind === "forward-only")
          throw p.semantic(t, "user may not be specified for forward-only");
        if (method.kind === "expand-only")
          throw p.semantic(t, "user may not be specified for expand-only");
        if (has("user")) throw p.semantic(t, "user already specified for this dispatcher");
        out.push({ kind: "user", value: v.text });
        break;
      }
      case "alias":
      case "virtual": {
        const table = p.tableArg("a table");
        if (has("alias"))
          throw p.semantic(t, "alias mapping already specified for this dispatcher");
        if (has("virtual"))
          throw p.semantic(t, "virtual mapping already specified for this dispatcher");
        const err = p.scope.checkUse(
          table,
          "map",
          "alias",
          (n) => `table "${n}" may not be used for ${t.text} lookups`,
        );
        if (err !== null) throw p.semantic(t, err);
        out.push({ kind: t.text, table });
        break;
      }
      case "userbase": {
        if (has("userbase"))
          throw p.semantic(t, "userbase mapping already specified for this dispatcher");
        out.push({ kind: "userbase", table: tableOption(p, t, "map", "userinfo", "userbase") });
        break;
      }
      default: {
        const v = p.expectString("a wrapper name");
        if (!p.scope.wrappers.has(v.text))
          throw p.semantic(v, `no mda wrapper with that name: ${v.text}`);
        out.push({ kind: "wrapper", value: v.text });
      }
    }
  }
}

const REMOTE = [
  "helo",
  "helo-src",
  "pki",
  "ca",
  "ciphers",
  "protocols",
  "src",
  "mail-from",
  "backup",
  "host",
  "domain",
  "tls",
  "auth",
  "filter",
  "srs",
];

function remoteOptions(p: Parser): ActionOption[] {
  const out: ActionOption[] = [];
  const has = (k: string) => out.some((o) => o.kind === k);
  for (;;) {
    const t = p.peek();
    if (t.kind !== "keyword" || !REMOTE.includes(t.text)) return out;
    p.next();
    out.push(remoteOption(p, t, has));
  }
}

function remoteOption(p: Parser, t: Token, has: (k: string) => boolean): ActionOption {
  const already = (k: string, what = k) => {
    if (has(k)) throw p.semantic(t, `${what} already specified for this dispatcher`);
  };
  switch (t.text) {
    case "helo":
    case "pki":
    case "ca":
    case "ciphers":
    case "protocols":
    case "mail-from": {
      const v = p.expectString(`a ${t.text} value`);
      already(t.text);
      return { kind: t.text, value: v.text };
    }
    case "helo-src": {
      const table = tableOption(p, t, "map", "addrname", "helo-source");
      already("helo-src", "helo-source mapping");
      return { kind: "helo-src", table };
    }
    case "src": {
      const table = tableOption(p, t, "list", "source", "source");
      already("src", "source mapping");
      return { kind: "src", table };
    }
    case "backup": {
      const mx = p.eatKw("mx") ? p.expectString("an MX name").text : null;
      already("backup");
      if (has("host") || has("domain"))
        throw p.semantic(t, "backup and host are mutually exclusive");
      return { kind: "backup", mx };
    }
    case "host":
    case "domain": {
      const table =
        t.text === "host"
          ? tableOption(p, t, "list", "relayhost", "host")
          : tableOption(p, t, "map", "relayhost", "host");
      if (has("host") || has("domain"))
        throw p.semantic(t, "host mapping already specified for this dispatcher");
      if (has("backup")) throw p.semantic(t, `backup and ${t.text} are mutually exclusive`);
      return { kind: t.text, table };
    }
    case "tls": {
      const noVerify = p.eatKw("no-verify");
      already("tls");
      return { kind: "tls", noVerify };
    }
    case "auth": {
      const table = tableOption(p, t, "map", "credentials", "auth");
      if (!has("host") && !has("domain"))
        throw p.semantic(t, "auth may not be specified without host on a dispatcher");
      already("auth", "auth mapping");
      return { kind: "auth", table };
    }
    case "filter": {
      already("filter");
      already("filter-chain", "filter");
      return p.filterRef();
    }
    default: {
      if (!p.scope.hasSrsKey)
        throw p.semantic(t, "an srs key is required for srs to be specified in an action");
      already("srs");
      return { kind: "srs" };
    }
  }
}

/** dispatcher_options: only `ttl`, after the method's own options. */
function ttlOptions(p: Parser, out: ActionOption[]): void {
  while (p.isKw("ttl")) {
    const t = p.next();
    const d = p.expectString("a delay such as 4d");
    if (out.some((o) => o.kind === "ttl"))
      throw p.semantic(t, "ttl already specified for this dispatcher");
    out.push({ kind: "ttl", ttl: p.duration(d, (s) => `ttl delay "${s}" is invalid`) });
  }
  const t = p.peek();
  if (t.kind !== "newline" && t.kind !== "eof")
    throw p.syntax(t, "an action option or end of line");
}
