// RFC 5321 §4.1.2 path parsing for MAIL FROM / RCPT TO (dispatcher/smtp, inbound sessions).
// Validators return tagged results and never "fix up" a bad address (CVE-2020-7247): the only
// rewrite is giving a domain-less, otherwise valid address the listener's hostname.
import { isIPv6 } from "node:net";
import { nonAsciiAddress, rcptSyntax, senderSyntax } from "./replies.js";
import type { Reply } from "./reply.js";

/** A mailbox; the null reverse-path `<>` is local "" and domain "". */
export interface Path {
  readonly local: string;
  readonly domain: string;
  /** The local part or the domain holds non-ASCII (only possible with SMTPUTF8). */
  readonly isUtf8: boolean;
}

export const NULL_PATH: Path = { local: "", domain: "", isUtf8: false };
export const isNullPath = (p: Path): boolean => p.local === "" && p.domain === "";
export const pathToString = (p: Path): string => (isNullPath(p) ? "" : `${p.local}@${p.domain}`);

export interface PathOptions {
  readonly role: "sender" | "recipient";
  /** SMTPUTF8 was given on MAIL FROM: non-ASCII is allowed (RFC 6531 §3.3). */
  readonly smtputf8: boolean;
  /** Given to an address without a domain (OpenSMTPD: the listener hostname). */
  readonly defaultDomain: string;
}

export type PathResult =
  | { readonly kind: "ok"; readonly path: Path; readonly params: string }
  | { readonly kind: "error"; readonly reply: Reply };

// RFC 5321 §4.5.3.1.1-3: local part <= 64 octets, domain <= 255, path <= 256 (with brackets).
export const MAX_LOCAL_OCTETS = 64;
export const MAX_DOMAIN_OCTETS = 255;
export const MAX_PATH_OCTETS = 256;

const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]$/;
const octets = (s: string): number => Buffer.byteLength(s, "utf8");
const isNonAscii = (c: string): boolean => c.charCodeAt(0) >= 0x80;
const isControl = (c: string): boolean => {
  const n = c.charCodeAt(0);
  return n < 0x20 || n === 0x7f || (n >= 0x80 && n < 0xa0);
};

type Check = "ok" | "syntax" | "8bit";

/**
 * Parses `<path> [params]` as found after "FROM:" or "TO:" (spaces after the colon are
 * tolerated, as OpenSMTPD and Postfix do). Bracket-less paths are refused.
 */
export function parsePath(text: string, opts: PathOptions): PathResult {
  const syntax: PathResult = {
    kind: "error",
    reply: opts.role === "sender" ? senderSyntax : rcptSyntax,
  };
  const s = text.replace(/^ +/, "");
  if (!s.startsWith("<")) return syntax;
  const close = findClose(s);
  if (close < 0) return syntax;
  const inner = s.slice(1, close);
  const after = s.slice(close + 1);
  if (after !== "" && !after.startsWith(" ")) return syntax;
  const params = after.replace(/^ +/, "");
  if (octets(s.slice(0, close + 1)) > MAX_PATH_OCTETS) return syntax;
  for (const c of inner) if (isControl(c)) return syntax;
  if (inner === "") {
    return opts.role === "sender" ? { kind: "ok", path: NULL_PATH, params } : syntax;
  }
  const mailbox = stripSourceRoute(inner);
  if (mailbox === null) return syntax;
  const r = parseMailbox(mailbox, opts);
  if (r === "syntax") return syntax;
  if (r === "8bit") return { kind: "error", reply: nonAsciiAddress };
  return { kind: "ok", path: r, params };
}

/** Index of the '>' closing the path, skipping quoted strings; -1 when there is none. */
function findClose(s: string): number {
  let quoted = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ">") return i;
    else if (c === "<") return -1;
  }
  return -1;
}

/**
 * RFC 5321 §4.1.2/App. C: an A-d-l source route (`@a,@b:`) MUST be accepted and SHOULD be
 * ignored; it is checked for syntax, then dropped. Returns null when it is malformed.
 */
