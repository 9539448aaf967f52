// Process and randomness helpers shared by the kill -9 tests (crash, torture, lifecycle).
import { readdirSync, readFileSync } from "node:fs";

/** xorshift32: a run is reproducible from the seed it prints. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

/** Every descendant of `pid`, children before grandchildren, from /proc/<pid>/stat's ppid. */
export function descendants(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "latin1");
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    kids.set(ppid, [...(kids.get(ppid) ?? []), Number(e)]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const k of kids.get(p) ?? []) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}
