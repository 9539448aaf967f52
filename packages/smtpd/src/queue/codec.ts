// Queue file encoding for the queue role: optional gzip compression and AES-256-GCM encryption,
// framed as OpenSMTPD does (reference §5): 0x01 | 12-byte IV | ciphertext | 16-byte tag; with
// both on, compress first, then encrypt. Decoding never hands out unauthenticated bytes.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { PassThrough, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, gunzipSync, gzipSync } from "node:zlib";

export const CRYPTO_VERSION = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const GZIP_MAGIC = [0x1f, 0x8b] as const;

export interface CodecOptions {
  /** gzip every message and envelope file. */
  compress?: boolean;
  /** 32-byte AES-256-GCM key: encrypt every message and envelope file. */
  key?: Buffer;
}

/** A queue file that cannot be decoded: wrong key, corrupt, or not what the config says. */
export class QueueDataError extends Error {
  /** "crypto": wrong key or not encrypted as configured; "corrupt": damaged content. */
  readonly kind: "crypto" | "corrupt";
  constructor(kind: "crypto" | "corrupt", message: string) {
    super(message);
    this.name = "QueueDataError";
    this.kind = kind;
  }
}

/** Where message bytes go during DATA; `finish` flushes, fsyncs and closes the file. */
export interface MessageSink {
  write(chunk: Buffer): Promise<void>;
  finish(): Promise<void>;
  abort(): Promise<void>;
}

export async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}

function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === GZIP_MAGIC[0] && b[1] === GZIP_MAGIC[1];
}

export class QueueCodec {
  readonly compress: boolean;
  readonly key: Buffer | undefined;

  constructor(opts: CodecOptions) {
    if (opts.key !== undefined && opts.key.length !== 32) {
      // reference §9: a queue key that is not 32 bytes is fatal at start.
      throw new Error(`queue encryption key must be 32 bytes, got ${opts.key.length}`);
    }
    this.compress = opts.compress === true;
    this.key = opts.key;
  }

  get isPlain(): boolean {
    return !this.compress && this.key === undefined;
  }

  encrypt(plain: Buffer): Buffer {
    if (this.key === undefined) return plain;
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    return Buffer.concat([
      Buffer.from([CRYPTO_VERSION]),
      iv,
      c.update(plain),
      c.final(),
      c.getAuthTag(),
    ]);
  }

  decrypt(data: Buffer, what: string): Buffer {
    if (this.key === undefined) return data;
    if (data.length < 1 + IV_BYTES + TAG_BYTES || data[0] !== CRYPTO_VERSION) {
      throw new QueueDataError(
        "crypto",
        `${what}: not encrypted with queue encryption (bad header)`,
      );
    }
    const iv = data.subarray(1, 1 + IV_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const d = createDecipheriv("aes-256-gcm", this.key, iv);
    d.setAuthTag(tag);
    try {
      return Buffer.concat([
        d.update(data.subarray(1 + IV_BYTES, data.length - TAG_BYTES)),
        d.final(),
      ]);
    } catch {
      throw new QueueDataError(
        "crypto",
        `${what}: decryption failed (wrong queue key or corrupt file)`,
      );
    }
  }

  /** Encodes a whole file (used for envelopes). */
  encode(plain: Buffer): Buffer {
    return this.encrypt(this.compress ? gzipSync(plain) : plain);
  }

  /** Decodes a whole message file strictly as configured. */
  decodeMessage(data: Buffer, what: string): Buffer {
    const plain = this.decrypt(data, what);
    if (!this.compress) return plain;
    return gunzip(plain, what);
  }

  /**
   * Decodes an envelope file. Encryption follows the config; compression is detected by the
   * gzip magic (an envelope's text starts with a key, never with 0x1f 0x8b), so turning
   * `queue compression` on or off keeps old envelopes readable.
   */
  decodeEnvelope(data: Buffer, what: string): Buffer {
    if (this.key === undefined && data[0] === CRYPTO_VERSION) {
      throw new QueueDataError(
        "crypto",
        `${what}: file is encrypted but no queue key is configured`,
      );
    }
    const plain = this.decrypt(data, what);
    return isGzip(plain) ? gunzip(plain, what) : plain;
  }

  /** A sink that encodes on the way; encryption streams too (GCM tag written at the end). */
  sink(fh: FileHandle): MessageSink {
    if (this.isPlain) return plainSink(fh);
    const input = new PassThrough();
    const stages: Transform[] = [];
    if (this.compress) stages.push(createGzip());
    if (this.key !== undefined) stages.push(encryptStream(this.key));
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        writeAll(fh, chunk).then(() => cb(), cb);
      },
    });
    let failure: unknown;
    const done = pipeline([input, ...stages, out]).catch((err: unknown) => {
      failure = err;
      throw err;
    });
    done.catch(() => {}); // observed through write()/finish()
    return {
      async write(chunk) {
        if (failure !== undefined) throw failure;
        if (!input.write(chunk)) {
          await Promise.race([new Promise((r) => input.once("drain", r)), done]);
        }
      },
      async finish() {
        input.end();
        await done;
        await fh.sync();
        await fh.close();
      },
      async abort() {
        input.destroy();
        await done.catch(() => {});
        await fh.close().catch(() => {});
      },
    };
  }
}

function gunzip(data: Buffer, what: string): Buffer {
  if (!isGzip(data))
    throw new QueueDataError("corrupt", `${what}: not gzip data (compression mismatch?)`);
  try {
    return gunzipSync(data);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new QueueDataError("corrupt", `${what}: corrupt compressed data (${msg})`);
  }
}

function plainSink(fh: FileHandle): MessageSink {
  return {
    write: (chunk) => writeAll(fh, chunk),
    async finish() {
      await fh.sync();
      await fh.close();
    },
    async abort() {
      await fh.close().catch(() => {});
    },
  };
}

function encryptStream(key: Buffer): Transform {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv("aes-256-gcm", key, iv);
  const header = Buffer.concat([Buffer.from([CRYPTO_VERSION]), iv]);
  let sentHeader = false;
  const head = (): Buffer[] => {
    if (sentHeader) return [];
    sentHeader = true;
    return [header];
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cb(null, Buffer.concat([...head(), c.update(chunk)]));
    },
    flush(cb) {
      cb(null, Buffer.concat([...head(), c.final(), c.getAuthTag()]));
    },
  });
}
