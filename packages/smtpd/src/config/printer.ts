// Writes a parsed config back in canonical smtpd.conf form (`smtpd -n -v`): one directive
// per line, strings quoted, numbers as written. Parsing the output again gives the same tree.
import type {
  ActionOption,
  Config,
  Directive,
  FilterCheck,
  FilterDecision,
  InlineEntries,
  LimitEntry,
  ListenOption,
  MatchOption,
  TableArg,
} from "./ast.js";
import { isKeyword } from "./keywords.js";
import { MAX_TOKEN_BYTES } from "./lexer.js";

/**
 * Write a value so that the lexer reads it back unchanged (lexer.ts `quoted`). Inside quotes
 * a backslash escapes only the quote, a space or a tab; any other backslash stays as written,
 * so a backslash needs no escape of its own, only a space or tab right after one does.
 */
export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') out += '\\"';
    else if ((c === " " || c === "\t") && s[i - 1] === "\\") out += `\\${c}`;
    else out += c;
  }
  if (!s.endsWith("\\")) return `${out}"`;
  // A last backslash would escape the closing quote. Outside quotes `\\` reads as one
  // backslash, so a word is written bare when it is one; else a backslash-newline, which
  // the lexer drops inside quotes, keeps the value's backslash from the closing quote.
  return bareEscaped(s) ?? `${out}\\\n"`;
}

/**
 * `s` (which ends in a backslash, so is no keyword) as a bare word with each backslash
 * doubled, or null when it is not a word: it must start with a letter, `:` or `_`.
 */
