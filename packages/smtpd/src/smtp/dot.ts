// DATA framing (RFC 5321 §4.1.1.4, §4.5.2) as a streaming byte parser, for the inbound session.
// End of data is exactly CR LF "." CR LF. A bare LF or bare CR never ends a line for framing
// purposes, so `\n.\n`, `\r.\r`, `\r\n.\r`, `\n.\r\n` are content and can neither end this
// message nor start a second one (SMTP smuggling, SEC Consult 2023); they are flagged so the
// session refuses the whole message once the real end arrives.

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

type State = "lineStart" | "dot" | "dotCr" | "inLine" | "cr";

export interface DotChunk {
  /** Unstuffed content bytes read from this input (line endings as received). */
  readonly content: Buffer;
  /** Input bytes consumed; after the terminator the rest of the input is commands again. */
  readonly consumed: number;
  /** CR LF "." CR LF was seen. */
  readonly done: boolean;
}

export class DotReader {
  #state: State = "lineStart";
  /** Raw octets read so far, not counting the final ".\r\n" (size limits apply to raw input). */
  rawBytes = 0;
  hasBareCr = false;
  hasBareLf = false;

  push(data: Buffer, start = 0): DotChunk {
    const out = Buffer.allocUnsafe(data.length - start + 2);
    let n = 0;
    let i = start;
    let done = false;
    while (i < data.length) {
      const b = data[i++] as number;
      this.rawBytes++;
      switch (this.#state) {
        case "lineStart":
          if (b === DOT) this.#state = "dot";
          else n = this.#inLine(b, out, n);
          break;
        case "dot":
          // RFC 5321 §4.5.2: a leading dot is removed; ".\r" may be the end.
          if (b === CR) this.#state = "dotCr";
          else n = this.#inLine(b, out, n);
          break;
        case "dotCr":
          if (b === LF) {
            done = true;
            this.#state = "lineStart";
            this.rawBytes -= 3;
          } else {
            this.hasBareCr = true; // ".\r" + other: the CR was bare
            out[n++] = CR;
            this.#state = "inLine";
            n = this.#afterCr(b, out, n);
          }
          break;
        case "inLine":
          n = this.#inLine(b, out, n);
          break;
        case "cr":
          n = this.#afterCr(b, out, n);
          break;
      }
      if (done) break;
    }
    return { content: out.subarray(0, n), consumed: i - start, done };
  }

  #inLine(b: number, out: Buffer, n: number): number {
    out[n++] = b;
    if (b === CR) this.#state = "cr";
    else {
      if (b === LF) this.hasBareLf = true; // never a line start: no unstuffing, no end
      this.#state = "inLine";
    }
    return n;
  }

  #afterCr(b: number, out: Buffer, n: number): number {
    if (b === LF) {
      out[n++] = b;
      this.#state = "lineStart";
      return n;
    }
    this.hasBareCr = true;
    return this.#inLine(b, out, n);
  }
}

/** BDAT chunks carry no framing (RFC 3030), but the same bare CR / LF rule applies to content. */
export class LineEndingChecker {
  #lastCr = false;
  hasBareCr = false;
  hasBareLf = false;

  push(data: Buffer): void {
    for (const b of data) {
      if (this.#lastCr && b !== LF) this.hasBareCr = true;
      if (b === LF && !this.#lastCr) this.hasBareLf = true;
      this.#lastCr = b === CR;
    }
  }

  /** At the end of the message a final CR is bare too. */
  end(): void {
    if (this.#lastCr) this.hasBareCr = true;
  }
}

/** Dot-stuffs content for sending (outbound side and tests): "." at line start becomes "..". */
export function dotStuff(content: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  let lineStart = true;
  for (let i = 0; i < content.length; i++) {
    const b = content[i];
    if (lineStart && b === DOT) {
      parts.push(content.subarray(from, i), Buffer.from("."));
      from = i;
    }
    lineStart = b === LF && i > 0 && content[i - 1] === CR;
  }
  parts.push(content.subarray(from));
  return Buffer.concat(parts);
}
