// hosts(5) parser and lookups, for the `file` database of getaddrinfo/getnameinfo.
// Names compare case-insensitively; the hosts file is never searched (libasr, glibc).

import { isIP } from "node:net";
import { normalizeAddress } from "./ip.js";
import { canonicalName } from "./names.js";

export type HostEntry = { address: string; family: 4 | 6; names: string[] };
export type HostsTable = { entries: HostEntry[] };

export function parseHosts(text: string): HostsTable {
  const entries: HostEntry[] = [];
  for (const raw of text.split("\n")) {
    const [addr, ...names] = raw
      .replace(/#.*/, "")
      .trim()
      .split(/\s+/)
      .filter((t) => t !== "");
    if (!addr || names.length === 0) continue;
    const fam = isIP(addr.split("%")[0] ?? "");
    if (fam !== 4 && fam !== 6) continue;
    entries.push({ address: addr, family: fam, names });
  }
  return { entries };
}

/** Addresses for a name, in file order. */
export function hostsByName(
  t: HostsTable,
  name: string,
): { canonname: string; entries: HostEntry[] } | null {
  const key = canonicalName(name);
  const entries = t.entries.filter((e) => e.names.some((n) => canonicalName(n) === key));
  const first = entries[0];
  if (!first) return null;
  return { canonname: first.names[0] ?? name, entries };
}

/** Names for an address: the first matching line's official name then its aliases. */
export function hostsByAddress(t: HostsTable, address: string): string[] {
  const key = normalizeAddress(address);
  if (!key) return [];
  return t.entries.filter((e) => normalizeAddress(e.address) === key).flatMap((e) => e.names);
}
