// Domain names: presentation text <-> wire labels, validation and comparison.
// Names in the API are absolute, written without the final dot; the root is ".".
// RFC 1035 §2.3.4: labels <= 63 octets, names <= 255 octets on the wire.

import { fail, ok, type Result } from "./errors.js";

export const MAX_LABEL_OCTETS = 63;
export const MAX_NAME_OCTETS = 255;

/** Parses presentation text (with \. and \DDD escapes) into labels. */
export function nameToLabels(text: string): Result<Buffer[]> {
  if (text === "." || text === "") return ok([]);
  const labels: Buffer[] = [];
  let cur: number[] = [];
  let wire = 1;
  const endLabel = (): string | null => {
    if (cur.length === 0) return "empty label";
    if (cur.length > MAX_LABEL_OCTETS) return "label longer than 63 octets";
    wire += cur.length + 1;
    labels.push(Buffer.from(cur));
    cur = [];
    return null;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7e || c < 0x21) return fail(`invalid character in name at ${i}`);
    if (c === 0x5c) {
      const d = text.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) return fail("bad \\DDD escape");
        cur.push(v);
        i += 3;
      } else if (i + 1 < text.length) {
        cur.push(text.charCodeAt(i + 1));
        i += 1;
      } else return fail("dangling backslash");
    } else if (c === 0x2e) {
      const e = endLabel();
      if (e) return fail(e);
      if (i === text.length - 1) break; // the final dot
    } else cur.push(c);
  }
  if (cur.length > 0 || labels.length === 0) {
    const e = endLabel();
    if (e) return fail(e);
  }
  if (wire > MAX_NAME_OCTETS) return fail("name longer than 255 octets");
  return ok(labels);
}

/**
 * The length of `text` without its final dot when it is a valid name with no escapes (what
 * nameToLabels accepts without a backslash), else -1. The root and "" give -1.
 */
function plainEnd(text: string): number {
  const n = text.length;
  const end = n > 1 && text.charCodeAt(n - 1) === 0x2e ? n - 1 : n;
  if (end === 0 || end + 2 > MAX_NAME_OCTETS) return -1;
  let len = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (len === 0) return -1;
      len = 0;
    } else if (c > 0x7e || c < 0x21 || c === 0x5c || ++len > MAX_LABEL_OCTETS) return -1;
  }
  return len > 0 ? end : -1;
}

/** A valid name without escapes, returned without its final dot; else null. */
export function plainName(text: string): string | null {
  const end = plainEnd(text);
  return end < 0 ? null : end === text.length ? text : text.slice(0, end);
}

/** Octets of the wire form of a name without escapes (the root too), or -1 if not such a name. */
export function plainWireLength(text: string): number {
  if (text === ".") return 1;
  const end = plainEnd(text);
  return end < 0 ? -1 : end + 2;
}

/**
 * Writes the wire form of a plain name at `at`, straight from its text, without per-label
 * buffers; `wireLength` is what plainWireLength gave (the caller has checked it is not -1).
 */
export function writePlainName(text: string, wireLength: number, out: Buffer, at: number): void {
  const end = wireLength - 2; // the text's length without a final dot
  let lenAt = at;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      out[lenAt] = at + i - lenAt;
      lenAt = at + i + 1;
    } else out[at + i + 1] = c;
  }
  if (end > 0) out[lenAt] = at + end - lenAt;
  out[at + wireLength - 1] = 0;
}

/** Formats wire labels as presentation text, escaping what is not plain. */
export function labelsToName(labels: readonly Uint8Array[]): string {
  if (labels.length === 0) return ".";
  return labels.map(labelToText).join(".");
}

function labelToText(label: Uint8Array): string {
  let s = "";
  for (const b of label) {
    if (b === 0x2e || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
    else if (b <= 0x20 || b >= 0x7f) s += `\\${String(b).padStart(3, "0")}`;
    else s += String.fromCharCode(b);
  }
  return s;
}

/** Lower-cases ASCII letters only (DNS names compare case-insensitively, RFC 4343). */
export function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return s.replace(/[A-Z]+/g, (x) => x.toLowerCase());
  }
  return s;
}

/** Equal up to ASCII case, without allocating; null when escapes make it undecidable here. */
function plainEqual(a: string, b: string): boolean | null {
  if (a.length !== b.length) return a.includes("\\") || b.includes("\\") ? null : false;
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === 0x5c || y === 0x5c) return null;
    if (x >= 0x41 && x <= 0x5a) x += 0x20;
    if (y >= 0x41 && y <= 0x5a) y += 0x20;
    if (x !== y) return false;
  }
  return true;
}

/** Canonical form: parsed, re-escaped, lower-cased, no final dot. Unparseable names stay as given. */
export function canonicalName(name: string): string {
  // A plain name prints back as typed: only the final dot and the case change.
  if (plainEnd(name) > 0) return lowerAscii(stripDot(name));
  const r = nameToLabels(name);
  return lowerAscii(r.ok ? labelsToName(r.value) : name);
}

export function namesEqual(a: string, b: string): boolean {
  const fast = plainEqual(stripDot(a), stripDot(b));
  if (fast !== null) return fast;
  return canonicalName(a) === canonicalName(b);
}

/** Joins a relative name and a domain: ("www", "example.org") -> "www.example.org". */
export function joinName(name: string, domain: string): string {
  const n = name.endsWith(".") ? name.slice(0, -1) : name;
  if (domain === "." || domain === "") return n;
  return `${n}.${domain.endsWith(".") ? domain.slice(0, -1) : domain}`;
}

/** Strips one final dot: "example.org." -> "example.org"; "." stays ".". */
export function stripDot(name: string): string {
  return name.length > 1 && name.endsWith(".") && !name.endsWith("\\.") ? name.slice(0, -1) : name;
}

/** Counts the dots of a name as typed (for ndots). */
export function countDots(name: string): number {
  let n = 0;
  for (let i = 0; i < name.length; i++) {
    if (name[i] === "\\") i++;
    else if (name[i] === ".") n++;
  }
  return n;
}

/**
 * Host-name check in the spirit of libasr's hnok_lenient: letters, digits, '-', '_' and '.',
 * no empty labels. Allows '_' for SRV and TLSA owners.
 */
export function hostnameOk(name: string): boolean {
  const n = stripDot(name);
  if (n.length === 0 || n.length > 253) return false;
  return n.split(".").every((l) => l.length > 0 && l.length <= 63 && /^[A-Za-z0-9_-]+$/.test(l));
}
