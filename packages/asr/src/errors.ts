// Error values and error classes of packages/asr (the DNS stub resolver).
// Expected outcomes travel as `Result` values; the classes here mark codec faults internally
// and never escape the public API as exceptions.

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T>(error: string): Result<T> => ({ ok: false, error });

/** Raised inside the decoder only; decodeMessage turns it into a Result. */
export class DecodeError extends Error {
  readonly offset: number;
  constructor(reason: string, offset: number) {
    super(`${reason} at offset ${offset}`);
    this.name = "DecodeError";
    this.offset = offset;
  }
}

/** Raised inside the encoder only; encodeMessage turns it into a Result. */
export class EncodeError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "EncodeError";
  }
}
