// Message header handling on the way into the queue (dispatcher/smtp, as OpenSMTPD's
// smtp_session.c does it): prepend Received, strip Bcc, count Received for loops, refuse a
// header block that starts with whitespace, and on submission listeners qualify bare
// addresses in From/To/Cc and add a missing Date and Message-ID. Streaming; bytes are kept
// as they are (latin1 round trip), only header fields are buffered, one at a time.
import { randomBytes } from "node:crypto";

/** RFC 5321 §6.3 loop detection: OpenSMTPD's MAX_HOPS_COUNT. */
export const MAX_RECEIVED = 100;
/** One header field (with its continuation lines) is buffered whole; this bounds it. */
export const MAX_HEADER_FIELD_OCTETS = 1024 * 1024;

export type HeaderError = "whitespace" | "loop" | "too-large";

export interface HeaderOptions {
  readonly hostname: string;
  /** Local listener or port 587 (OpenSMTPD's condition): qualify addresses, add Date, Message-ID. */
  readonly isSubmission: boolean;
  readonly now: Date;
  /** The Received header to prepend, CRLF-terminated (see receivedHeader). */
  readonly received: string;
}

const FIELD_NAME = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/;

export class HeaderRewriter {
  readonly #o: HeaderOptions;
  #inHeaders = true;
  #started = false;
  #line = ""; // partial line (latin1)
  #field: string | null = null; // current field with continuation lines
  #fieldName = "";
  #seenAny = false;
  #received = 0;
  #hasDate = false;
  #hasMessageId = false;
  error: HeaderError | null = null;

  constructor(o: HeaderOptions) {
    this.#o = o;
  }

