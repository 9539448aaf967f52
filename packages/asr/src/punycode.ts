// Punycode (RFC 3492) and a small IDNA mapping: U-labels -> A-labels before querying.
// The mapping is NFC plus lower-casing (close to UTS #46 for common names); node:url's
// domainToASCII serves as the oracle in the tests.

import { fail, ok, type Result } from "./errors.js";

const BASE = 36;
const TMIN = 1;
const TMAX = 26;
const SKEW = 38;
const DAMP = 700;
const INITIAL_BIAS = 72;
const INITIAL_N = 128;
const MAXINT = 0x7fffffff;

function adapt(delta0: number, numPoints: number, firstTime: boolean): number {
  let delta = firstTime ? Math.floor(delta0 / DAMP) : delta0 >> 1;
  delta += Math.floor(delta / numPoints);
  let k = 0;
  while (delta > ((BASE - TMIN) * TMAX) >> 1) {
    delta = Math.floor(delta / (BASE - TMIN));
    k += BASE;
  }
  return k + Math.floor(((BASE - TMIN + 1) * delta) / (delta + SKEW));
}

const digit = (d: number): string => String.fromCharCode(d < 26 ? d + 97 : d + 22);

function digitValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 22;
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 97;
  return BASE;
}

/** RFC 3492 §6.3: encodes a string of code points. */
export function punycodeEncode(input: string): Result<string> {
  const cps = Array.from(input, (c) => c.codePointAt(0) ?? 0);
  let out = cps
    .filter((c) => c < 0x80)
    .map((c) => String.fromCharCode(c))
    .join("");
  const b = out.length;
  let h = b;
  if (b > 0) out += "-";
  let n = INITIAL_N;
  let delta = 0;
  let bias = INITIAL_BIAS;
  while (h < cps.length) {
    let m = MAXINT;
    for (const c of cps) if (c >= n && c < m) m = c;
    if (m - n > Math.floor((MAXINT - delta) / (h + 1))) return fail("punycode overflow");
    delta += (m - n) * (h + 1);
    n = m;
    for (const c of cps) {
      if (c < n && ++delta > MAXINT) return fail("punycode overflow");
      if (c !== n) continue;
      let q = delta;
      for (let k = BASE; ; k += BASE) {
        const t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
        if (q < t) break;
        out += digit(t + ((q - t) % (BASE - t)));
        q = Math.floor((q - t) / (BASE - t));
      }
      out += digit(q);
      bias = adapt(delta, h + 1, h === b);
      delta = 0;
      h++;
    }
    delta++;
    n++;
  }
  return ok(out);
}

/** RFC 3492 §6.2: decodes to a string of code points. */
export function punycodeDecode(input: string): Result<string> {
  const out: number[] = [];
  const basic = input.lastIndexOf("-");
  for (let j = 0; j < Math.max(basic, 0); j++) {
    const c = input.charCodeAt(j);
    if (c >= 0x80) return fail("non-basic code point before delimiter");
    out.push(c);
  }
  let n = INITIAL_N;
  let i = 0;
  let bias = INITIAL_BIAS;
  for (let pos = basic > 0 ? basic + 1 : 0; pos < input.length; ) {
    const oldi = i;
    let w = 1;
    for (let k = BASE; ; k += BASE) {
      if (pos >= input.length) return fail("truncated punycode");
      const d = digitValue(input.charCodeAt(pos++));
      if (d >= BASE) return fail("bad punycode digit");
      if (d > Math.floor((MAXINT - i) / w)) return fail("punycode overflow");
      i += d * w;
      const t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
      if (d < t) break;
      if (w > Math.floor(MAXINT / (BASE - t))) return fail("punycode overflow");
      w *= BASE - t;
    }
    bias = adapt(i - oldi, out.length + 1, oldi === 0);
    if (Math.floor(i / (out.length + 1)) > MAXINT - n) return fail("punycode overflow");
    n += Math.floor(i / (out.length + 1));
    i %= out.length + 1;
    if (n > 0x10ffff) return fail("code point out of range");
    out.splice(i++, 0, n);
  }
  return ok(String.fromCodePoint(...out));
}

const DOTS = /[.\u3002\uff0e\uff61]/;

/** Converts a domain to A-labels (IDNA ToASCII, simplified). ASCII input is returned as typed. */
export function toASCII(domain: string): Result<string> {
  if (/^[\x00-\x7f]*$/.test(domain)) return ok(domain);
  const labels = domain.normalize("NFC").toLowerCase().split(DOTS);
  const outLabels: string[] = [];
  for (const label of labels) {
    if (/^[\x00-\x7f]*$/.test(label)) {
      outLabels.push(label);
      continue;
    }
    if (/[\s\u0000-\u001f]/.test(label) || label.startsWith("-") || label.endsWith("-"))
      return fail(`invalid U-label: ${label}`);
    const e = punycodeEncode(label);
    if (!e.ok) return e;
    const a = `xn--${e.value}`;
    if (a.length > 63) return fail("A-label longer than 63 octets");
    outLabels.push(a);
  }
  return ok(outLabels.join("."));
}

/** Converts A-labels back to U-labels, for display. Bad A-labels are left as they are. */
export function toUnicode(domain: string): string {
  return domain
    .split(".")
    .map((l) => {
      if (!/^xn--/i.test(l)) return l;
      const d = punycodeDecode(l.slice(4).toLowerCase());
      return d.ok ? d.value : l;
    })
    .join(".");
}
