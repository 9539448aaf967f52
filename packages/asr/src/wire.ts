// Low-level byte reader and writer for DNS messages, with name (de)compression.
// The reader is strict: every read is bounds-checked and compression pointers must go
// strictly backwards (RFC 1035 §4.1.4), so loops are impossible and reads always end.

import { DecodeError, EncodeError } from "./errors.js";
import { labelsToName, lowerAscii, MAX_NAME_OCTETS, nameToLabels } from "./names.js";

export const MAX_MESSAGE_OCTETS = 65535;

export class Reader {
  readonly buf: Buffer;
  pos = 0;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) throw new DecodeError(`truncated ${what}`, this.pos);
  }
  u8(what = "octet"): number {
    this.need(1, what);
    return this.buf[this.pos++] ?? 0;
  }
  u16(what = "u16"): number {
    const p = this.pos;
    if (p + 2 > this.buf.length) throw new DecodeError(`truncated ${what}`, p);
    this.pos = p + 2;
    return ((this.buf[p] ?? 0) << 8) | (this.buf[p + 1] ?? 0);
  }
  u32(what = "u32"): number {
    const p = this.pos;
    if (p + 4 > this.buf.length) throw new DecodeError(`truncated ${what}`, p);
    this.pos = p + 4;
    const b = this.buf;
    return (
      (b[p] ?? 0) * 0x1000000 + (((b[p + 1] ?? 0) << 16) | ((b[p + 2] ?? 0) << 8) | (b[p + 3] ?? 0))
    );
  }
  bytes(n: number, what = "data"): Buffer {
    this.need(n, what);
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return b;
  }
  /**
   * Plain names already read, as (offset they start at, text) pairs, for compression pointers
   * to hit; a message has few names, so a list beats a Map.
   */
  private known: (number | string)[] | null = null;

  /** Reads a possibly compressed name; returns presentation text (labelsToName's escaping). */
  name(): string {
    const buf = this.buf;
    const start = this.pos;
    let p = start;
    let floor = start; // every pointer must point below the start of the current run
    let after = -1;
    let firstTarget = -1;
    let wire = 1;
    let n = 0; // octets of text in SCRATCH
    let tail = ""; // a name read before, reached through a pointer
    for (;;) {
      if (p >= buf.length) throw new DecodeError("truncated name", p);
      const len = buf[p] ?? 0;
      if ((len & 0xc0) === 0xc0) {
        if (p + 1 >= buf.length) throw new DecodeError("truncated pointer", p);
        const target = ((len & 0x3f) << 8) | (buf[p + 1] ?? 0);
        if (target >= floor) throw new DecodeError("compression pointer not backwards", p);
        if (after < 0) after = p + 2;
        if (p === start) firstTarget = target;
        floor = target;
        p = target;
        const hit = this.knownAt(target);
        if (hit !== null) {
          // A plain name of L characters is L + 1 octets without its root label.
          wire += hit.length + 1;
          if (wire > MAX_NAME_OCTETS) throw new DecodeError("name longer than 255 octets", p);
          tail = hit;
          break;
        }
        continue;
      }
      if ((len & 0xc0) !== 0) throw new DecodeError("unsupported label type", p);
      if (len === 0) {
        if (after < 0) after = p + 1;
        break;
      }
      wire += len + 1;
      if (wire > MAX_NAME_OCTETS) throw new DecodeError("name longer than 255 octets", p);
      const end = p + 1 + len;
      if (end > buf.length) throw new DecodeError("truncated label", p);
      if (n > 0) SCRATCH[n++] = 0x2e;
      for (let i = p + 1; i < end; i++) {
        const b = buf[i] ?? 0;
        // Octets that need an escape: take the general path.
        if (b <= 0x20 || b >= 0x7f || b === 0x2e || b === 0x5c) return this.escapedName();
        SCRATCH[n++] = b;
      }
      p = end;
    }
    this.pos = after;
    const head = n > 0 ? SCRATCH.toString("latin1", 0, n) : "";
    const text = tail === "" ? head : n > 0 ? `${head}.${tail}` : tail;
    if (text === "") return ".";
    // Only the labels read here make a new name; one reached whole through a pointer is known.
    if (n === 0) return text;
    this.remember(firstTarget >= 0 ? firstTarget : start, text);
    return text;
  }

  private remember(at: number, text: string): void {
    if (this.known) this.known.push(at, text);
    else this.known = [at, text];
  }

  /**
   * Steps over a name the caller knows: `text` has no escapes and the octets here are its
   * wire form (checked by the caller), so it is read without decoding, and kept for pointers.
   */
  knownName(text: string): string {
    const end = this.pos + (text === "." ? 1 : text.length + 2);
    if (end > this.buf.length) throw new DecodeError("truncated name", this.pos);
    if (text !== ".") this.remember(this.pos, text);
    this.pos = end;
    return text;
  }

  private knownAt(at: number): string | null {
    const k = this.known;
    if (k) for (let i = 0; i < k.length; i += 2) if (k[i] === at) return k[i + 1] as string;
    return null;
  }

  /** name() for names with octets that need escapes: labels, then labelsToName. */
  private escapedName(): string {
    const buf = this.buf;
    const labels: Buffer[] = [];
    let p = this.pos;
    let after = -1;
    let floor = this.pos; // starts over from the name's first octet, with the same checks
    let wire = 1;
    for (;;) {
      if (p >= buf.length) throw new DecodeError("truncated name", p);
      const len = buf[p] ?? 0;
      if ((len & 0xc0) === 0xc0) {
        if (p + 1 >= buf.length) throw new DecodeError("truncated pointer", p);
        const target = ((len & 0x3f) << 8) | (buf[p + 1] ?? 0);
        if (target >= floor) throw new DecodeError("compression pointer not backwards", p);
        if (after < 0) after = p + 2;
        floor = target;
        p = target;
        continue;
      }
      if ((len & 0xc0) !== 0) throw new DecodeError("unsupported label type", p);
      if (len === 0) {
        if (after < 0) after = p + 1;
        break;
      }
      wire += len + 1;
      if (wire > MAX_NAME_OCTETS) throw new DecodeError("name longer than 255 octets", p);
      if (p + 1 + len > buf.length) throw new DecodeError("truncated label", p);
      labels.push(buf.subarray(p + 1, p + 1 + len));
      p += 1 + len;
    }
    this.pos = after;
    return labelsToName(labels);
  }
}

