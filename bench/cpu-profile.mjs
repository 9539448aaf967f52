// Summarises V8 CPU profiles (`node --cpu-prof`) of the Facteur daemon's processes: self time
// per function, attributed to the source module through the `// dist/x.js` markers esbuild
// leaves in the bundle. Used by run.mjs for the profile section of BENCH.md.
//
//   node bench/cpu-profile.mjs DIR [--top 25] [--bundle FILE]
//        (one .cpuprofile per process in DIR, roles.json = {pid: role} if present; FILE is the
//        daemon file that was profiled, packages/smtpd/bundle/smtpd.cjs by default)

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BUNDLE = path.join(REPO, "packages/smtpd/bundle/smtpd.cjs");

/** Line (0-based) → module path, from esbuild's `// dist/...js` comments in the bundle. */
function bundleModules(file) {
  let lines;
  try {
    lines = fs.readFileSync(file, "utf8").split("\n");
  } catch {
    return () => null;
  }
  const starts = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\/\/ ((?:\.\.\/)*[\w@./-]+\.(?:js|mjs|cjs|json))$/.exec(lines[i]);
    if (m) starts.push([i, m[1]]);
  }
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid][0] <= line) {
        found = starts[mid][1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found === null ? null : sourceName(found);
  };
}

/** `dist/queue/fs-backend.js` → `smtpd/src/queue/fs-backend.ts`, `../compat/dist/x.js` → `compat/src/x.ts`. */
function sourceName(mod) {
  let m = /^dist\/(.*)\.js$/.exec(mod);
  if (m) return `smtpd/src/${m[1]}.ts`;
  m = /^\.\.\/(\w+)\/dist\/(.*)\.js$/.exec(mod);
  if (m) return `${m[1]}/src/${m[2]}.ts`;
  return mod;
}

