// The queue role's envelope: OpenSMTPD's envelope file, version 3 (reference §5), as ASCII
// `key: value` lines in OpenSMTPD's key order. Serialize refuses any value holding CR, LF or
// NUL, so envelope data can never become a second key (CVE-2020-8794 class); parse is strict.
import { isIPv4, isIPv6 } from "node:net";
import { isEvpid } from "./ids.js";

export const ENVELOPE_VERSION = 3;

export type EnvelopeType = "mda" | "mta" | "bounce";
export type BounceType = "failed" | "delayed" | "delivered";
export type DsnNotify = "SUCCESS" | "FAILURE" | "DELAY" | "NEVER";
export type DsnRet = "" | "FULL" | "HDRS";

export interface EnvelopeFlags {
  authenticated: boolean;
  bounce: boolean;
  internal: boolean;
}

/**
 * One recipient of one message. String fields use "" for "absent" (OpenSMTPD does not write
 * empty values); numbers are seconds (times are Unix time) or counters.
 *
 * Facteur additions (written only when true, so other envelopes stay byte-compatible with
 * OpenSMTPD, which would refuse the unknown key):
 * - `smtputf8`: the message was received with `MAIL FROM:<..> SMTPUTF8` (RFC 6531); the relay
 *   must only pass it to servers that advertise SMTPUTF8. Key `smtputf8: yes`.
 * - `requiretls`: the sender asked for REQUIRETLS (RFC 8689); the relay must use verified TLS
 *   on every hop. Key `requiretls: yes`.
 */
export interface Envelope {
  /** evpid, 16 hex digits. Not written into the file: it is the file's name. */
  id: string;
  /** msgid, the first 8 hex digits of the evpid. Not written. */
  msgid: string;
  version: 3;
  /** Name of the action (dispatcher) that delivers it. */
  dispatcher: string;
  tag: string;
  type: EnvelopeType;
  smtpname: string;
  helo: string;
  hostname: string;
  username: string;
  errorline: string;
  /** `local`, `a.b.c.d`, `[v6]`, or "" when unknown. */
  sockaddr: string;
  /** `user@domain`, or "" for the null sender `<>`. */
  sender: string;
  rcpt: string;
  dest: string;
  ctime: number;
  lastTry: number;
  lastBounce: number;
  ttl: number;
  retry: number;
  flags: EnvelopeFlags;
  /** Empty: no NOTIFY given. NEVER is exclusive. */
  dsnNotify: readonly DsnNotify[];
  dsnRet: DsnRet;
  dsnEnvid: string;
  dsnOrcpt: string;
  /** 0 (none), 2, 4 or 5; `esc-code` is written only when the class is set (as OpenSMTPD). */
  escClass: number;
  escCode: number;
  /** MDA envelopes only ("" otherwise). */
  mdaExec: string;
  mdaSubaddress: string;
  mdaUser: string;
  /** Bounce envelopes only (0 / "" otherwise). */
  bounceTtl: number;
  bounceDelay: number;
  bounceType: BounceType | "";
  smtputf8: boolean;
  requiretls: boolean;
}

export type SerializeResult = { ok: true; text: string } | { ok: false; error: string };
export type ParseResult = { ok: true; envelope: Envelope } | { ok: false; error: string };

/** An envelope with every optional field at its default. */
export function makeEnvelope(
  init: Pick<Envelope, "id" | "dispatcher" | "type" | "rcpt" | "dest"> & Partial<Envelope>,
): Envelope {
  return {
    msgid: init.id.slice(0, 8),
    version: 3,
    tag: "",
    smtpname: "",
    helo: "",
    hostname: "",
    username: "",
    errorline: "",
    sockaddr: "",
    sender: "",
    ctime: 0,
    lastTry: 0,
    lastBounce: 0,
    ttl: 0,
    retry: 0,
    flags: { authenticated: false, bounce: false, internal: false },
    dsnNotify: [],
    dsnRet: "",
    dsnEnvid: "",
    dsnOrcpt: "",
    escClass: 0,
    escCode: 0,
    mdaExec: "",
    mdaSubaddress: "",
    mdaUser: "",
    bounceTtl: 0,
    bounceDelay: 0,
    bounceType: "",
    smtputf8: false,
    requiretls: false,
    ...init,
  };
}

