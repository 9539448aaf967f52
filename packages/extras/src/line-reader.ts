// Byte-level line splitter for the extras line protocols (smtpd-tables(7), smtpd-filters(7)).
// Runs inside every table/filter program: chunks from stdin go in, whole lines come out.
// Splits on LF at the byte level, so a UTF-8 character cut across two reads is rejoined.

/** What one chunk produced: the complete lines (without their LF), or an overlong line. */
export type SplitResult =
  | { readonly kind: "lines"; readonly lines: readonly string[] }
  | { readonly kind: "too-long"; readonly lines: readonly string[]; readonly limitBytes: number };

export class LineReader {
  readonly #maxLineBytes: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  /** maxLineBytes bounds a line (without its LF), so a peer that never sends LF cannot make
   * the program buffer without limit. */
  constructor(maxLineBytes = 65536) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Feeds one chunk. Lines are decoded as UTF-8 (invalid sequences become U+FFFD). */
  push(chunk: Uint8Array): SplitResult {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(0x0a, start);
      if (lf === -1) break;
      const part = chunk.subarray(start, lf);
      if (this.#pendingBytes + part.length > this.#maxLineBytes) {
        return { kind: "too-long", lines, limitBytes: this.#maxLineBytes };
      }
      this.#pending.push(Buffer.from(part));
      lines.push(Buffer.concat(this.#pending).toString("utf8"));
      this.#pending = [];
      this.#pendingBytes = 0;
      start = lf + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.#pendingBytes += rest.length;
      if (this.#pendingBytes > this.#maxLineBytes) {
        return { kind: "too-long", lines, limitBytes: this.#maxLineBytes };
      }
      this.#pending.push(Buffer.from(rest));
    }
    return { kind: "lines", lines };
  }

  /** Bytes of an unterminated last line, if any (at end of input it is a truncated line). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }
}
