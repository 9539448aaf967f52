// crypt(3)-compatible password hashes, as printed by `smtpctl encrypt` and checked by
// OpenSMTPD's SMTP AUTH: SHA-512-crypt `$6$` (Linux), SHA-256-crypt `$5$`, and bcrypt
// `$2a$`/`$2b$`/`$2y$` (OpenBSD). Pure node:crypto; no native addon, no dependency.
//
// Verification is what OpenSMTPD does: crypt(password, storedHash) === storedHash, the
// comparison made with crypto.timingSafeEqual. Unknown schemes (DES, MD5 `$1$`, yescrypt
// `$y$`, bcrypt `$2x$`, ...) never match; isSupportedHash()/describeHash() say why.
//
// Passwords are taken as UTF-8 bytes. crypt(3) takes C strings, so a password holding a NUL
// byte can never be what was hashed in full: verifyPassword answers false for one (instead of
// silently matching its prefix, as C code would), and hashPassword refuses one.
//
// Event loop: both expensive loops (bcrypt's 2^cost EksBlowfish rounds, SHA-crypt's `rounds`)
// run in slices of about SLICE_MS milliseconds, yielding with setImmediate in between, so a
// cost-12 bcrypt or a rounds=1000000 SHA-crypt does not stall other connections.

import * as nodeCrypto from "node:crypto";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export type PasswordScheme = "sha512" | "bcrypt";

export interface HashPasswordOptions {
  /** SHA-crypt rounds (clamped to 1000..999999999); when given, `rounds=N$` is written. */
  rounds?: number;
  /** bcrypt cost, log2 of the rounds, 4..31 (default 10). */
  cost?: number;
  /** Salt: for sha512 up to 16 characters of `./0-9A-Za-z`; for bcrypt 22 characters of
   * bcrypt's base64 (`./A-Za-z0-9`). Random (crypto.randomBytes) when absent. */
  salt?: string;
}

/** Milliseconds of hashing between two yields to the event loop. */
const SLICE_MS = 10;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The alphabet of crypt(3)'s base64 (SHA-crypt, MD5-crypt, DES salts). */
const CRYPT64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** bcrypt's own base64 alphabet. */
const BCRYPT64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// ---------------------------------------------------------------------------------------
// What a hash is

/** A short name of the scheme of a crypt(3) hash, for logs: "sha512-crypt", "sha256-crypt",
 * "bcrypt", or what an unsupported one looks like ("md5-crypt", "yescrypt", "des", ...). */
export function describeHash(hash: string): string {
  if (hash.startsWith("$6$")) return "sha512-crypt";
  if (hash.startsWith("$5$")) return "sha256-crypt";
  if (/^\$2[aby]\$/.test(hash)) return BCRYPT_RE.test(hash) ? "bcrypt" : "bcrypt (malformed)";
  if (hash.startsWith("$2x$")) return "bcrypt $2x$ (unsupported)";
  if (hash.startsWith("$1$")) return "md5-crypt (unsupported)";
  if (hash.startsWith("$y$")) return "yescrypt (unsupported)";
  if (hash.startsWith("$7$")) return "scrypt (unsupported)";
  if (hash.startsWith("$gy$")) return "gost-yescrypt (unsupported)";
  if (hash.startsWith("$sha1$")) return "sha1-crypt (unsupported)";
  if (hash.startsWith("$md5")) return "sun-md5 (unsupported)";
  if (hash.startsWith("_")) return "bsdi-des (unsupported)";
  if (/^[./0-9A-Za-z]{13}$/.test(hash)) return "des (unsupported)";
  if (hash === "" || hash.startsWith("*") || hash.startsWith("!")) return "locked/empty";
  return "unknown";
}

/** Whether verifyPassword can ever answer true for this hash. */
export function isSupportedHash(hash: string): boolean {
  return hash.startsWith("$6$") || hash.startsWith("$5$") || BCRYPT_RE.test(hash);
}

// ---------------------------------------------------------------------------------------
// Public API