// Keys in the order envelope_dump_buffer() writes them.
const COMMON_KEYS = [
  "version",
  "dispatcher",
  "tag",
  "type",
  "smtpname",
  "helo",
  "hostname",
  "username",
  "errorline",
  "sockaddr",
  "sender",
  "rcpt",
  "dest",
  "ctime",
  "last-try",
  "last-bounce",
  "ttl",
  "retry",
  "flags",
  "dsn-notify",
  "dsn-ret",
  "dsn-envid",
  "dsn-orcpt",
  "esc-class",
  "esc-code",
] as const;
const MDA_KEYS = ["mda-exec", "mda-subaddress", "mda-user"] as const;
const BOUNCE_KEYS = ["bounce-ttl", "bounce-delay", "bounce-type"] as const;
const FACTEUR_KEYS = ["smtputf8", "requiretls"] as const;
const ALL_KEYS: ReadonlySet<string> = new Set<string>([
  ...COMMON_KEYS,
  ...MDA_KEYS,
  ...BOUNCE_KEYS,
  ...FACTEUR_KEYS,
]);
const REQUIRED_KEYS = ["version", "dispatcher", "type", "rcpt", "dest", "ctime", "ttl"] as const;

const NOTIFY_ORDER: readonly DsnNotify[] = ["SUCCESS", "FAILURE", "DELAY", "NEVER"];
const FORBIDDEN = /[\r\n\0]/;
// A lone surrogate would be silently replaced by U+FFFD when written as UTF-8.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const MAX_NUMBER = 2 ** 53 - 1;

function validSockaddr(s: string): boolean {
  if (s === "" || s === "local" || isIPv4(s)) return true;
  return s.startsWith("[") && s.endsWith("]") && isIPv6(s.slice(1, -1));
}

function checkNotify(list: readonly string[]): string | null {
  const seen = new Set<string>();
  for (const n of list) {
    if (!(NOTIFY_ORDER as readonly string[]).includes(n)) return `unknown dsn-notify "${n}"`;
    if (seen.has(n)) return `duplicate dsn-notify "${n}"`;
    seen.add(n);
  }
  if (seen.has("NEVER") && seen.size > 1) return "dsn-notify NEVER is exclusive";
  return null;
}

