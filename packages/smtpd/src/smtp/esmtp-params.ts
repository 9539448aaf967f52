// ESMTP parameters of MAIL FROM and RCPT TO (RFC 5321 §4.1.2 esmtp-param; RFC 1870 SIZE,
// RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 3461 DSN, RFC 4954 AUTH=, RFC 8689 REQUIRETLS) and the
// RFC 3461 xtext codec. Parsers return tagged results; nothing is repaired.

import {
  badParamValue,
  duplicateParam,
  sizeExceeded,
  syntaxError,
  unsupportedOption,
} from "./replies.js";
import type { Reply } from "./reply.js";

export type DsnNotify = "SUCCESS" | "FAILURE" | "DELAY" | "NEVER";

export interface MailParams {
  readonly size: number | null;
  readonly body: "7BIT" | "8BITMIME" | null;
  readonly smtputf8: boolean;
  readonly ret: "FULL" | "HDRS" | null;
  /** Decoded ENVID (printable ASCII, at most 100 octets). */
  readonly envid: string | null;
  readonly requireTls: boolean;
}

export interface Orcpt {
  /** "rfc822", "utf-8", ... as sent. */
  readonly addrType: string;
  /** Decoded address. */
  readonly addr: string;
}

export interface RcptParams {
  readonly notify: readonly DsnNotify[] | null;
  readonly orcpt: Orcpt | null;
}

export type ParamsResult<T> =
  | { readonly kind: "ok"; readonly params: T }
  | { readonly kind: "error"; readonly reply: Reply };

export interface Param {
  readonly key: string; // upper-cased
  readonly value: string | null;
}

// RFC 3461 §4.4 / §4.2: ENVID at most 100 characters, ORCPT at most 500.
export const MAX_ENVID_OCTETS = 100;
export const MAX_ORCPT_OCTETS = 500;

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