/** Checks a password against a crypt(3) hash ($6$, $5$, $2a$/$2b$/$2y$). Never throws for a
 * bad hash: an unknown or malformed one is simply false. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (typeof password !== "string" || typeof hash !== "string") return false;
  const pw = Buffer.from(password, "utf8");
  if (pw.includes(0)) return false;
  if (!isSupportedHash(hash)) return false;
  const stored = Buffer.from(hash, "utf8");
  const got = await cryptBytes(pw, hash, true);
  if (got && sameBytes(got, stored)) return true;
  // `$2a$` with 255+ bytes: OpenBSD's (wrapped key length, see bcryptKey) did not match;
  // libxcrypt and Openwall compute `$2a$` like `$2b$`, so a hash made on Linux may.
  if (hash.startsWith("$2a$") && pw.length >= 255) {
    const alt = await cryptBytes(pw, hash, false);
    return alt !== null && sameBytes(alt, stored);
  }
  return false;
}

/** crypt(3) itself: the hash of `password` under `setting` (a salt string such as
 * "$6$salt", "$6$rounds=N$salt", "$2b$10$" + 22 salt characters, or a whole stored hash),
 * or null when the scheme is not supported or the setting malformed. `$2a$` is computed as
 * OpenBSD does (see bcryptKey). */
export async function cryptHash(password: string, setting: string): Promise<string | null> {
  const pw = Buffer.from(password, "utf8");
  if (pw.includes(0)) return null;
  const out = await cryptBytes(pw, setting, true);
  return out === null ? null : out.toString("utf8");
}

async function cryptBytes(pw: Buffer, setting: string, openbsdA: boolean): Promise<Buffer | null> {
  if (setting.startsWith("$6$") || setting.startsWith("$5$")) {
    return shaCrypt(pw, Buffer.from(setting, "utf8"));
  }
  const m = BCRYPT_SETTING_RE.exec(setting);
  if (!m) return null;
  const variant = m[1] as "a" | "b" | "y";
  const cost = Number(m[2]);
  const salt = decodeBcrypt64(m[3] ?? "", 16);
  if (!salt || cost < 4 || cost > 31) return null;
  const digest = await bcryptRaw(bcryptKey(pw, variant, openbsdA), cost, salt);
  return Buffer.from(bcryptString(variant, cost, salt, digest), "latin1");
}

/** Hashes a password the way `smtpctl encrypt` does: `$6$` + 16 random salt characters by
 * default, or bcrypt `$2b$` (cost 10 by default). */