/** Checks an envelope before it is written; returns the first problem or null. */
export function validateEnvelope(e: Envelope): string | null {
  if (e.id !== "" && !isEvpid(e.id)) return `invalid evpid "${e.id}"`;
  if (e.msgid !== e.id.slice(0, 8)) return `msgid "${e.msgid}" does not match evpid "${e.id}"`;
  if (e.version !== ENVELOPE_VERSION) return `unsupported version ${String(e.version)}`;
  if (e.type !== "mda" && e.type !== "mta" && e.type !== "bounce") return "invalid type";
  const strings: [string, string][] = [
    ["dispatcher", e.dispatcher],
    ["tag", e.tag],
    ["smtpname", e.smtpname],
    ["helo", e.helo],
    ["hostname", e.hostname],
    ["username", e.username],
    ["errorline", e.errorline],
    ["sockaddr", e.sockaddr],
    ["sender", e.sender],
    ["rcpt", e.rcpt],
    ["dest", e.dest],
    ["dsn-envid", e.dsnEnvid],
    ["dsn-orcpt", e.dsnOrcpt],
    ["mda-exec", e.mdaExec],
    ["mda-subaddress", e.mdaSubaddress],
    ["mda-user", e.mdaUser],
  ];
  for (const [k, v] of strings) {
    if (typeof v !== "string") return `${k}: not a string`;
    if (FORBIDDEN.test(v)) return `${k}: value contains CR, LF or NUL`;
    if (LONE_SURROGATE.test(v)) return `${k}: value is not well-formed Unicode`;
  }
  for (const k of ["dispatcher", "rcpt", "dest"] as const) {
    if (e[k] === "") return `${k}: required`;
  }
  if (!validSockaddr(e.sockaddr)) return `sockaddr: invalid "${e.sockaddr}"`;
  const numbers: [string, number][] = [
    ["ctime", e.ctime],
    ["last-try", e.lastTry],
    ["last-bounce", e.lastBounce],
    ["ttl", e.ttl],
    ["retry", e.retry],
    ["esc-class", e.escClass],
    ["esc-code", e.escCode],
    ["bounce-ttl", e.bounceTtl],
    ["bounce-delay", e.bounceDelay],
  ];
  for (const [k, v] of numbers) {
    if (!Number.isSafeInteger(v) || v < 0) return `${k}: not a non-negative integer`;
  }
  if (![0, 2, 4, 5].includes(e.escClass)) return "esc-class: must be 0, 2, 4 or 5";
  if (e.escCode > 255) return "esc-code: out of range";
  if (e.escClass === 0 && e.escCode !== 0) return "esc-code: set without esc-class";
  const notify = checkNotify(e.dsnNotify);
  if (notify !== null) return notify;
  if (e.dsnRet !== "" && e.dsnRet !== "FULL" && e.dsnRet !== "HDRS") return "dsn-ret: invalid";
  if (e.type !== "mda" && (e.mdaExec !== "" || e.mdaSubaddress !== "" || e.mdaUser !== "")) {
    return "mda-* fields set on a non-mda envelope";
  }
  if (e.type === "bounce") {
    if (!["failed", "delayed", "delivered"].includes(e.bounceType)) return "bounce-type: invalid";
  } else if (e.bounceTtl !== 0 || e.bounceDelay !== 0 || e.bounceType !== "") {
    return "bounce-* fields set on a non-bounce envelope";
  }
  return null;
}

function flagsText(f: EnvelopeFlags): string {
  const out: string[] = [];
  if (f.authenticated) out.push("authenticated");
  if (f.bounce) out.push("bounce");
  if (f.internal) out.push("internal");
  return out.join(" ");
}

/** OpenSMTPD's envelope file text, or an error; nothing invalid is ever produced. */
export function serializeEnvelope(e: Envelope): SerializeResult {
  const problem = validateEnvelope(e);
  if (problem !== null) return { ok: false, error: problem };
  const notify = NOTIFY_ORDER.filter((n) => e.dsnNotify.includes(n)).join(",");
  const values: Record<string, string> = {
    version: String(e.version),
    dispatcher: e.dispatcher,
    tag: e.tag,
    type: e.type,
    smtpname: e.smtpname,
    helo: e.helo,
    hostname: e.hostname,
    username: e.username,
    errorline: e.errorline,
    sockaddr: e.sockaddr,
    sender: e.sender,
    rcpt: e.rcpt,
    dest: e.dest,
    ctime: String(e.ctime),
    "last-try": String(e.lastTry),
    "last-bounce": String(e.lastBounce),
    ttl: String(e.ttl),
    retry: String(e.retry),
    flags: flagsText(e.flags),
    "dsn-notify": notify,
    "dsn-ret": e.dsnRet,
    "dsn-envid": e.dsnEnvid,
    "dsn-orcpt": e.dsnOrcpt,
    "esc-class": e.escClass === 0 ? "" : String(e.escClass),
    "esc-code": e.escClass === 0 ? "" : String(e.escCode),
    "mda-exec": e.mdaExec,
    "mda-subaddress": e.mdaSubaddress,
    "mda-user": e.mdaUser,
    "bounce-ttl": String(e.bounceTtl),
    "bounce-delay": String(e.bounceDelay),
    "bounce-type": e.bounceType,
    smtputf8: e.smtputf8 ? "yes" : "",
    requiretls: e.requiretls ? "yes" : "",
  };
  const keys: string[] = [...COMMON_KEYS];
  if (e.type === "mda") keys.push(...MDA_KEYS);
  if (e.type === "bounce") keys.push(...BOUNCE_KEYS);
  keys.push(...FACTEUR_KEYS);
  let text = "";
  for (const k of keys) {
    const v = values[k] ?? "";
    // envelope_ascii_dump() skips empty values.
    if (v === "") continue;
    // Belt and braces: validateEnvelope() already refused these.
    if (FORBIDDEN.test(v)) return { ok: false, error: `${k}: value contains CR, LF or NUL` };
    text += `${k}: ${v}\n`;
  }
  return { ok: true, text };
}