function frameName(cf, moduleOf, bundle) {
  const fn = cf.functionName || "(anonymous)";
  if (!cf.url) return { module: fn.startsWith("(") ? fn : "(native)", fn };
  if (cf.url.endsWith(bundle)) {
    const mod = moduleOf(cf.lineNumber) ?? path.basename(bundle);
    return { module: mod, fn };
  }
  if (cf.url.startsWith("node:")) return { module: cf.url, fn };
  return { module: cf.url.replace(/^file:\/\//, "").replace(`${REPO}/`, ""), fn };
}

/** Self time (µs) per node id of one profile, counting samples taken in [fromUs, toUs]. */
function selfTimes(prof, fromUs, toUs) {
  const self = new Map();
  const { samples, timeDeltas } = prof;
  let ts = prof.startTime;
  for (let i = 0; i < samples.length; i++) {
    ts += timeDeltas[i];
    if (ts < fromUs || ts > toUs) continue;
    // Sample i lasts until the next one (DevTools' attribution).
    const us = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    self.set(samples[i], (self.get(samples[i]) || 0) + us);
  }
  return self;
}

/**
 * The nearest Facteur frame on a sample's stack (who asked for the time spent in Node's
 * internals below it), and the nearest Facteur frame of another source file above that one
 * (who called it: for a helper such as compat's getpwnam, the code to change).
 */
function owners(prof, isOwn) {
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const up = (id, pred) => {
    for (let cur = id, i = 0; cur !== undefined && i < 1000; cur = parent.get(cur), i++) {
      if (pred(nodes.get(cur)?.callFrame)) return cur;
    }
    return null;
  };
  return {
    nodes,
    ownerOf(id) {
      const owner = up(id, (cf) => cf && isOwn(cf));
      if (owner === null) return { owner: null, via: null };
      const mine = isOwn(nodes.get(owner).callFrame);
      const via = up(parent.get(owner), (cf) => cf && isOwn(cf) && isOwn(cf) !== mine);
      return { owner, via };
    },
  };
}

class Tally {
  constructor() {
    this.map = new Map();
  }
  add(key, init, ms, role, sub) {
    let e = this.map.get(key);
    if (!e) {
      e = { ...init, ms: 0, roles: new Map(), subs: new Map() };
      this.map.set(key, e);
    }
    e.ms += ms;
    e.roles.set(role, (e.roles.get(role) || 0) + ms);
    if (sub !== undefined) e.subs.set(sub, (e.subs.get(sub) || 0) + ms);
  }
  sorted(total) {
    const share = (ms) => (total ? ms / total : 0);
    return [...this.map.values()]
      .sort((a, b) => b.ms - a.ms)
      .map(({ roles, subs, ...e }) => ({
        ...e,
        share: share(e.ms),
        roles: [...roles].sort((a, b) => b[1] - a[1]).map(([r]) => r),
        leaves: [...subs]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([leaf, ms]) => ({ leaf, share: share(ms) })),
      }));
  }
}

/**
 * Time per (module, function) over the given profiles, counting only samples taken between
 * fromUs and toUs (CLOCK_MONOTONIC in µs, as `process.hrtime.bigint() / 1000n`: V8's profile
 * timestamps use the same clock). `roleOf(pid)` names the process. V8 samples the JS thread
 * by wall clock: a call that blocks it (spawnSync, a sync fs call) counts for as long as it
 * blocks, whether or not it uses the CPU. Returns { totalMs, idleMs, byRole, top, byOwner,
 * byModule }, each entry with its share of all samples that were not "(idle)".
 */
export function summarise(
  files,
  roleOf = () => "?",
  bundle = BUNDLE,
  { fromUs = 0, toUs = Number.POSITIVE_INFINITY } = {},
) {
  const moduleOf = bundleModules(bundle);
  const name = (cf) => frameName(cf, moduleOf, bundle);
  // A Facteur frame: its source file, else false.
  const isOwn = (cf) => (cf.url.endsWith(bundle) ? name(cf).module : false);
  const fns = new Tally();
  const owned = new Tally();
  const mods = new Tally();
  const byRole = new Tally();
  let total = 0;
  let idle = 0;
  for (const file of files) {
    let prof;
    try {
      prof = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      continue;
    }
    const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file)?.[1]);
    const role = roleOf(pid) || "?";
    const { nodes, ownerOf } = owners(prof, isOwn);
    for (const [id, us] of selfTimes(prof, fromUs, toUs)) {
      const cf = nodes.get(id)?.callFrame;
      if (!cf) continue;
      const ms = us / 1000;
      const { module, fn } = name(cf);
      if (fn === "(idle)") {
        idle += ms;
        continue;
      }
      total += ms;
      byRole.add(role, { role }, ms, role);
      const line = cf.url && !module.startsWith("node:") ? `:${cf.lineNumber + 1}` : "";
      fns.add(`${module}\0${fn}${line}`, { module, fn }, ms, role);
      mods.add(module, { module }, ms, role);
      const { owner, via } = ownerOf(id);
      const o =
        owner === null
          ? { module: "(no Facteur frame)", fn: "" }
          : name(nodes.get(owner).callFrame);
      const v = via === null ? null : name(nodes.get(via).callFrame);
      const viaText = v ? `${v.module}:${v.fn}` : "";
      const leaf = owner === id ? "(self)" : `${module}:${fn}`;
      owned.add(`${o.module}\0${o.fn}\0${viaText}`, { ...o, via: viaText }, ms, role, leaf);
    }
  }
  return {
    totalMs: total,
    idleMs: idle,
    byRole: byRole.sorted(total).map(({ role, ms, share }) => ({ role, ms, share })),
    top: fns.sorted(total),
    byOwner: owned.sorted(total),
    byModule: mods.sorted(total),
  };
}

export function profileFiles(dir) {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  const topN = Number(process.argv[process.argv.indexOf("--top") + 1]) || 25;
  if (!dir) {
    console.error("usage: node bench/cpu-profile.mjs DIR [--top N]");
    process.exit(2);
  }
  let roles = {};
  try {
    roles = JSON.parse(fs.readFileSync(path.join(dir, "roles.json"), "utf8"));
  } catch {}
  const bi = process.argv.indexOf("--bundle");
  const bundle = bi > 0 ? path.resolve(process.argv[bi + 1]) : BUNDLE;
  const s = summarise(profileFiles(dir), (pid) => roles[pid], bundle);
  console.log(`total ${s.totalMs.toFixed(0)} ms (idle ${s.idleMs.toFixed(0)} ms)`);
  for (const r of s.byRole) console.log(`  ${r.role}: ${(r.share * 100).toFixed(1)}%`);
  for (const e of s.top.slice(0, topN))
    console.log(
      `${(e.share * 100).toFixed(1).padStart(5)}%  ${e.module}:${e.fn}  [${e.roles.join(",")}]`,
    );
  console.log("\nby nearest Facteur frame (self + Node internals below it)");
  for (const e of s.byOwner.slice(0, topN))
    console.log(
      `${(e.share * 100).toFixed(1).padStart(5)}%  ${e.module}:${e.fn}${e.via ? ` (via ${e.via})` : ""}  [${e.roles.join(",")}]  ${e.leaves.map((l) => `${l.leaf} ${(l.share * 100).toFixed(1)}%`).join(", ")}`,
    );
  console.log("\nby module");
  for (const m of s.byModule.slice(0, topN))
    console.log(`${(m.share * 100).toFixed(1).padStart(5)}%  ${m.module}`);
}
