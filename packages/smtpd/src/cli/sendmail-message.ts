// The message as `sendmail` (cli) reads and sends it, as OpenSMTPD's enqueue.c does: the header
// fields it knows, Bcc removed, missing From/Date (and Message-ID) added, `From ` and
// Return-Path lines dropped, long lines sent quoted-printable. I/O-free; bytes are kept as
// latin1 strings (one char per octet) so 8-bit text passes unchanged.
import { randomBytes } from "node:crypto";
import { rfc5322Date } from "../smtp/headers.js";
import { parseAddressList } from "./header-addresses.js";

/** enqueue.c's LINESPLIT: a line this long (newline included) makes the body quoted-printable. */
export const LINESPLIT = 990;

type Field =
  | "from"
  | "to"
  | "cc"
  | "bcc"
  | "subject"
  | "date"
  | "message-id"
  | "mime-version"
  | "content-type"
  | "content-disposition"
  | "content-transfer-encoding"
  | "user-agent";

/** The fields enqueue.c recognizes; a header block needs one of them to count as headers. */
const KEYWORDS: readonly Field[] = [
  "from",
  "to",
  "cc",
  "bcc",
  "subject",
  "date",
  "message-id",
  "mime-version",
  "content-type",
  "content-disposition",
  "content-transfer-encoding",
  "user-agent",
];

const FIELD_LINE = /^([\x21-\x39\x3b-\x7e]+):/;
const isWsp = (s: string) => s.startsWith(" ") || s.startsWith("\t");

export interface ParsedMessage {
  /** Header lines as read (Bcc removed), without line ends; empty when `noHeader`. */
  readonly header: readonly string[];
  /** Body lines, without line ends. */
  readonly body: readonly string[];
  /** No field that enqueue.c knows before the body: the whole input is body. */
  readonly noHeader: boolean;
  readonly seen: ReadonlySet<Field>;
  /** Content-Type's media type, lowercased ("" when absent). */
  readonly contentType: string;
  /** The first address of From:, or null. */
  readonly headerFrom: string | null;
  /** To, Cc and Bcc addresses in order (used with -t). */
  readonly headerRcpts: readonly string[];
  /** A body line of LINESPLIT octets or more, or a bare CR: the body needs an encoding. */
  readonly needsEncoding: boolean;
}

/** Lines of the input: CRLF and LF both end a line; a last line without one is kept. */
export function splitLines(raw: string): string[] {
  const lines = raw.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/**
 * The header block is the run of field lines (and their continuations, and mbox `From `
 * lines) at the start of the input, up to an empty line or the first line that is none of
 * these. It counts as a header only if it holds a field enqueue.c knows; otherwise the whole
 * input is body, as with OpenSMTPD (`echo "Warning: x" | sendmail root` keeps that line).
 */
export function parseMessage(raw: string): ParsedMessage | { error: string } {
  const lines = splitLines(raw);
  let end = 0;
  let sawField = false;
  while (end < lines.length) {
    const l = lines[end]!;
    if (l === "") break;
    if (FIELD_LINE.test(l) || /^from /i.test(l)) sawField = true;
    else if (!(isWsp(l) && sawField)) break;
    end++;
  }
  const block = lines.slice(0, end);
  const fields: { name: string; lines: string[] }[] = [];
  for (const l of block) {
    const m = FIELD_LINE.exec(l);
    if (isWsp(l) && fields.length > 0) fields[fields.length - 1]!.lines.push(l);
    else fields.push({ name: m ? m[1]!.toLowerCase() : "", lines: [l] });
  }
  const known = (n: string): n is Field => (KEYWORDS as readonly string[]).includes(n);
  const noHeader = !fields.some((f) => known(f.name));
  const seen = new Set<Field>();
  const header: string[] = [];
  const headerRcpts: string[] = [];
  let headerFrom: string | null = null;
  let contentType = "";
  let body: string[];
  if (noHeader) body = lines;
  else {
    // An empty line ends the header; without one, the body starts at the first other line.
    body = lines.slice(end < lines.length && lines[end] === "" ? end + 1 : end);
    for (const f of fields) {
      if (known(f.name)) seen.add(f.name);
      const value = f.lines.join("\n").replace(FIELD_LINE, "");
      if (f.name === "from" || f.name === "to" || f.name === "cc" || f.name === "bcc") {
        const r = parseAddressList(value);
        if ("error" in r) return { error: `${r.error}: ${f.lines[0]}` };
        const addrs = r.addrs.map((a) => Buffer.from(a, "latin1").toString("utf8"));
        if (f.name === "from") headerFrom ??= addrs[0] ?? null;
        else headerRcpts.push(...addrs);
      }
      if (f.name === "content-type") contentType = value.trim().split(";")[0]!.trim().toLowerCase();
      if (f.name !== "bcc") header.push(...f.lines);
    }
  }
  const needsEncoding = body.some((l) => l.length + 1 >= LINESPLIT || l.includes("\r"));
  return {
    header,
    body,
    noHeader,
    seen,
    contentType,
    headerFrom,
    headerRcpts,
    needsEncoding,
  };
}

const hex = (c: number) => `=${c.toString(16).toUpperCase().padStart(2, "0")}`;

/** RFC 2045 §6.7 quoted-printable of one line: soft breaks keep lines within 76 octets. */
export function quotedPrintable(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    let tok: string;
    if (c === 0x20 || c === 0x09) tok = i === line.length - 1 ? hex(c) : line[i]!;
    else if ((c >= 33 && c <= 60) || (c >= 62 && c <= 126)) tok = line[i]!;
    else tok = hex(c);
    if (cur.length + tok.length > 75) {
      out.push(`${cur}=`);
      cur = "";
    }
    cur += tok;
  }
  out.push(cur);
  return out;
}

