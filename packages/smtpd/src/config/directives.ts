// Top-level smtpd.conf directives other than listen/action/match/filter (parse.y `grammar`).
import type { Directive, LimitEntry } from "./ast.js";
import type { Token } from "./lexer.js";
import { parseAction } from "./parse-action.js";
import { parseFilter } from "./parse-filter.js";
import { parseListen } from "./parse-listen.js";
import { parseMatch } from "./parse-match.js";
import type { Parser } from "./parser.js";
import type { TableInfo } from "./scope.js";

/** Words of older grammars, and what replaced them. */
const LEGACY: Readonly<Record<string, string>> = {
  accept:
    '"accept" rules are the pre-6.4 grammar: declare an "action" and use "match ... action NAME"',
  reject: '"reject" rules are the pre-6.4 grammar: use "match ... reject"',
  expire: '"expire" is the pre-6.4 grammar: use "queue ttl DELAY" (or an action\'s "ttl DELAY")',
  map: '"map" is the 2009 grammar: use "table NAME file:/path"',
  limit:
    '"limit" is the pre-6.4 grammar: use "mta limit", "smtp limit", "mda limit" or "scheduler limit"',
  "max-message-size": '"max-message-size" is the pre-6.4 grammar: use "smtp max-message-size SIZE"',
  certificate: '"certificate" is the pre-6.4 spelling: use "pki NAME cert FILE"',
  ssl: '"ssl" is the pre-5.4 grammar: use "tls", "tls-require" or "smtps"',
  deliver: '"deliver to" is the pre-6.4 grammar: declare an "action"',
  sender: '"sender" is the pre-6.4 grammar: use "match mail-from"',
  "mask-source": '"mask-source" is the old spelling: use "mask-src"',
};

export const legacyHint = (t: Token): string | undefined => {
  const h = LEGACY[t.text];
  return h;
};

export function parseDirective(p: Parser): Directive | null {
  const t = p.peek();
  if (t.kind === "keyword") {
    switch (t.text) {
      case "include":
        return include(p);
      case "admd":
        return admd(p);
      case "bounce":
        return bounce(p);
      case "ca":
        return ca(p);
      case "pki":
        return pki(p);
      case "mda":
        return mda(p);
      case "mta":
        return mta(p);
      case "proc":
        return proc(p);
      case "queue":
        return queue(p);
      case "scheduler":
        return scheduler(p);
      case "smtp":
        return smtp(p);
      case "srs":
        return srs(p);
      case "table":
        return table(p);
      case "listen":
        return parseListen(p);
      case "action":
        return parseAction(p);
      case "match":
        return parseMatch(p);
      case "filter":
        return parseFilter(p);
      default:
        throw p.syntax(
          t,
          undefined,
          legacyHint(t) ?? `unexpected "${t.text}" at the start of a line`,
        );
    }
  }
  if (t.kind === "string") {
    p.next();
    if (p.isPunct("=")) return varset(p, t);
    throw p.syntax(p.peek(), undefined, legacyHint(t) ?? `unknown directive "${t.text}"`);
  }
  throw p.syntax(t, "a directive");
}

function varset(p: Parser, name: Token): null {
  p.next();
  const v = p.peek();
  if (v.kind !== "string" && v.kind !== "number") throw p.syntax(v, "a macro value");
  p.next();
  if (/\s/.test(name.text)) throw p.semantic(name, "macro name cannot contain whitespace");
  const old = p.macros.get(name.text);
  if (old === undefined || !old.persist) p.macros.set(name.text, { value: v.text, persist: false });
  return null;
}

function include(p: Parser): Directive {
  const t = p.next();
  const path = p.expectString("a file name");
  return { kind: "include", path: path.text, pos: p.pos(t) };
}

function admd(p: Parser): Directive {
  const t = p.next();
  const v = p.expectString("an ADMD name");
  if (!/^[\x20-\x7e]*$/.test(v.text)) throw p.semantic(v, "not a valid admd");
  return { kind: "admd", value: v.text, pos: p.pos(t) };
}

function bounce(p: Parser): Directive {
  const t = p.next();
  p.expectKw("warn-interval");
  const warnIntervals = [];
  for (;;) {
    const d = p.expectString("a delay such as 4h");
    warnIntervals.push(p.duration(d, (s) => `invalid bounce delay: ${s}`));
    if (!p.isPunct(",")) break;
    p.next();
  }
  return { kind: "bounce", warnIntervals, pos: p.pos(t) };
}