function parseNumber(key: string, v: string, max = MAX_NUMBER): number | string {
  if (!/^[0-9]{1,16}$/.test(v)) return `${key}: not a number "${v}"`;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n > max) return `${key}: out of range`;
  return n;
}

function parseFlags(v: string): EnvelopeFlags | string {
  const f: EnvelopeFlags = { authenticated: false, bounce: false, internal: false };
  for (const w of v.split(/[ ,|]/)) {
    const t = w.toLowerCase();
    if (t === "") continue;
    else if (t === "authenticated") f.authenticated = true;
    else if (t === "bounce") f.bounce = true;
    else if (t === "internal") f.internal = true;
    else if (t === "enqueued")
      continue; // accepted on load, never written (OpenSMTPD)
    else return `flags: unknown flag "${w}"`;
  }
  return f;
}

function parseBounceType(v: string): BounceType | null {
  // OpenSMTPD also loads its older names error/warn/dsn.
  switch (v.toLowerCase()) {
    case "failed":
    case "error":
      return "failed";
    case "delayed":
    case "warn":
      return "delayed";
    case "delivered":
    case "dsn":
      return "delivered";
    default:
      return null;
  }
}

function parseSockaddr(v: string): string | null {
  if (v === "local" || isIPv4(v)) return v;
  if (v.startsWith("[") && v.endsWith("]") && isIPv6(v.slice(1, -1))) return v;
  if (isIPv6(v)) return `[${v}]`; // bare IPv6, written before OpenSMTPD 7.3
  return null;
}

/** Splits the file into a key -> value map, refusing duplicates and malformed lines. */
function splitLines(text: string): Map<string, string> | string {
  if (/[\r\0]/.test(text)) return "envelope contains CR or NUL";
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const fields = new Map<string, string>();
  for (const [i, line] of lines.entries()) {
    const m = /^([A-Za-z0-9-]+):(?: (.*))?$/.exec(line);
    if (m === null) return `line ${i + 1}: not a "key: value" line`;
    const key = (m[1] ?? "").toLowerCase();
    if (!ALL_KEYS.has(key)) return `line ${i + 1}: unknown key "${key}"`;
    if (fields.has(key)) return `line ${i + 1}: duplicate key "${key}"`;
    fields.set(key, m[2] ?? "");
  }
  return fields;
}

/**
 * Parses an envelope file. `evpid` is the file's name (the id is not in the file); without
 * it, `id` and `msgid` are "" (unknown).
 */