export async function hashPassword(
  password: string,
  scheme: PasswordScheme = "sha512",
  opts: HashPasswordOptions = {},
): Promise<string> {
  const pw = Buffer.from(password, "utf8");
  if (pw.includes(0)) throw new RangeError("a crypt(3) password cannot contain a NUL character");
  if (scheme === "sha512") {
    let salt = opts.salt;
    if (salt === undefined) salt = randomSalt(CRYPT64, 16);
    else if (!/^[./0-9A-Za-z]{1,16}$/.test(salt)) {
      throw new RangeError("sha512 salt must be 1 to 16 characters of ./0-9A-Za-z");
    }
    let setting = "$6$";
    if (opts.rounds !== undefined) {
      if (!Number.isSafeInteger(opts.rounds) || opts.rounds < 0) {
        throw new RangeError("rounds must be a non-negative integer");
      }
      setting += `rounds=${opts.rounds}$`;
    }
    setting += salt;
    return (await shaCrypt(pw, Buffer.from(setting, "latin1"))).toString("latin1");
  }
  if (scheme === "bcrypt") {
    const cost = opts.cost ?? 10;
    if (!Number.isInteger(cost) || cost < 4 || cost > 31)
      throw new RangeError("bcrypt cost must be 4..31");
    let salt: Buffer | null;
    if (opts.salt === undefined) salt = randomBytes(16);
    else {
      salt = /^[./A-Za-z0-9]{22}$/.test(opts.salt) ? decodeBcrypt64(opts.salt, 16) : null;
      if (!salt) throw new RangeError("bcrypt salt must be 22 characters of ./A-Za-z0-9");
    }
    return bcryptString("b", cost, salt, await bcryptRaw(bcryptKey(pw, "b", false), cost, salt));
  }
  throw new RangeError(`unknown password scheme: ${String(scheme)}`);
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function randomSalt(alphabet: string, n: number): string {
  // 256 is a multiple of 64: `byte & 63` is uniform.
  let s = "";
  for (const b of randomBytes(n)) s += alphabet[b & 63];
  return s;
}

// ---------------------------------------------------------------------------------------
// SHA-256-crypt and SHA-512-crypt, after Ulrich Drepper's "Unix crypt using SHA-256 and
// SHA-512" (the glibc reference): rounds=N$ is clamped to 1000..999999999 and kept in the
// output even when N is the default 5000; the salt stops at '$' or 16 bytes.

const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;

// The byte triples each group of 4 output characters encodes (b2 << 16 | b1 << 8 | b0),
// followed by the tail (the last one holds fewer bytes).
const ORDER_512 = [
  0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8, 29,
  9, 30, 51, 31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57, 37, 58, 16, 59,
  17, 38, 18, 39, 60, 40, 61, 19, 62, 20, 41,
];
const ORDER_256 = [
  0, 10, 20, 21, 1, 11, 12, 22, 2, 3, 13, 23, 24, 4, 14, 15, 25, 5, 6, 16, 26, 27, 7, 17, 18, 28, 8,
  9, 19, 29,
];

// crypto.hash() (Node >= 20.12) is a third faster than createHash() on such short inputs;
// looked up on the namespace so that an older Node still links this module.
const oneShot = (nodeCrypto as { hash?: typeof nodeCrypto.hash }).hash;

function digestOf(algo: string, data: Buffer): Buffer {
  return oneShot ? oneShot(algo, data, "buffer") : createHash(algo).update(data).digest();
}

/** crypt(password, setting) for `$5$`/`$6$` settings, as bytes. */
async function shaCrypt(pw: Buffer, setting: Buffer): Promise<Buffer> {
  const is512 = setting[1] === 0x36; // '6'
  const algo = is512 ? "sha512" : "sha256";
  const n = is512 ? 64 : 32;
  let rest = setting.subarray(3);
  let rounds = ROUNDS_DEFAULT;
  let custom = false;
  const prefix = Buffer.from("rounds=", "latin1");
  if (rest.subarray(0, prefix.length).equals(prefix)) {
    // glibc: strtoul(), and the rounds count only if a '$' follows the digits.
    let i = prefix.length;
    while (i < rest.length && rest[i]! >= 0x30 && rest[i]! <= 0x39) i++;
    if (rest[i] === 0x24) {
      const digits = rest.subarray(prefix.length, i).toString("latin1");
      const asked = digits === "" ? 0 : Number(digits);
      rounds = Math.max(ROUNDS_MIN, Math.min(asked, ROUNDS_MAX));
      custom = true;
      rest = rest.subarray(i + 1);
    }
  }
  let saltEnd = rest.indexOf(0x24);
  if (saltEnd < 0) saltEnd = rest.length;
  const salt = Buffer.from(rest.subarray(0, Math.min(saltEnd, 16)));
  const plen = pw.length;
  const slen = salt.length;

  // Digest B = H(P S P).
  const b = createHash(algo).update(pw).update(salt).update(pw).digest();
  // Digest A = H(P S, B for each byte of P, then B or P for each bit of len(P)).
  const ha = createHash(algo).update(pw).update(salt);
  let cnt = plen;
  for (; cnt > n; cnt -= n) ha.update(b);
  ha.update(b.subarray(0, cnt));
  for (cnt = plen; cnt > 0; cnt >>= 1) ha.update(cnt & 1 ? b : pw);
  const a = ha.digest();
  // Digest DP = H(P repeated len(P) times); the P sequence is DP stretched to len(P).
  const hdp = createHash(algo);
  for (let i = 0; i < plen; i++) hdp.update(pw);
  const pseq = stretch(hdp.digest(), plen);
  // Digest DS = H(S repeated 16 + A[0] times); the S sequence is DS stretched to len(S).
  const hds = createHash(algo);
  for (let i = 0; i < 16 + a[0]!; i++) hds.update(salt);
  const sseq = stretch(hds.digest(), slen);

  // The rounds, each over one buffer assembled in place.
  let c: Buffer = a;
  const buf = Buffer.alloc(2 * plen + slen + n);
  let t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    let o = 0;
    if (r & 1) o += pseq.copy(buf, o);
    else o += c.copy(buf, o);
    if (r % 3 !== 0) o += sseq.copy(buf, o);
    if (r % 7 !== 0) o += pseq.copy(buf, o);
    if (r & 1) o += c.copy(buf, o);
    else o += pseq.copy(buf, o);
    c = digestOf(algo, buf.subarray(0, o));
    if ((r & 255) === 255 && performance.now() - t0 > SLICE_MS) {
      await yieldToLoop();
      t0 = performance.now();
    }
  }

  const head = Buffer.from(`$${is512 ? 6 : 5}$${custom ? `rounds=${rounds}$` : ""}`, "latin1");
  let out = "";
  const order = is512 ? ORDER_512 : ORDER_256;
  for (let i = 0; i + 2 < order.length; i += 3) {
    out += crypt64(c[order[i]!]!, c[order[i + 1]!]!, c[order[i + 2]!]!, 4);
  }
  out += is512 ? crypt64(0, 0, c[63]!, 2) : crypt64(0, c[31]!, c[30]!, 3);
  return Buffer.concat([head, salt, Buffer.from("$" + out, "latin1")]);
}

