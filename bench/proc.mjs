// /proc accounting for the benchmarks: the process tree of a server, and the CPU time, RSS
// and PSS of a set of processes (Linux only).

import fs from "node:fs";

function readProc(pid, file) {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return null;
  }
}

function statOf(pid) {
  const s = readProc(pid, "stat");
  if (!s) return null;
  const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); field n is rest[n-3]
  return {
    state: rest[0],
    ppid: Number(rest[1]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
    cutime: Number(rest[13]),
    cstime: Number(rest[14]),
  };
}

/** All live PIDs in the process trees rooted at the given PIDs (roots included). */
export function treePids(roots) {
  const children = new Map();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const st = statOf(d);
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(Number(d));
  }
  const out = [];
  const stack = roots.filter((p) => p && fs.existsSync(`/proc/${p}`));
  const seen = new Set();
  while (stack.length && out.length < 100_000) {
    const p = stack.pop();
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(p);
    for (const c of children.get(p) || []) stack.push(c);
  }
  return out;
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) is 100 on Linux/x86_64 and arm64

/**
 * Memory and CPU of a set of processes, from /proc:
 * cpuSec = Σ (utime+stime+cutime+cstime) / CLK_TCK (cutime/cstime cover reaped children),
 * rssKB = Σ VmRSS, hwmKB = Σ VmHWM, pssKB = Σ Pss (smaps_rollup).
 */
export function procUsage(pids) {
  let ticks = 0;
  let rssKB = 0;
  let hwmKB = 0;
  let pssKB = 0;
  let n = 0;
  for (const pid of pids) {
    const st = statOf(pid);
    if (!st || st.state === "Z") continue;
    n++;
    ticks += st.utime + st.stime + st.cutime + st.cstime;
    const status = readProc(pid, "status") || "";
    rssKB += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] || 0);
    hwmKB += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] || 0);
    const roll = readProc(pid, "smaps_rollup") || "";
    pssKB += Number(/^Pss:\s+(\d+)/m.exec(roll)?.[1] || 0);
  }
  return { procs: n, cpuSec: ticks / CLK_TCK, rssKB, hwmKB, pssKB };
}

/** A process's name for reports: Facteur's `-x ROLE` (or "parent"), else its comm. */
export function procName(pid) {
  const argv = (readProc(pid, "cmdline") || "").split("\0");
  const i = argv.indexOf("-x");
  if (i >= 0 && argv[i + 1]) return argv[i + 1];
  if (argv.some((a) => a.endsWith("smtpd.cjs"))) return "parent";
  return (readProc(pid, "comm") || "?").trim();
}

/** Σ PSS (KB) and process count per process name, largest first. */
export function pssByName(pids) {
  const by = new Map();
  for (const pid of pids) {
    const roll = readProc(pid, "smaps_rollup");
    if (!roll) continue;
    const kb = Number(/^Pss:\s+(\d+)/m.exec(roll)?.[1] || 0);
    const name = procName(pid);
    const e = by.get(name) || { name, kb: 0, n: 0 };
    e.kb += kb;
    e.n++;
    by.set(name, e);
  }
  return [...by.values()].sort((a, b) => b.kb - a.kb);
}