/** A display name as an RFC 5322 phrase: atoms as they are, else quoted; non-ASCII RFC 2047. */
export function phrase(name: string): string {
  if (/[^\x20-\x7e]/.test(name))
    return `=?UTF-8?B?${Buffer.from(name, "utf8").toString("base64")}?=`;
  if (/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$/.test(name)) return name;
  return `"${name.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

export interface Additions {
  readonly from: string;
  readonly fromName: string | null;
  readonly host: string;
  readonly now: Date;
}

/**
 * The lines to send after DATA (not yet dot-stuffed), in latin1: added fields, the header
 * without `From ` and Return-Path lines, then the body, quoted-printable when it needs an
 * encoding and the message has no Content-Transfer-Encoding of its own (nor is multipart:
 * a multipart body cannot be encoded as a whole). A bare CR left in a line sent as it is
 * becomes a line break: RFC 5321 §2.3.8 forbids it and smtpd refuses it.
 */
export function messageLines(m: ParsedMessage, a: Additions): string[] {
  const out: string[] = [];
  if (!m.seen.has("from")) {
    const name = a.fromName !== null && a.fromName !== "" ? `${phrase(a.fromName)} ` : "";
    out.push(latin1(`From: ${name}<${a.from}>`));
  }
  if (!m.seen.has("date")) out.push(`Date: ${rfc5322Date(a.now)}`);
  if (!m.seen.has("message-id"))
    out.push(
      latin1(
        `Message-ID: <${a.now.getTime().toString(36)}.${randomBytes(6).toString("hex")}@${a.host}>`,
      ),
    );
  const encode =
    m.needsEncoding &&
    !m.seen.has("content-transfer-encoding") &&
    !/^(multipart|message)\//.test(m.contentType);
  if (encode) {
    if (!m.seen.has("mime-version")) out.push("MIME-Version: 1.0");
    if (!m.seen.has("content-type")) out.push("Content-Type: text/plain; charset=unknown-8bit");
    if (!m.seen.has("content-disposition")) out.push("Content-Disposition: inline");
    out.push("Content-Transfer-Encoding: quoted-printable");
  }
  for (const l of m.header) if (!/^(from |return-path:)/i.test(l)) out.push(...l.split("\r"));
  out.push("");
  for (const l of m.body) {
    if (encode) out.push(...quotedPrintable(l));
    else out.push(...l.split("\r"));
  }
  return out;
}

/** A JS (UTF-16) string as the latin1 string of its UTF-8 bytes. */
export function latin1(s: string): string {
  return Buffer.from(s, "utf8").toString("latin1");
}