function stretch(d: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let o = 0; o < len; o += d.length) d.copy(out, o, 0, Math.min(d.length, len - o));
  return out;
}

function crypt64(b2: number, b1: number, b0: number, chars: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let s = "";
  for (let i = 0; i < chars; i++) {
    s += CRYPT64[w & 0x3f];
    w >>>= 6;
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// bcrypt: EksBlowfish (Provos & Mazières, "A Future-Adaptable Password Scheme", 1999) as
// OpenBSD's bcrypt.c runs it.

/** A whole bcrypt hash: `$2b$`, two-digit cost 04..31, 22 characters of salt, 31 of digest. */
const BCRYPT_RE = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
/** The part of a bcrypt hash crypt(3) reads as the setting (anything after is ignored). */
const BCRYPT_SETTING_RE = /^\$2([aby])\$(\d\d)\$([./A-Za-z0-9]{22})/;

/** The Blowfish key stream: the password, its NUL, cycled, as 18 big-endian words.
 *
 * `$2b$`/`$2y$` (and libxcrypt's `$2a$`): at most 72 bytes of password, then the NUL (never
 * reached at 72 bytes). OpenBSD's `$2a$` (`openbsdA`) kept the length plus one in a uint8_t,
 * so for passwords of 255 bytes and more it wraps: only (len + 1) mod 256 bytes are cycled
 * (and at 0, the first byte alone: stream2word resets to 0 whenever the index is past the
 * length). Under 255 bytes both agree. */
function bcryptKey(pw: Buffer, variant: "a" | "b" | "y", openbsdA: boolean): Int32Array {
  let key: Buffer;
  let keyLen: number;
  if (variant === "a" && openbsdA) {
    key = Buffer.concat([pw, Buffer.alloc(1)]);
    keyLen = (pw.length + 1) & 0xff;
  } else {
    const used = Math.min(pw.length, 72);
    key = Buffer.concat([pw.subarray(0, used), Buffer.alloc(1)]);
    keyLen = used + 1;
  }
  const words = new Int32Array(18);
  let j = 0;
  for (let i = 0; i < 18; i++) {
    let w = 0;
    for (let k = 0; k < 4; k++) {
      if (j >= keyLen) j = 0;
      w = (w << 8) | key[j]!;
      j++;
    }
    words[i] = w;
  }
  return words;
}

/** The 23 bytes of a bcrypt digest. */
async function bcryptRaw(keyWords: Int32Array, cost: number, salt: Buffer): Promise<Buffer> {
  const init = blowfishInit();
  const P = init.slice(0, 18);
  const S = init.slice(18);
  const saltWords = new Int32Array(4);
  for (let i = 0; i < 4; i++) saltWords[i] = salt.readInt32BE(4 * i);
  // The salt stream cycled to 18 words, for the plain key expansion by the salt.
  const saltStream = new Int32Array(18);
  for (let i = 0; i < 18; i++) saltStream[i] = saltWords[i & 3]!;

  expandSalted(P, S, keyWords, saltWords);
  const rounds = 2 ** cost;
  let t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    expand0(P, S, keyWords);
    expand0(P, S, saltStream);
    if ((r & 3) === 3 && performance.now() - t0 > SLICE_MS) {
      await yieldToLoop();
      t0 = performance.now();
    }
  }

  const text = Buffer.from("OrpheanBeholderScryDoubt", "latin1");
  const cdata = new Int32Array(6);
  for (let i = 0; i < 6; i++) cdata[i] = text.readInt32BE(4 * i);
  for (let k = 0; k < 64; k++) {
    for (let i = 0; i < 6; i += 2) {
      encipher(P, S, cdata[i]!, cdata[i + 1]!);
      cdata[i] = LR[0]!;
      cdata[i + 1] = LR[1]!;
    }
  }
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) out.writeInt32BE(cdata[i]!, 4 * i);
  return out.subarray(0, 23);
}

