// IP address text <-> bytes, and reverse-lookup names (in-addr.arpa, ip6.arpa).
// Used by the codec (A/AAAA rdata), getnameinfo and FCrDNS.

import { isIPv4, isIPv6 } from "node:net";

export function parseIPv4(text: string): Buffer | null {
  if (!isIPv4(text)) return null;
  return Buffer.from(text.split(".").map(Number));
}

/** Parses IPv6 text (with optional %scope, ignored) into 16 bytes. */
export function parseIPv6(text: string): Buffer | null {
  const t = text.split("%")[0] ?? "";
  if (!isIPv6(t)) return null;
  let head = t;
  let v4: Buffer | null = null;
  const lastColon = t.lastIndexOf(":");
  if (t.slice(lastColon + 1).includes(".")) {
    v4 = parseIPv4(t.slice(lastColon + 1));
    if (!v4) return null;
    head = `${t.slice(0, lastColon + 1)}0:0`;
  }
  const [left = "", right] = head.split("::");
  const l = left === "" ? [] : left.split(":");
  const r = right === undefined || right === "" ? [] : right.split(":");
  const fill = right === undefined ? 0 : 8 - l.length - r.length;
  const groups = [...l, ...Array<string>(fill).fill("0"), ...r];
  if (groups.length !== 8) return null;
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  if (v4) v4.copy(out, 12);
  return out;
}

export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text: lower case, longest zero run (>= 2 groups) compressed. */
export function formatIPv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** The PTR owner for an address, or null if the text is not an address. */
export function reverseName(address: string): string | null {
  const v4 = parseIPv4(address);
  if (v4) return `${[...v4].reverse().join(".")}.in-addr.arpa`;
  const v6 = parseIPv6(address);
  if (!v6) return null;
  const nibbles: string[] = [];
  for (const byte of v6) nibbles.push((byte >> 4).toString(16), (byte & 15).toString(16));
  return `${nibbles.reverse().join(".")}.ip6.arpa`;
}

/** Normalises an address for comparison ("::ffff:1.2.3.4" stays v6; case and zeros folded). */
export function normalizeAddress(address: string): string | null {
  const v4 = parseIPv4(address);
  if (v4) return formatIPv4(v4);
  const v6 = parseIPv6(address);
  return v6 ? formatIPv6(v6) : null;
}
