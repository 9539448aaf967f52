// `listen on` (parse.y listen/opt_if_listen/opt_sock_listen) and the listener checks that
// OpenSMTPD makes when it creates the listener.
import type { Directive, ListenOption } from "./ast.js";
import type { Token } from "./lexer.js";
import type { Parser } from "./parser.js";

/** Service names a port may be given as (getservbyname), for --syntax mode and BSDs alike. */
export const SERVICE_PORTS: Readonly<Record<string, number>> = {
  smtp: 25,
  smtps: 465,
  submissions: 465,
  urd: 465,
  submission: 587,
  lmtp: 24,
};

const PKI_MAX = 32;

export function parseListen(p: Parser): Directive {
  const start = p.next();
  p.expectKw("on");
  if (p.eatKw("socket")) {
    const options = socketOptions(p);
    if (p.scope.hasSocketListener) throw p.semantic(start, "socket listener already configured");
    p.scope.hasSocketListener = true;
    return { kind: "listen", target: { socket: true }, options, pos: p.pos(start) };
  }
  const ifx = p.expectString('an interface, address, host name or "socket"');
  const options = ifOptions(p);
  checkListener(p, options, p.peek());
  return { kind: "listen", target: { ifx: ifx.text }, options, pos: p.pos(start) };
}

function once(p: Parser, seen: Set<string>, key: string, t: Token, message: string): void {
  if (seen.has(key)) throw p.semantic(t, message);
  seen.add(key);
}

function filterOption(p: Parser, t: Token, seen: Set<string>): ListenOption {
  once(p, seen, "filter", t, "filter already specified");
  return p.filterRef();
}

function tagOption(p: Parser, t: Token, seen: Set<string>): ListenOption {
  const v = p.expectString("a tag");
  once(p, seen, "tag", t, "tag already specified");
  if (Buffer.byteLength(v.text) >= 32) throw p.semantic(v, "tag name too long");
  return { kind: "tag", value: v.text };
}

function socketOptions(p: Parser): ListenOption[] {
  const out: ListenOption[] = [];
  const seen = new Set<string>();
  for (;;) {
    const t = p.peek();
    if (t.kind !== "keyword") {
      if (t.kind === "newline" || t.kind === "eof") return out;
      throw p.syntax(t, "a socket listener option (filter, mask-src, no-dsn, tag)");
    }
    switch (t.text) {
      case "filter":
        p.next();
        out.push(filterOption(p, t, seen));
        break;
      case "mask-src":
      case "no-dsn":
        p.next();
        once(
          p,
          seen,
          t.text,
          t,
          `${t.text === "mask-src" ? "mask-source" : t.text} already specified`,
        );
        out.push({ kind: t.text });
        break;
      case "tag":
        p.next();
        out.push(tagOption(p, t, seen));
        break;
      default:
        throw p.syntax(t, "a socket listener option (filter, mask-src, no-dsn, tag)");
    }
  }
}

function port(p: Parser): ListenOption {
  const v = p.peek();
  if (v.kind === "number") {
    p.next();
    const n = Number(v.text);
    if (n <= 0 || n > 65535) throw p.semantic(v, `invalid port: ${v.text}`);
    return { kind: "port", port: n, text: v.text };
  }
  if (v.kind === "string" || (v.kind === "keyword" && (v.text === "smtp" || v.text === "smtps"))) {
    p.next();
    const n = SERVICE_PORTS[v.text];
    if (n === undefined) throw p.semantic(v, `invalid port: ${v.text}`);
    return { kind: "port", port: n, text: v.text };
  }
  throw p.syntax(v, "a port number or service name");
}

function tablesAfter(p: Parser): boolean {
  const t = p.peek();
  return t.kind === "string" || p.isPunct("<") || p.isPunct("{");
}