function bcryptString(variant: string, cost: number, salt: Buffer, digest: Buffer): string {
  return `$2${variant}$${String(cost).padStart(2, "0")}$${encodeBcrypt64(salt)}${encodeBcrypt64(digest)}`;
}

/** Output of encipher (left, right). */
const LR = new Int32Array(2);

function encipher(P: Int32Array, S: Int32Array, left: number, right: number): void {
  let l = left ^ P[0]!;
  let r = right;
  for (let i = 1; i < 17; i += 2) {
    r ^=
      (((S[l >>> 24]! + S[0x100 | ((l >>> 16) & 0xff)]!) ^ S[0x200 | ((l >>> 8) & 0xff)]!) +
        S[0x300 | (l & 0xff)]!) ^
      P[i]!;
    l ^=
      (((S[r >>> 24]! + S[0x100 | ((r >>> 16) & 0xff)]!) ^ S[0x200 | ((r >>> 8) & 0xff)]!) +
        S[0x300 | (r & 0xff)]!) ^
      P[i + 1]!;
  }
  LR[0] = r ^ P[17]!;
  LR[1] = l;
}

/** Blowfish_expandstate: P ^= key, then P and S re-made by encrypting the salt stream. */
function expandSalted(P: Int32Array, S: Int32Array, key: Int32Array, salt: Int32Array): void {
  for (let i = 0; i < 18; i++) P[i] = P[i]! ^ key[i]!;
  let l = 0;
  let r = 0;
  let k = 0;
  for (let i = 0; i < 18; i += 2) {
    l ^= salt[k & 3]!;
    r ^= salt[(k + 1) & 3]!;
    k += 2;
    encipher(P, S, l, r);
    l = LR[0]!;
    r = LR[1]!;
    P[i] = l;
    P[i + 1] = r;
  }
  for (let i = 0; i < 1024; i += 2) {
    l ^= salt[k & 3]!;
    r ^= salt[(k + 1) & 3]!;
    k += 2;
    encipher(P, S, l, r);
    l = LR[0]!;
    r = LR[1]!;
    S[i] = l;
    S[i + 1] = r;
  }
}