function stripSourceRoute(inner: string): string | null {
  if (!inner.startsWith("@")) return inner;
  const colon = inner.indexOf(":");
  if (colon < 0) return null;
  for (const hop of inner.slice(0, colon).split(",")) {
    if (!hop.startsWith("@") || checkDomain(hop.slice(1), true) !== "ok") return null;
  }
  return inner.slice(colon + 1);
}

function parseMailbox(box: string, opts: PathOptions): Path | "syntax" | "8bit" {
  let local: string;
  let domain: string | null;
  if (box.startsWith('"')) {
    const end = endOfQuoted(box);
    if (end < 0) return "syntax";
    local = box.slice(0, end + 1);
    const tail = box.slice(end + 1);
    if (tail === "") domain = null;
    else if (tail.startsWith("@")) domain = tail.slice(1);
    else return "syntax";
  } else {
    const at = box.lastIndexOf("@");
    local = at < 0 ? box : box.slice(0, at);
    domain = at < 0 ? null : box.slice(at + 1);
  }
  const lc = local.startsWith('"') ? checkQuoted(local) : checkDotString(local);
  if (lc !== "ok") return lc;
  if (local.startsWith('"')) local = unquoteIfPlain(local);
  if (octets(local) > MAX_LOCAL_OCTETS) return "syntax";
  if (domain === null) domain = opts.defaultDomain;
  const dc = checkDomain(domain, true);
  if (dc !== "ok") return dc;
  if (octets(domain) > MAX_DOMAIN_OCTETS) return "syntax";
  const isUtf8 = /[^\x00-\x7f]/.test(local) || /[^\x00-\x7f]/.test(domain);
  if (isUtf8 && !opts.smtputf8) return "8bit";
  return { local, domain, isUtf8 };
}

function endOfQuoted(s: string): number {
  for (let i = 1; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === '"') return i;
  }
  return -1;
}

/** RFC 5321 Dot-string; RFC 6531 adds UTF8-non-ascii to atext. */
export function checkDotString(s: string): Check {
  if (s === "" || s.startsWith(".") || s.endsWith(".") || s.includes("..")) return "syntax";
  for (const c of s) {
    if (c !== "." && !isNonAscii(c) && !ATEXT.test(c)) return "syntax";
  }
  return "ok";
}

/** RFC 5321 Quoted-string: qtextSMTP is %d32-33 / %d35-91 / %d93-126, quoted-pair %d92 %d32-126. */
function checkQuoted(q: string): Check {
  const body = q.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const c = body[i] ?? "";
    const n = c.charCodeAt(0);
    if (c === "\\") {
      const d = body.charCodeAt(i + 1);
      if (!(d >= 32 && d <= 126)) return "syntax";
      i++;
    } else if (c === '"') return "syntax";
    else if (n < 32 || n === 127) return "syntax";
  }
  return "ok";
}

/** `"john"` is the same mailbox as `john`: keep the plain form when it is a valid Dot-string. */
function unquoteIfPlain(q: string): string {
  const body = q.slice(1, -1);
  if (!body.includes("\\") && checkDotString(body) === "ok") return body;
  return q;
}

/**
 * RFC 5321 Domain or address-literal. Labels allow "_" (seen in the wild; OpenSMTPD's
 * valid_domainpart accepts it too); U-labels are allowed and flagged by the caller.
 */
export function checkDomain(d: string, allowLiteral: boolean): Check {
  if (d.startsWith("[")) {
    if (!allowLiteral || !d.endsWith("]")) return "syntax";
    return isAddressLiteral(d.slice(1, -1)) ? "ok" : "syntax";
  }
  if (d === "" || octets(d) > MAX_DOMAIN_OCTETS) return "syntax";
  for (const label of d.split(".")) {
    if (label === "" || octets(label) > 63) return "syntax";
    if (label.startsWith("-") || label.endsWith("-")) return "syntax";
    for (const c of label) {
      if (isNonAscii(c)) continue;
      if (!/^[A-Za-z0-9_-]$/.test(c)) return "syntax";
    }
  }
  return "ok";
}

function isAddressLiteral(lit: string): boolean {
  if (/^IPv6:/i.test(lit)) return isIPv6(lit.slice(5));
  const parts = lit.split(".");
  return parts.length === 4 && parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255);
}