// res_hnok(): letters, digits, '-', '_' and dots; or the catch-all "*".
const hostnameOk = (s: string) =>
  s === "*" ||
  /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/.test(
    s,
  );

function ca(p: Parser): Directive {
  const t = p.next();
  const name = p.expectString("a CA name");
  if (!hostnameOk(name.text)) throw p.semantic(name, `not a valid domain name: ${name.text}`);
  p.expectKw("cert");
  const cert = p.expectString("a certificate file");
  p.scope.cas.add(name.text.toLowerCase());
  return { kind: "ca", name: name.text.toLowerCase(), cert: cert.text, pos: p.pos(t) };
}

function pki(p: Parser): Directive {
  const t = p.next();
  const name = p.expectString("a pki name");
  if (!hostnameOk(name.text)) throw p.semantic(name, `not a valid domain name: ${name.text}`);
  const lname = name.text.toLowerCase();
  p.scope.pkis.add(lname);
  const k = p.peek();
  if (k.kind === "newline" || k.kind === "eof")
    return { kind: "pki-name", name: lname, pos: p.pos(t) };
  if (k.kind === "keyword" && (k.text === "cert" || k.text === "key" || k.text === "dhe")) {
    p.next();
    const v = p.expectString(k.text === "dhe" ? "none, auto or legacy" : "a file name");
    if (k.text === "dhe" && !["none", "auto", "legacy"].includes(v.text.toLowerCase())) {
      throw p.semantic(v, `invalid DHE keyword: ${v.text}`);
    }
    return { kind: "pki", name: lname, param: k.text, value: v.text, pos: p.pos(t) };
  }
  throw p.syntax(k, "cert, key or dhe", k.text === "certificate" ? legacyHint(k) : undefined);
}

export const MDA_LIMITS = [
  "max-session",
  "max-session-per-user",
  "task-lowat",
  "task-hiwat",
  "task-release",
];
export const SMTP_LIMITS = ["max-rcpt", "max-mails"];
export const SCHEDULER_LIMITS = [
  "max-inflight",
  "max-evp-batch-size",
  "max-msg-batch-size",
  "max-schedule",
];
export const MTA_LIMITS = [
  "max-conn-per-host",
  "max-conn-per-route",
  "max-conn-per-source",
  "max-conn-per-connector",
  "max-conn-per-relay",
  "max-conn-per-domain",
  "conn-delay-host",
  "conn-delay-route",
  "conn-delay-source",
  "conn-delay-connector",
  "conn-delay-relay",
  "conn-delay-domain",
  "reconn-delay-route",
  "session-mail-max",
  "session-transaction-delay",
  "session-keepalive",
  "max-failures-per-session",
  "task-hiwat",
  "task-lowat",
  "task-release",
  "discdelay-route",
  "max-mail-per-session",
  "sessdelay-transaction",
  "sessdelay-keepalive",
];

/**
 * A NUMBER token's value. The lexer has checked the int64 range (strtonum); past 2^53 the
 * value is rounded, which is why the AST keeps the text as written for printing. `-0` is 0.
 */
export const numberValue = (text: string): number => Number(BigInt(text));

/** `KEY NUMBER ...` pairs (and inet4/inet6 for mta) until the end of the line. */
function limits(p: Parser, keys: readonly string[], what: string, families = false): LimitEntry[] {
  const out: LimitEntry[] = [];
  for (;;) {
    const t = p.peek();
    if (t.kind === "newline" || t.kind === "eof") return out;
    if (families && t.kind === "keyword" && (t.text === "inet4" || t.text === "inet6")) {
      p.next();
      out.push({ family: t.text });
      continue;
    }
    const k = p.expectString(`a ${what} limit name`);
    const n = p.expectNumber("a number");
    if (!keys.includes(k.text)) throw p.semantic(k, `invalid ${what} limit keyword: ${k.text}`);
    out.push({ key: k.text, value: numberValue(n.text), text: n.text });
  }
}

function mda(p: Parser): Directive {
  const t = p.next();
  if (p.eatKw("limit"))
    return { kind: "mda-limit", limits: limits(p, MDA_LIMITS, "mda"), pos: p.pos(t) };
  p.expectKw("wrapper", '"limit" or "wrapper"');
  const name = p.expectString("a wrapper name");
  const cmd = p.expectString("a command");
  if (p.scope.wrappers.has(name.text))
    throw p.semantic(name, `mda wrapper already declared with that name: ${name.text}`);
  p.scope.wrappers.add(name.text);
  return { kind: "mda-wrapper", name: name.text, command: cmd.text, pos: p.pos(t) };
}