/** Blowfish_expand0state: the plain Blowfish key schedule. */
function expand0(P: Int32Array, S: Int32Array, key: Int32Array): void {
  for (let i = 0; i < 18; i++) P[i] = P[i]! ^ key[i]!;
  let l = 0;
  let r = 0;
  for (let i = 0; i < 18; i += 2) {
    encipher(P, S, l, r);
    l = LR[0]!;
    r = LR[1]!;
    P[i] = l;
    P[i + 1] = r;
  }
  for (let i = 0; i < 1024; i += 2) {
    encipher(P, S, l, r);
    l = LR[0]!;
    r = LR[1]!;
    S[i] = l;
    S[i + 1] = r;
  }
}

function encodeBcrypt64(data: Buffer): string {
  let s = "";
  let i = 0;
  while (i < data.length) {
    let c1 = data[i++]!;
    s += BCRYPT64[c1 >> 2];
    c1 = (c1 & 0x03) << 4;
    if (i >= data.length) {
      s += BCRYPT64[c1];
      break;
    }
    let c2 = data[i++]!;
    c1 |= c2 >> 4;
    s += BCRYPT64[c1];
    c1 = (c2 & 0x0f) << 2;
    if (i >= data.length) {
      s += BCRYPT64[c1];
      break;
    }
    c2 = data[i++]!;
    c1 |= c2 >> 6;
    s += BCRYPT64[c1];
    s += BCRYPT64[c2 & 0x3f];
  }
  return s;
}

/** Decodes `len` bytes of bcrypt base64 (the trailing bits of the last character are
 * ignored, as in OpenBSD and Openwall); null on a character outside the alphabet. */
function decodeBcrypt64(s: string, len: number): Buffer | null {
  const out = Buffer.alloc(len);
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < s.length && o < len; i++) {
    const v = BCRYPT64.indexOf(s[i]!);
    if (v < 0) return null;
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return o === len ? out : null;
}

// ---------------------------------------------------------------------------------------
// Blowfish's initial state: P-array (18 words) then the four S-boxes (4 x 256 words) are
// the hexadecimal digits of the fractional part of pi, in order. Computed once, at first
// use, with BigInt and Machin's formula pi = 16 atan(1/5) - 4 atan(1/239) (about 20 ms).

const INIT_WORDS = 18 + 1024;
let initState: Int32Array | undefined;

function blowfishInit(): Int32Array {
  if (initState) return initState;
  const fracBits = INIT_WORDS * 32;
  const guard = 64;
  const scale = BigInt(fracBits + guard);
  const atanInv = (x: bigint): bigint => {
    // atan(1/x) * 2^scale = sum (-1)^k / ((2k+1) x^(2k+1)), each term truncated.
    let power = (1n << scale) / x;
    const x2 = x * x;
    let sum = power;
    for (let k = 1n; power !== 0n; k++) {
      power /= x2;
      const term = power / (2n * k + 1n);
      sum = k & 1n ? sum - term : sum + term;
    }
    return sum;
  };
  const pi = 16n * atanInv(5n) - 4n * atanInv(239n);
  const frac = (pi & ((1n << scale) - 1n)) >> BigInt(guard);
  const hex = frac.toString(16).padStart(fracBits / 4, "0");
  const words = new Int32Array(INIT_WORDS);
  for (let i = 0; i < INIT_WORDS; i++)
    words[i] = Number.parseInt(hex.slice(8 * i, 8 * i + 8), 16) | 0;
  // The first and last words of the published tables (P[0], P[17], S0[0], S3[255]).
  if (
    words[0] !== (0x243f6a88 | 0) ||
    words[17] !== (0x8979fb1b | 0) ||
    words[18] !== (0xd1310ba6 | 0) ||
    words[INIT_WORDS - 1] !== (0x3ac372e6 | 0)
  ) {
    throw new Error("crypt: computing Blowfish's initial state from pi went wrong");
  }
  initState = words;
  return words;
}