function bareEscaped(s: string): string | null {
  if (!/^[A-Za-z:_][A-Za-z0-9:_.@/+\-*%^~|;?[\]`&$\\]*$/.test(s)) return null;
  return s.length < MAX_TOKEN_BYTES ? s.replaceAll("\\", "\\\\") : null;
}

const BARE = /^[A-Za-z0-9:_][A-Za-z0-9:_.@/+\-*%^~|;?[\]`&$]*$/;

/** A name written bare when the lexer reads it back as the same string, else quoted. */
export function word(s: string): string {
  if (!BARE.test(s) || isKeyword(s)) return quote(s);
  const digits = /^\d+/.exec(s);
  if (digits !== null) {
    const after = s[digits[0].length];
    if (after === undefined || after === "/") return quote(s);
  }
  return s;
}

const entries = (e: InlineEntries): string =>
  e.type === "list"
    ? `{ ${e.values.map(quote).join(", ")} }`
    : `{ ${e.pairs.map(([k, v]) => `${quote(k)} = ${quote(v)}`).join(", ")} }`;

export const table = (t: TableArg): string =>
  t.kind === "ref"
    ? `<${word(t.name)}>`
    : t.braced
      ? entries(t.entries)
      : quote(t.entries.type === "list" ? t.entries.values[0]! : "");

const limits = (ls: readonly LimitEntry[]): string =>
  ls.map((l) => ("family" in l ? l.family : `${quote(l.key)} ${l.text}`)).join(" ");

const chain = (fs: readonly string[]) => `{ ${fs.map(quote).join(", ")} }`;

function listenOption(o: ListenOption): string {
  switch (o.kind) {
    case "family":
      return o.family;
    case "port":
      return /^\d+$/.test(o.text) ? `port ${o.text}` : `port ${word(o.text)}`;
    case "filter":
      return `filter ${quote(o.name)}`;
    case "filter-chain":
      return `filter ${chain(o.filters)}`;
    case "tls-mode":
      return o.verify ? `${o.mode} verify` : o.mode;
    case "auth":
      return `${o.optional ? "auth-optional" : "auth"}${o.table ? ` ${table(o.table)}` : ""}`;
    case "hostnames":
      return `hostnames ${table(o.table)}`;
    case "senders":
      return `senders ${table(o.table)}${o.masquerade ? " masquerade" : ""}`;
    case "mask-src":
    case "received-auth":
    case "no-dsn":
    case "proxy-v2":
      return o.kind;
    default:
      return `${o.kind} ${quote(o.value)}`;
  }
}

function actionOption(o: ActionOption): string {
  switch (o.kind) {
    case "backup":
      return o.mx === null ? "backup" : `backup mx ${quote(o.mx)}`;
    case "tls":
      return o.noVerify ? "tls no-verify" : "tls";
    case "filter":
      return `filter ${quote(o.name)}`;
    case "filter-chain":
      return `filter ${chain(o.filters)}`;
    case "srs":
      return "srs";
    case "ttl":
      return `ttl ${quote(o.ttl.text)}`;
    case "alias":
    case "virtual":
    case "userbase":
    case "helo-src":
    case "src":
    case "host":
    case "domain":
    case "auth":
      return `${o.kind} ${table(o.table)}`;
    default:
      return `${o.kind} ${quote(o.value)}`;
  }
}

function matchOption(o: MatchOption): string {
  const neg = o.negated ? "!" : "";
  const rt = (kw: string, regex: boolean, t: TableArg | null) =>
    `${neg}${kw}${regex ? " regex" : ""}${t ? ` ${table(t)}` : ""}`;
  switch (o.kind) {
    case "tls":
      return `${neg}tls`;
    case "from-socket":
    case "from-local":
    case "from-any":
      return `${neg}from ${o.kind.slice(5)}`;
    case "for-local":
    case "for-any":
      return `${neg}for ${o.kind.slice(4)}`;
    case "from-src":
    case "from-rdns":
    case "from-auth":
    case "from-mail-from":
      return rt(`from ${o.kind.slice(5)}`, o.regex, o.table);
    case "for-domain":
    case "for-rcpt-to":
      return rt(`for ${o.kind.slice(4)}`, o.regex, o.table);
    default:
      return rt(o.kind, o.regex, o.table);
  }
}

function filterCheck(c: FilterCheck): string {
  const neg = c.negated ? "!" : "";
  switch (c.kind) {
    case "fcrdns":
    case "rdns":
    case "auth":
      return `${neg}${c.kind}`;
    default: {
      const kw = c.kind === "rdns-table" ? "rdns" : c.kind === "auth-table" ? "auth" : c.kind;
      return `${neg}${kw}${c.regex ? " regex" : ""} ${table(c.table)}`;
    }
  }
}

const decision = (d: FilterDecision): string =>
  "value" in d ? `${d.kind} ${quote(d.value)}` : d.kind;

const procParams = (d: { user: string | null; group: string | null; chroot: string | null }) =>
  `${d.user !== null ? ` user ${quote(d.user)}` : ""}${d.group !== null ? ` group ${quote(d.group)}` : ""}${d.chroot !== null ? ` chroot ${quote(d.chroot)}` : ""}`;

export function printDirective(d: Directive): string {
  switch (d.kind) {
    case "include":
      return `# include ${quote(d.path)}`;
    case "admd":
      return `admd ${quote(d.value)}`;
    case "bounce":
      return `bounce warn-interval ${d.warnIntervals.map((w) => quote(w.text)).join(", ")}`;
    case "ca":
      return `ca ${word(d.name)} cert ${quote(d.cert)}`;
    case "pki":
      return `pki ${word(d.name)} ${d.param} ${quote(d.value)}`;
    case "pki-name":
      return `pki ${word(d.name)}`;
    case "mda-wrapper":
      return `mda wrapper ${quote(d.name)} ${quote(d.command)}`;
    case "mda-limit":
      return `mda limit ${limits(d.limits)}`.trimEnd();
    case "mta-max-deferred":
      return `mta max-deferred ${d.text}`;
    case "mta-limit":
      return `mta limit${d.domain !== null ? ` for domain ${quote(d.domain)}` : ""} ${limits(d.limits)}`.trimEnd();
    case "proc":
      return `proc ${quote(d.name)} ${quote(d.command)}${procParams(d)}`;
    case "queue-compression":
      return "queue compression";
    case "queue-encryption":
      return d.key === null ? "queue encryption" : `queue encryption ${quote(d.key)}`;
    case "queue-ttl":
      return `queue ttl ${quote(d.ttl.text)}`;
    case "scheduler-limit":
      return `scheduler limit ${limits(d.limits)}`.trimEnd();
    case "smtp-limit":
      return `smtp limit ${limits(d.limits)}`.trimEnd();
    case "smtp-ciphers":
      return `smtp ciphers ${quote(d.value)}`;
    case "smtp-max-message-size":
      // a NUMBER is written as it was (`-0` is a valid size); a STRING such as 35M quoted
      return `smtp max-message-size ${/^-?\d+$/.test(d.text) ? d.text : quote(d.text)}`;
    case "smtp-sub-addr-delim":
      return `smtp sub-addr-delim ${quote(d.value)}`;
    case "srs-key":
      return `srs key ${d.backup ? "backup " : ""}${quote(d.value)}`;
    case "srs-ttl":
      return `srs ttl ${quote(d.ttl.text)}`;
    case "table":
      return d.source.kind === "inline"
        ? `table ${quote(d.name)} ${entries(d.source.entries)}`
        : `table ${quote(d.name)} ${quote(d.source.raw)}`;
    case "listen": {
      const target = "socket" in d.target ? "socket" : quote(d.target.ifx);
      return [`listen on ${target}`, ...d.options.map(listenOption)].join(" ");
    }
    case "action": {
      const m = d.method;
      let method: string;
      if (m.kind === "maildir")
        method = `maildir${m.path !== null ? ` ${quote(m.path)}` : ""}${m.junk ? " junk" : ""}`;
      else if (m.kind === "lmtp")
        method = `lmtp ${quote(m.destination)}${m.rcptTo ? " rcpt-to" : ""}`;
      else if (m.kind === "mda") method = `mda ${quote(m.command)}`;
      else method = m.kind;
      return [`action ${quote(d.name)} ${method}`, ...d.options.map(actionOption)].join(" ");
    }
    case "match":
      return [
        "match",
        ...d.options.map(matchOption),
        d.action === null ? "reject" : `action ${quote(d.action)}`,
      ].join(" ");
    case "filter-proc":
      return `filter ${quote(d.name)} proc ${quote(d.proc)}`;
    case "filter-proc-exec":
      return `filter ${quote(d.name)} proc-exec ${quote(d.command)}${procParams(d)}`;
    case "filter-chain":
      return `filter ${quote(d.name)} chain ${chain(d.filters)}`;
    case "filter-builtin":
      return `filter ${quote(d.name)} phase ${d.phase} match ${filterCheck(d.check)} ${decision(d.decision)}`;
  }
}

export function printConfig(c: Config): string {
  return c.directives.map((d) => `${printDirective(d)}\n`).join("");
}