/** Text of the plain name being read (at most 254 characters). */
const SCRATCH = Buffer.alloc(MAX_NAME_OCTETS);

export class Writer {
  private buf = Buffer.alloc(512);
  pos = 0;
  private readonly names = new Map<string, number>();
  private readonly compress: boolean;
  constructor(compress = true) {
    this.compress = compress;
  }
  private room(n: number): void {
    if (this.pos + n > MAX_MESSAGE_OCTETS)
      throw new EncodeError("message longer than 65535 octets");
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.alloc(
      Math.min(MAX_MESSAGE_OCTETS, Math.max(this.buf.length * 2, this.pos + n)),
    );
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v & 0xff;
  }
  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v & 0xffff, this.pos);
    this.pos += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, at);
  }
  /** Writes a name; compresses against earlier names unless `plain` (RFC 3597 §4). */
  name(text: string, plain = false): void {
    const parsed = nameToLabels(text);
    if (!parsed.ok) throw new EncodeError(`${parsed.error}: ${text}`);
    const labels = parsed.value;
    for (let i = 0; i < labels.length; i++) {
      const key = lowerAscii(labelsToName(labels.slice(i)));
      const at = this.names.get(key);
      if (at !== undefined && this.compress && !plain) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.pos < 0x4000) this.names.set(key, this.pos);
      const l = labels[i] ?? Buffer.alloc(0);
      this.u8(l.length);
      this.bytes(l);
    }
    this.u8(0);
  }
  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}