function mta(p: Parser): Directive {
  const t = p.next();
  if (p.eatKw("max-deferred")) {
    const n = p.expectNumber("a number");
    return { kind: "mta-max-deferred", value: numberValue(n.text), text: n.text, pos: p.pos(t) };
  }
  p.expectKw("limit", '"max-deferred" or "limit"');
  let domain: string | null = null;
  if (p.eatKw("for")) {
    p.expectKw("domain");
    domain = p.expectString("a domain").text;
  }
  return { kind: "mta-limit", domain, limits: limits(p, MTA_LIMITS, "mta", true), pos: p.pos(t) };
}

/** proc_params: user, group, chroot, each at most once. */
export function procParams(
  p: Parser,
  what: string,
): { user: string | null; group: string | null; chroot: string | null } {
  const r: { user: string | null; group: string | null; chroot: string | null } = {
    user: null,
    group: null,
    chroot: null,
  };
  for (;;) {
    const t = p.peek();
    if (t.kind !== "keyword" || !(t.text === "user" || t.text === "group" || t.text === "chroot"))
      return r;
    p.next();
    const v = p.expectString(`a ${t.text}`);
    if (r[t.text] !== null) throw p.semantic(t, `${t.text} already specified for this ${what}`);
    r[t.text] = v.text;
  }
}

function proc(p: Parser): Directive {
  const t = p.next();
  const name = p.expectString("a processor name");
  const cmd = p.expectString("a command");
  if (p.scope.procs.has(name.text))
    throw p.semantic(name, `processor already exists with that name: ${name.text}`);
  const params = procParams(p, "processor");
  p.scope.procs.add(name.text);
  return { kind: "proc", name: name.text, command: cmd.text, ...params, pos: p.pos(t) };
}

function queue(p: Parser): Directive {
  const t = p.next();
  if (p.eatKw("compression")) return { kind: "queue-compression", pos: p.pos(t) };
  if (p.eatKw("encryption")) {
    const k = p.peek();
    if (k.kind === "string") {
      p.next();
      const key = /^(stdin|-)$/i.test(k.text) ? "stdin" : k.text;
      if (key !== "stdin" && Buffer.byteLength(key) !== 32) {
        throw p.semantic(
          k,
          `queue encryption key must be exactly 32 bytes (it is ${Buffer.byteLength(key)})`,
        );
      }
      return { kind: "queue-encryption", key, pos: p.pos(t) };
    }
    return { kind: "queue-encryption", key: null, pos: p.pos(t) };
  }
  if (p.eatKw("ttl")) {
    const d = p.expectString("a delay such as 4d");
    return {
      kind: "queue-ttl",
      ttl: p.duration(d, (s) => `invalid ttl delay: ${s}`),
      pos: p.pos(t),
    };
  }
  throw p.syntax(p.peek(), "compression, encryption or ttl");
}

function scheduler(p: Parser): Directive {
  const t = p.next();
  p.expectKw("limit");
  return {
    kind: "scheduler-limit",
    limits: limits(p, SCHEDULER_LIMITS, "scheduler"),
    pos: p.pos(t),
  };
}

/** scan_scaled(3): a number with an optional B/K/M/G/T/P/E suffix (powers of 1024). */
export function scanScaled(s: string): number | null {
  const m = /^(\d+)(?:\.(\d+))?([BKMGTPE]?)$/i.exec(s);
  if (!m) return null;
  const exp = "BKMGTPE".indexOf((m[3] || "B").toUpperCase());
  const mult = 1024 ** exp;
  const whole = Number(m[1]) * mult;
  const frac = m[2] !== undefined && exp > 0 ? Math.floor(Number(`0.${m[2]}`) * mult) : 0;
  if (m[2] !== undefined && exp === 0) return null;
  const v = whole + frac;
  return Number.isSafeInteger(v) ? v : null;
}