/** Splits `K1=V1 K2 K3=V3`; values may carry UTF-8 only with SMTPUTF8 (RFC 6531 §3.3). */
export function splitParams(text: string, allowUtf8: boolean): ParamsResult<Param[]> {
  const out: Param[] = [];
  const seen = new Set<string>();
  for (const word of text.split(" ")) {
    if (word === "") continue;
    const eq = word.indexOf("=");
    const key = (eq < 0 ? word : word.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? null : word.slice(eq + 1);
    if (!KEYWORD.test(key)) return { kind: "error", reply: syntaxError };
    if (value !== null && !isEsmtpValue(value, allowUtf8))
      return { kind: "error", reply: badParamValue };
    if (seen.has(key)) return { kind: "error", reply: duplicateParam };
    seen.add(key);
    out.push({ key, value });
  }
  return { kind: "ok", params: out };
}

/** esmtp-value = 1*(%d33-60 / %d62-126) [RFC 6531: / UTF8-non-ascii]. */
function isEsmtpValue(v: string, allowUtf8: boolean): boolean {
  if (v === "") return false;
  for (const c of v) {
    const n = c.codePointAt(0) ?? 0;
    if (n >= 33 && n <= 126 && n !== 61) continue;
    if (allowUtf8 && n >= 0xa0) continue;
    return false;
  }
  return true;
}

export interface MailParamOptions {
  readonly dsn: boolean;
  readonly isSecure: boolean;
  readonly maxMessageBytes: number;
}

const bad = (reply: Reply): { kind: "error"; reply: Reply } => ({ kind: "error", reply });

export function parseMailParams(text: string, o: MailParamOptions): ParamsResult<MailParams> {
  const hasUtf8Flag = /(^| )SMTPUTF8( |$)/i.test(text);
  const split = splitParams(text, hasUtf8Flag);
  if (split.kind === "error") return split;
  let size: number | null = null;
  let body: MailParams["body"] = null;
  let smtputf8 = false;
  let ret: MailParams["ret"] = null;
  let envid: string | null = null;
  let requireTls = false;
  for (const { key, value } of split.params) {
    switch (key) {
      case "SIZE": // RFC 1870: refuse at MAIL what we would refuse at the end of DATA
        if (value === null || !/^[0-9]{1,20}$/.test(value)) return bad(badParamValue);
        size = Number(value);
        if (size > o.maxMessageBytes) return bad(sizeExceeded);
        break;
      case "BODY":
        if (value === null) return bad(badParamValue);
        if (value.toUpperCase() === "7BIT") body = "7BIT";
        else if (value.toUpperCase() === "8BITMIME") body = "8BITMIME";
        else return bad(badParamValue);
        break;
      case "SMTPUTF8":
        if (value !== null) return bad(badParamValue);
        smtputf8 = true;
        break;
      case "AUTH": // RFC 4954 §5: accepted and ignored, as OpenSMTPD does
        if (value === null) return bad(badParamValue);
        break;
      case "RET":
        if (!o.dsn) return bad(unsupportedOption);
        if (value === null) return bad(badParamValue);
        if (value.toUpperCase() === "FULL") ret = "FULL";
        else if (value.toUpperCase() === "HDRS") ret = "HDRS";
        else return bad(badParamValue);
        break;
      case "ENVID": {
        if (!o.dsn) return bad(unsupportedOption);
        const d = value === null ? null : xtextDecode(value);
        if (d === null || d.length > MAX_ENVID_OCTETS || !/^[\x20-\x7e]*$/.test(d))
          return bad(badParamValue);
        envid = d;
        break;
      }
      case "REQUIRETLS": // RFC 8689 §4.1: only offered, hence only accepted, under TLS
        if (!o.isSecure) return bad(unsupportedOption);
        if (value !== null) return bad(badParamValue);
        requireTls = true;
        break;
      default:
        return bad(unsupportedOption);
    }
  }
  return { kind: "ok", params: { size, body, smtputf8, ret, envid, requireTls } };
}

export interface RcptParamOptions {
  readonly dsn: boolean;
  readonly smtputf8: boolean;
}

export function parseRcptParams(text: string, o: RcptParamOptions): ParamsResult<RcptParams> {
  const split = splitParams(text, o.smtputf8);
  if (split.kind === "error") return split;
  let notify: DsnNotify[] | null = null;
  let orcpt: Orcpt | null = null;
  for (const { key, value } of split.params) {
    switch (key) {
      case "NOTIFY": {
        if (!o.dsn) return bad(unsupportedOption);
        const n = value === null ? null : parseNotify(value);
        if (n === null) return bad(badParamValue);
        notify = n;
        break;
      }
      case "ORCPT": {
        if (!o.dsn) return bad(unsupportedOption);
        const r = value === null ? null : parseOrcpt(value);
        if (r === null) return bad(badParamValue);
        orcpt = r;
        break;
      }
      default:
        return bad(unsupportedOption);
    }
  }
  return { kind: "ok", params: { notify, orcpt } };
}

/** RFC 3461 §4.1: NEVER, or a comma list of SUCCESS, FAILURE, DELAY. */
export function parseNotify(v: string): DsnNotify[] | null {
  const out: DsnNotify[] = [];
  for (const w of v.toUpperCase().split(",")) {
    if (w !== "SUCCESS" && w !== "FAILURE" && w !== "DELAY" && w !== "NEVER") return null;
    if (out.includes(w)) return null;
    out.push(w);
  }
  if (out.includes("NEVER") && out.length > 1) return null;
  return out;
}

/** RFC 3461 §4.2: ORCPT=addr-type ";" xtext, at most 500 characters. */
export function parseOrcpt(v: string): Orcpt | null {
  if (v.length > MAX_ORCPT_OCTETS) return null;
  const semi = v.indexOf(";");
  if (semi <= 0) return null;
  const addrType = v.slice(0, semi);
  if (!/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/.test(addrType)) return null;
  const addr = xtextDecode(v.slice(semi + 1));
  if (addr === null || addr === "" || /[\x00-\x1f\x7f]/.test(addr)) return null;
  return { addrType, addr };
}

/**
 * RFC 3461 §4: xtext = *(xchar / hexchar); xchar is "!" to "~" except "+" and "=", hexchar is
 * "+" and two upper-case hex digits. Returns null on any violation; decoded "+HH" bytes
 * must be ASCII. Non-ASCII characters (RFC 6533 utf-8-addr-xtext) pass through as they are.
 */
export function xtextDecode(s: string): string | null {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? "";
    const n = c.charCodeAt(0);
    if (c === "+") {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return null;
      const b = parseInt(hex, 16);
      if (b >= 0x80) return null;
      out += String.fromCharCode(b);
      i += 2;
    } else if (c === "=" || n < 33 || n === 127) return null;
    else out += c;
  }
  return out;
}

export function xtextEncode(s: string): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    if (byte >= 33 && byte <= 126 && byte !== 43 && byte !== 61) out += String.fromCharCode(byte);
    else out += "+" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}