export function parseEnvelope(text: string, evpid?: string): ParseResult {
  const fail = (error: string): ParseResult => ({ ok: false, error });
  if (evpid !== undefined && !isEvpid(evpid)) return fail(`invalid evpid "${evpid}"`);
  const fields = splitLines(text);
  if (typeof fields === "string") return fail(fields);
  for (const k of REQUIRED_KEYS) {
    if (!fields.has(k)) return fail(`missing key "${k}"`);
  }
  const get = (k: string): string => fields.get(k) ?? "";
  if (get("version") !== String(ENVELOPE_VERSION)) {
    return fail(`unsupported envelope version "${get("version")}"`);
  }
  const type = get("type").toLowerCase();
  if (type !== "mda" && type !== "mta" && type !== "bounce") return fail(`invalid type "${type}"`);
  for (const k of MDA_KEYS) {
    if (type !== "mda" && fields.has(k)) return fail(`${k} on a ${type} envelope`);
  }
  for (const k of BOUNCE_KEYS) {
    if (type !== "bounce" && fields.has(k)) return fail(`${k} on a ${type} envelope`);
  }
  const id = evpid ?? "";
  const e = makeEnvelope({
    id,
    msgid: id.slice(0, 8),
    dispatcher: get("dispatcher"),
    type,
    rcpt: get("rcpt"),
    dest: get("dest"),
    tag: get("tag"),
    smtpname: get("smtpname"),
    helo: get("helo"),
    hostname: get("hostname"),
    username: get("username"),
    errorline: get("errorline"),
    sender: get("sender"),
    dsnEnvid: get("dsn-envid"),
    dsnOrcpt: get("dsn-orcpt"),
    mdaExec: get("mda-exec"),
    mdaSubaddress: get("mda-subaddress"),
    mdaUser: get("mda-user"),
  });
  if (e.dispatcher === "") return fail("dispatcher: empty");
  if (fields.has("sockaddr")) {
    const sa = parseSockaddr(get("sockaddr"));
    if (sa === null) return fail(`sockaddr: invalid "${get("sockaddr")}"`);
    e.sockaddr = sa;
  }
  const nums: [string, (n: number) => void, number?][] = [
    ["ctime", (n) => (e.ctime = n)],
    ["last-try", (n) => (e.lastTry = n)],
    ["last-bounce", (n) => (e.lastBounce = n)],
    ["ttl", (n) => (e.ttl = n)],
    ["retry", (n) => (e.retry = n)],
    ["esc-class", (n) => (e.escClass = n), 255],
    ["esc-code", (n) => (e.escCode = n), 255],
    ["bounce-ttl", (n) => (e.bounceTtl = n)],
    ["bounce-delay", (n) => (e.bounceDelay = n)],
  ];
  for (const [k, set, max] of nums) {
    if (!fields.has(k)) continue;
    const n = parseNumber(k, get(k), max);
    if (typeof n === "string") return fail(n);
    set(n);
  }
  if (![0, 2, 4, 5].includes(e.escClass)) return fail(`esc-class: invalid "${e.escClass}"`);
  if (e.escClass === 0 && e.escCode !== 0) return fail("esc-code without esc-class");
  if (fields.has("flags")) {
    const f = parseFlags(get("flags"));
    if (typeof f === "string") return fail(f);
    e.flags = f;
  }
  if (fields.has("dsn-notify")) {
    const list = get("dsn-notify")
      .split(",")
      .map((s) => s.toUpperCase());
    const problem = checkNotify(list);
    if (problem !== null) return fail(problem);
    e.dsnNotify = NOTIFY_ORDER.filter((n) => list.includes(n));
  }
  if (fields.has("dsn-ret")) {
    const r = get("dsn-ret").toUpperCase();
    if (r !== "FULL" && r !== "HDRS") return fail(`dsn-ret: invalid "${get("dsn-ret")}"`);
    e.dsnRet = r;
  }
  if (type === "bounce") {
    const bt = parseBounceType(get("bounce-type"));
    if (bt === null) return fail(`bounce-type: invalid "${get("bounce-type")}"`);
    e.bounceType = bt;
  }
  for (const k of FACTEUR_KEYS) {
    if (!fields.has(k)) continue;
    const v = get(k).toLowerCase();
    if (v !== "yes" && v !== "no") return fail(`${k}: invalid "${get(k)}"`);
    e[k] = v === "yes";
  }
  return { ok: true, envelope: e };
}