function smtp(p: Parser): Directive {
  const t = p.next();
  if (p.eatKw("limit"))
    return { kind: "smtp-limit", limits: limits(p, SMTP_LIMITS, "session"), pos: p.pos(t) };
  if (p.eatKw("ciphers"))
    return { kind: "smtp-ciphers", value: p.expectString("a cipher list").text, pos: p.pos(t) };
  if (p.eatKw("max-message-size")) {
    const s = p.peek();
    if (s.kind === "number") {
      p.next();
      if (BigInt(s.text) < 0n) throw p.semantic(s, `invalid size: ${s.text}`);
      const bytes = numberValue(s.text);
      return { kind: "smtp-max-message-size", bytes, text: s.text, pos: p.pos(t) };
    }
    const v = p.expectString("a size such as 35M");
    const bytes = scanScaled(v.text);
    if (bytes === null) throw p.semantic(v, `invalid size: ${v.text}`);
    return { kind: "smtp-max-message-size", bytes, text: v.text, pos: p.pos(t) };
  }
  if (p.eatKw("sub-addr-delim")) {
    const v = p.expectString("one character");
    if ([...v.text].length !== 1)
      throw p.semantic(v, "subaddressing-delimiter must be one character");
    if (/[\s@]/.test(v.text) || !/^[\x21-\x7e]$/.test(v.text))
      throw p.semantic(v, "sub-addr-delim uses invalid character");
    return { kind: "smtp-sub-addr-delim", value: v.text, pos: p.pos(t) };
  }
  throw p.syntax(p.peek(), "limit, ciphers, max-message-size or sub-addr-delim");
}

function srs(p: Parser): Directive {
  const t = p.next();
  if (p.eatKw("key")) {
    const backup = p.eatKw("backup");
    const v = p.expectString("a secret");
    if (!backup) p.scope.hasSrsKey = true;
    return { kind: "srs-key", backup, value: v.text, pos: p.pos(t) };
  }
  if (p.eatKw("ttl")) {
    const d = p.expectString("a delay such as 4d");
    const ttl = p.duration(d, (s) => `ttl delay "${s}" is invalid`);
    if (ttl.seconds < 86400) throw p.semantic(d, `ttl delay "${d.text}" is too short`);
    return { kind: "srs-ttl", ttl, pos: p.pos(t) };
  }
  throw p.syntax(p.peek(), '"key" or "ttl"');
}

const BUILTIN_BACKENDS = new Set(["static", "file", "db", "getpwnam"]);

function table(p: Parser): Directive {
  const t = p.next();
  const name = p.expectString("a table name");
  if (p.isPunct("{")) {
    p.next();
    if (p.scope.tables.has(name.text))
      throw p.semantic(name, `table "${name.text}" already defined`);
    const entries = p.inlineEntries();
    p.scope.tables.set(name.text, { shape: entries.type, services: null });
    return { kind: "table", name: name.text, source: { kind: "inline", entries }, pos: p.pos(t) };
  }
  const src = p.expectString('a backend:/path or "{"');
  let backend: string;
  let config: string | null;
  if (src.text.startsWith("/")) {
    backend = "static";
    config = src.text;
  } else {
    const i = src.text.indexOf(":");
    backend = i < 0 ? src.text : src.text.slice(0, i);
    config = i < 0 ? null : src.text.slice(i + 1);
  }
  if (config !== null && !config.startsWith("/")) {
    throw p.semantic(src, `invalid backend parameter for table: ${name.text}`);
  }
  if (p.scope.tables.has(name.text)) throw p.semantic(name, `table "${name.text}" already defined`);
  const isFile = backend === "static" || backend === "file";
  // `table t file` with no path: OpenSMTPD makes an empty table of no type, which it accepts
  // here and refuses at every use that checks the table (scope.ts checkUse).
  let shape: TableInfo["shape"] = isFile && config === null ? "none" : "any";
  const host = p.host;
  if (host !== undefined) {
    if (isFile && config !== null) {
      const r = host.readTableFile(config);
      if ("error" in r)
        throw p.semantic(
          src,
          `invalid configuration file ${config} for table ${name.text}: ${r.error}`,
        );
      shape = r.shape;
    } else if (!BUILTIN_BACKENDS.has(backend) && !host.backendExists(backend)) {
      throw p.semantic(src, `table_create: backend "${backend}" does not exist`);
    }
  }
  p.scope.tables.set(name.text, {
    shape,
    services: backend === "getpwnam" ? new Set(["userinfo"]) : null,
  });
  return {
    kind: "table",
    name: name.text,
    source: { kind: "backend", backend, config, raw: src.text },
    pos: p.pos(t),
  };
}