  /** Content in, bytes to store out (empty while a field is being buffered). */
  push(content: Buffer): Buffer {
    if (this.error !== null) return Buffer.alloc(0); // the message is refused: stop buffering
    let out = "";
    if (!this.#started) {
      this.#started = true;
      out += this.#o.received;
    }
    if (!this.#inHeaders)
      return out === "" ? content : Buffer.concat([Buffer.from(out, "latin1"), content]);
    const text = content.toString("latin1");
    let from = 0;
    while (this.#inHeaders && from < text.length) {
      const lf = text.indexOf("\n", from);
      if (lf < 0) {
        this.#line += text.slice(from);
        from = text.length;
        if (this.#line.length + (this.#field?.length ?? 0) > MAX_HEADER_FIELD_OCTETS)
          this.#fail("too-large");
        break;
      }
      const line = this.#line + text.slice(from, lf + 1);
      this.#line = "";
      from = lf + 1;
      out += this.#onLine(line);
    }
    if (!this.#inHeaders && from < text.length) out += text.slice(from);
    return Buffer.from(out, "latin1");
  }

  /** End of message: flushes a header block that never ended. */
  end(): Buffer {
    let out = this.#started ? "" : this.#o.received;
    this.#started = true;
    if (this.#inHeaders) {
      if (this.#line !== "") {
        out += this.#onLine(this.#line);
        this.#line = "";
      }
      if (this.#inHeaders) {
        const f = this.#flushField();
        out += f;
        if (f !== "" && !f.endsWith("\n")) out += "\r\n";
        out += this.#added();
        this.#inHeaders = false;
      }
    }
    return Buffer.from(out, "latin1");
  }

  #fail(e: HeaderError): void {
    if (this.error === null) this.error = e;
  }

  #onLine(line: string): string {
    const first = this.#field === null && !this.#seenAny;
    if ((line.startsWith(" ") || line.startsWith("\t")) && this.#field !== null) {
      this.#field += line;
      if (this.#field.length > MAX_HEADER_FIELD_OCTETS) this.#fail("too-large");
      return "";
    }
    const out = this.#flushField();
    if (line.startsWith(" ") || line.startsWith("\t")) {
      // OpenSMTPD 7.5: a header block starting with whitespace is refused.
      if (first) this.#fail("whitespace");
      return this.#endHeaders(out, line);
    }
    const m = FIELD_NAME.exec(line);
    if (m === null) return this.#endHeaders(out, line); // blank line, or body without separator
    this.#seenAny = true;
    this.#field = line;
    this.#fieldName = (m[1] ?? "").toLowerCase();
    return out;
  }

  #endHeaders(out: string, line: string): string {
    this.#inHeaders = false;
    return out + this.#added() + line;
  }

  #flushField(): string {
    const f = this.#field;
    if (f === null) return "";
    this.#field = null;
    const name = this.#fieldName;
    switch (name) {
      case "bcc":
        return ""; // always stripped
      case "received":
        if (++this.#received >= MAX_RECEIVED) this.#fail("loop");
        return f;
      case "date":
        this.#hasDate = true;
        return f;
      case "message-id":
        this.#hasMessageId = true;
        return f;
      case "from":
      case "to":
      case "cc": {
        if (!this.#o.isSubmission) return f;
        const colon = f.indexOf(":");
        return f.slice(0, colon + 1) + qualifyAddresses(f.slice(colon + 1), this.#o.hostname);
      }
      default:
        return f;
    }
  }

  #added(): string {
    if (!this.#o.isSubmission) return "";
    let s = "";
    if (!this.#hasDate) s += `Date: ${rfc5322Date(this.#o.now)}\r\n`;
    if (!this.#hasMessageId)
      s += `Message-ID: <${randomBytes(8).toString("hex")}@${this.#o.hostname}>\r\n`;
    return s;
  }
}

interface Segment {
  tokens: [number, number][];
  hasAt: boolean;
  angleEnd: number;
  angleContent: boolean;
  angleAt: boolean;
  hasAngle: boolean;
}
const newSegment = (): Segment => ({
  tokens: [],
  hasAt: false,
  angleEnd: -1,
  angleContent: false,
  angleAt: false,
  hasAngle: false,
});

/**
 * Appends "@domain" to each address of an RFC 5322 address list that has no domain: a bare
 * single-word addr-spec (`john`, `john (Comment)`) or an angle-addr (`John <john>`). Comments,
 * quoted strings, groups and folding are kept as they are.
 */
export function qualifyAddresses(value: string, domain: string): string {
  const inserts: number[] = [];
  let seg = newSegment();
  let tokStart = -1;
  let tokEnd = -1;
  let depth = 0;
  let inQuote = false;
  let inAngle = false;
  const closeToken = (): void => {
    if (tokStart >= 0) seg.tokens.push([tokStart, tokEnd]);
    tokStart = -1;
  };
  const endSegment = (): void => {
    closeToken();
    if (seg.hasAngle) {
      if (seg.angleEnd >= 0 && seg.angleContent && !seg.angleAt) inserts.push(seg.angleEnd);
    } else if (seg.tokens.length === 1 && !seg.hasAt) {
      inserts.push((seg.tokens[0] as [number, number])[1]);
    }
    seg = newSegment();
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (inQuote) {
      if (c === "\\") i++;
      else if (c === '"') {
        inQuote = false;
        tokEnd = i + 1;
      }
      continue;
    }
    if (depth > 0) {
      if (c === "\\") i++;
      else if (c === "(") depth++;
      else if (c === ")") depth--;
      continue;
    }
    if (c === "(") {
      closeToken();
      depth = 1;
    } else if (c === '"') {
      inQuote = true;
      if (inAngle) seg.angleContent = true;
      else if (tokStart < 0) tokStart = i;
    } else if (inAngle) {
      if (c === ">") {
        inAngle = false;
        seg.angleEnd = i;
      } else if (c === "@") seg.angleAt = true;
      else if (c !== " " && c !== "\t" && c !== "\r" && c !== "\n") seg.angleContent = true;
    } else if (c === "<") {
      closeToken();
      inAngle = true;
      seg.hasAngle = true;
    } else if (c === "," || c === ";") {
      endSegment();
    } else if (c === ":") {
      closeToken();
      seg = newSegment(); // a group's display name is not an address
    } else if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      closeToken();
    } else {
      if (c === "@") seg.hasAt = true;
      if (tokStart < 0) tokStart = i;
      tokEnd = i + 1;
    }
  }
  endSegment();
  let out = value;
  for (const at of inserts.sort((a, b) => b - a))
    out = out.slice(0, at) + "@" + domain + out.slice(at);
  return out;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;
const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
] as const;
const two = (n: number): string => String(n).padStart(2, "0");

/** asctime(3) in local time, as on mbox `From ` lines: "Tue Nov 25 07:15:00 2025". */
export function asctimeDate(d: Date): string {
  return (
    `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`
  );
}

/** RFC 5322 §3.3 date-time in local time: "Tue, 25 Nov 2025 07:15:00 +0100". */
export function rfc5322Date(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const a = Math.abs(off);
  return (
    `${DAYS[d.getDay()]}, ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${sign}${two(Math.floor(a / 60))}${two(a % 60)}`
  );
}

/** "[1.2.3.4]", "[IPv6:2001:db8::1]", "[local]": how addresses appear in Received and EHLO. */
export function bracketAddress(addr: string): string {
  return addr.includes(":") && !addr.startsWith("IPv6:") ? `[IPv6:${addr}]` : `[${addr}]`;
}

export interface ReceivedFacts {
  readonly helo: string;
  readonly rdns: string | null;
  readonly remoteAddress: string;
  readonly maskSrc: boolean;
  readonly hostname: string;
  readonly serverName: string;
  readonly isEsmtp: boolean;
  readonly isSecure: boolean;
  readonly tlsInfo: string | null;
  readonly tlsVerified: boolean;
  readonly receivedAuth: boolean;
  readonly authUser: string | null;
  readonly msgid: string;
  /** The recipient when there is exactly one accepted recipient. */
  readonly singleRcpt: string | null;
  readonly date: Date;
}

/** OpenSMTPD's smtp_message_begin() Received header, CRLF line ends, tab-folded. */
export function receivedHeader(f: ReceivedFacts): string {
  let s = f.maskSrc
    ? "Received: "
    : `Received: from ${f.helo} (${f.rdns ?? "<unknown>"} ${bracketAddress(f.remoteAddress)})\r\n\t`;
  s +=
    `by ${f.hostname} (${f.serverName}) with ${f.isEsmtp ? "E" : ""}SMTP${f.isSecure ? "S" : ""}` +
    `${f.authUser !== null ? "A" : ""} id ${f.msgid}`;
  if (f.isSecure && f.tlsInfo !== null) s += ` (${f.tlsInfo}:${f.tlsVerified ? "YES" : "NO"})`;
  if (f.receivedAuth)
    s +=
      ` auth=${f.authUser !== null ? "yes" : "no"}` +
      (f.authUser !== null ? ` user=${f.authUser}` : "");
  if (f.singleRcpt !== null) s += `\r\n\tfor <${f.singleRcpt}>`;
  return s + `;\r\n\t${rfc5322Date(f.date)}\r\n`;
}