function ifOption(p: Parser, t: Token, seen: Set<string>, pkis: number): ListenOption {
  switch (t.text) {
    case "inet4":
    case "inet6":
      once(p, seen, "family", t, "address family already specified");
      return { kind: "family", family: t.text };
    case "port":
      once(p, seen, "port", t, "port already specified");
      return port(p);
    case "filter":
      return filterOption(p, t, seen);
    case "smtps":
    case "tls":
    case "tls-require": {
      const verify = t.text !== "tls" && p.eatKw("verify");
      once(p, seen, "tls", t, "TLS mode already specified");
      return { kind: "tls-mode", mode: t.text, verify };
    }
    case "ciphers":
    case "protocols":
    case "ca":
    case "hostname": {
      const v = p.expectString(`a ${t.text} value`);
      once(p, seen, t.text, t, `${t.text} already specified`);
      return { kind: t.text, value: t.text === "ca" ? v.text : v.text };
    }
    case "pki": {
      const v = p.expectString("a pki name");
      if (pkis >= PKI_MAX) throw p.semantic(v, "too many pki specified");
      return { kind: "pki", value: v.text };
    }
    case "auth":
    case "auth-optional": {
      const table = tablesAfter(p) ? p.tableArg("a credentials table") : null;
      once(p, seen, "auth", t, "auth already specified");
      return { kind: "auth", optional: t.text === "auth-optional", table };
    }
    case "tag":
      return tagOption(p, t, seen);
    case "hostnames": {
      const table = p.tableArg("a table");
      once(p, seen, "hostnames", t, "hostnames already specified");
      const err = p.scope.checkUse(
        table,
        "map",
        "addrname",
        (n) => `invalid use of table "${n}" as HOSTNAMES parameter`,
      );
      if (err !== null) throw p.semantic(t, err);
      return { kind: "hostnames", table };
    }
    case "senders": {
      const table = p.tableArg("a table");
      const masquerade = p.eatKw("masquerade");
      once(p, seen, "senders", t, "senders already specified");
      const err = p.scope.checkUse(
        table,
        "map",
        "mailaddrmap",
        (n) => `invalid use of table "${n}" as SENDERS parameter`,
      );
      if (err !== null) throw p.semantic(t, err);
      return { kind: "senders", table, masquerade };
    }
    case "mask-src":
    case "received-auth":
    case "no-dsn":
    case "proxy-v2":
      once(
        p,
        seen,
        t.text,
        t,
        `${t.text === "mask-src" ? "mask-source" : t.text} already specified`,
      );
      return { kind: t.text };
    default:
      throw p.syntax(t, "a listener option");
  }
}

function ifOptions(p: Parser): ListenOption[] {
  const out: ListenOption[] = [];
  const seen = new Set<string>();
  for (;;) {
    const t = p.peek();
    if (t.kind === "newline" || t.kind === "eof") return out;
    if (t.kind !== "keyword") {
      const hint =
        t.text === "certificate"
          ? '"certificate" is the pre-6.4 grammar: declare "pki NAME cert FILE" and use "pki NAME"'
          : t.text === "ssl"
            ? '"ssl" is the pre-5.4 grammar: use "tls", "tls-require" or "smtps"'
            : undefined;
      throw p.syntax(t, "a listener option", hint);
    }
    p.next();
    out.push(ifOption(p, t, seen, out.filter((o) => o.kind === "pki").length));
  }
}

/** create_if_listener / config_listener: what OpenSMTPD refuses once the line is read. */
function checkListener(p: Parser, options: readonly ListenOption[], at: Token): void {
  const tls = options.some((o) => o.kind === "tls-mode");
  const pkis = options.filter((o) => o.kind === "pki");
  if (options.some((o) => o.kind === "auth") && !tls)
    throw p.semantic(at, "invalid listen option: auth requires tls/smtps");
  if (pkis.length > 0 && !tls)
    throw p.semantic(at, "invalid listen option: pki requires tls/smtps");
  if (pkis.length === 0 && tls)
    throw p.semantic(at, "invalid listen option: pki required for tls/smtps");
  for (const o of pkis) {
    if (o.kind === "pki" && !p.scope.pkis.has(o.value.toLowerCase()))
      throw p.semantic(at, `pki name not found: ${o.value}`);
  }
  for (const o of options) {
    if (o.kind === "ca" && !p.scope.cas.has(o.value.toLowerCase()))
      throw p.semantic(at, `ca name not found: ${o.value}`);
  }
}
