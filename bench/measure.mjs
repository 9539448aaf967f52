// The measurements behind run.mjs, one function per kind: SMTP intake under load, delivery
// into the Maildir, idle memory (no sessions, and N idle sessions), and a profiled intake run
// of Facteur. Each takes a server instance from peers.mjs and returns plain figures.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { profileFiles, summarise } from "./cpu-profile.mjs";
import { startFacteur } from "./facteur.mjs";
import { BENCH_DIR, clearMaildir, countMaildir, procUsage } from "./instance.mjs";
import { procName, pssByName } from "./proc.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LOAD = path.join(HERE, "smtp-load.mjs");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Run a child process, collect stdout; kill it (by PID) after timeoutMs. */
export function runChild(cmd, argv, { timeoutMs, onStdoutLine } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let pending = "";
    child.stdout.on("data", (d) => {
      out += d;
      pending += d;
      let i = pending.indexOf("\n");
      while (i >= 0) {
        onStdoutLine?.(pending.slice(0, i), child);
        pending = pending.slice(i + 1);
        i = pending.indexOf("\n");
      }
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, out, err });
    });
  });
}

/** Sample RSS/PSS of the server's process tree while `promise` runs; `onSample` sees each. */
async function sampled(inst, promise, { everyMs = 250, onSample } = {}) {
  const peak = { rssKB: 0, pssKB: 0, procs: 0 };
  let done = false;
  const loop = (async () => {
    for (let i = 0; i < 100_000 && !done; i++) {
      const pids = inst.listPids();
      const u = procUsage(pids);
      onSample?.(pids);
      peak.rssKB = Math.max(peak.rssKB, u.rssKB);
      peak.pssKB = Math.max(peak.pssKB, u.pssKB);
      peak.procs = Math.max(peak.procs, u.procs);
      await sleep(everyMs);
    }
  })();
  try {
    return { result: await promise, peak };
  } finally {
    done = true;
    await loop;
  }
}

/** Start the load generator; resolves to its JSON result. */
async function load(inst, plan, { size, concurrency, messages, duration }) {
  const argv = [
    LOAD,
    "--port",
    String(inst.port),
    "--concurrency",
    String(concurrency),
    "--per-session",
    String(plan.perSession),
    "--size",
    String(size),
    "--messages",
    String(messages),
    "--duration",
    String(duration),
    "--timeout",
    String(plan.stepTimeout),
    "--json",
  ];
  const r = await runChild(process.execPath, argv, {
    timeoutMs: (duration + plan.stepTimeout * 2) * 1000,
  });
  const line = r.out.trim().split("\n").pop();
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`load generator failed (${r.code ?? r.signal}): ${r.err.slice(-500)}`);
  }
}

/** Memory of the server with nothing to do, after `settleMs`, also per process name. */
export async function idleUsage(inst, settleMs = 3000) {
  await sleep(settleMs);
  const pids = inst.listPids();
  const u = procUsage(pids);
  return {
    server: inst.name,
    pssMB: u.pssKB / 1024,
    rssMB: u.rssKB / 1024,
    procs: u.procs,
    byName: pssByName(pids),
  };
}

/** SMTP intake: `duration` s of load (at most plan.maxMessages), then a bounded drain. */
export async function loadRun(inst, plan, size, concurrency) {
  clearMaildir(inst.maildir);
  const base = countMaildir(inst.maildir);
  const cpu0 = procUsage(inst.listPids()).cpuSec;
  const t0 = Date.now();
  const work = (async () => {
    const r = await load(inst, plan, {
      size,
      concurrency,
      messages: plan.maxMessages,
      duration: plan.duration,
    });
    const loadEnd = Date.now();
    let delivered = countMaildir(inst.maildir) - base;
    for (let i = 0; i < plan.drainSec * 10 && delivered < r.accepted; i++) {
      await sleep(100);
      delivered = countMaildir(inst.maildir) - base;
    }
    return { load: r, delivered, drainSec: (Date.now() - loadEnd) / 1000 };
  })();
  const { result, peak } = await sampled(inst, work);
  const cpuSec = procUsage(inst.listPids()).cpuSec - cpu0;
  return {
    server: inst.name,
    size,
    concurrency,
    ...result.load,
    delivered: result.delivered,
    drainSec: result.drainSec,
    wallSec: (Date.now() - t0) / 1000,
    cpuSec,
    cpuMsPerMsg: result.load.accepted ? (cpuSec * 1000) / result.load.accepted : null,
    peakRssMB: peak.rssKB / 1024,
    peakPssMB: peak.pssKB / 1024,
    peakProcs: peak.procs,
  };
}

const countNew = (maildir) => {
  try {
    return fs.readdirSync(path.join(maildir, "new")).length;
  } catch {
    return 0;
  }
};

/**
 * Delivery throughput: plan.deliveryMessages messages, and the time from the load generator's
 * first connection to the last file appearing in Maildir/new (polled every 20 ms).
 */
export async function deliveryRun(inst, plan) {
  clearMaildir(inst.maildir);
  const cpu0 = procUsage(inst.listPids()).cpuSec;
  let count = 0;
  let lastAt = 0;
  let target = Number.POSITIVE_INFINITY;
  let deadline = Date.now() + (plan.deliveryMaxSec + plan.deliveryDrainSec) * 1000;
  const poll = (async () => {
    while (count < target && Date.now() < deadline) {
      const n = countNew(inst.maildir);
      if (n > count) {
        count = n;
        lastAt = Date.now();
      }
      await sleep(20);
    }
  })();
  const work = (async () => {
    const r = await load(inst, plan, {
      size: plan.deliverySize,
      concurrency: plan.deliverySessions,
      messages: plan.deliveryMessages,
      duration: plan.deliveryMaxSec,
    });
    target = r.accepted;
    deadline = Math.min(deadline, Date.now() + plan.deliveryDrainSec * 1000);
    await poll;
    return r;
  })();
  const { result: r, peak } = await sampled(inst, work);
  const seconds = lastAt ? (lastAt - r.startedAtMs) / 1000 : null;
  const cpuSec = procUsage(inst.listPids()).cpuSec - cpu0;
  return {
    server: inst.name,
    size: plan.deliverySize,
    concurrency: plan.deliverySessions,
    accepted: r.accepted,
    errors: r.errors,
    errorSamples: r.errorSamples,
    delivered: count,
    intakeSec: r.elapsedSec,
    seconds,
    msgsPerSec: seconds ? count / seconds : null,
    cpuSec,
    cpuMsPerMsg: count ? (cpuSec * 1000) / count : null,
    peakPssMB: peak.pssKB / 1024,
  };
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  return sxx ? sxy / sxx : null;
}

/**
 * N idle sessions (greeting + EHLO, then silent), opened in `steps` batches: Σ PSS of the
 * server's processes before and `settleMs` after each batch. KB per session is the slope of
 * PSS over open sessions (least squares, the point before included), which a garbage
 * collection in one process between two samples moves less than a single difference.
 */
export async function idleRun(inst, count, { steps = 5, settleMs = 2000 } = {}) {
  await sleep(1000);
  const before = procUsage(inst.listPids());
  const points = [{ x: 0, y: before.pssKB }];
  let last = null;
  let after = null;
  const argv = [LOAD, "--port", String(inst.port), "--idle", String(count)];
  argv.push("--steps", String(steps), "--ehlo", "--hold", "150");
  const r = await runChild(process.execPath, argv, {
    timeoutMs: 200_000,
    onStdoutLine: (line, child) => {
      try {
        last = JSON.parse(line);
      } catch {
        return;
      }
      const step = last;
      setTimeout(() => {
        after = procUsage(inst.listPids());
        points.push({ x: step.idle, y: after.pssKB });
        child.stdin.write(step.step < steps ? "more\n" : "close\n");
      }, settleMs);
    },
  });
  if (!last || !after) throw new Error(`idle test failed: ${r.err.slice(-300)}`);
  const k = slope(points);
  return {
    server: inst.name,
    sessions: last.idle,
    failed: last.failed,
    pssBeforeMB: before.pssKB / 1024,
    pssAfterMB: after.pssKB / 1024,
    rssAfterMB: after.rssKB / 1024,
    procsBefore: before.procs,
    procsAfter: after.procs,
    kbPerSession: k,
    kbPerSessionDelta: last.idle ? (after.pssKB - before.pssKB) / last.idle : null,
    points: points.map((p) => [p.x, Math.round(p.y / 1024)]),
    errors: last.errorSamples,
  };
}

/**
 * Facteur under `node --cpu-prof` (the parent's execArgv is inherited by every fork: roles and
 * delivery workers; NODE_OPTIONS may not carry --cpu-prof on Node 20), `size` × `concurrency`
 * load for plan.duration s, drained, stopped; then the profiles of that span are summarised.
 */
export async function profileRun(plan, { bin, rev, size = 1024, concurrency = 50 }) {
  const dir = path.join(BENCH_DIR, "profile");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o1777); // the roles and workers write their own profiles as their users
  const inst = await startFacteur({
    bin,
    rev,
    nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`],
  });
  const roles = {};
  const cpuByPid = new Map();
  // Only samples taken during the load and its drain count (not start-up and shut-down).
  const span = { fromUs: 0, toUs: Number.POSITIVE_INFINITY };
  const note = (pids) => {
    for (const p of pids) {
      roles[p] ??= procName(p);
      cpuByPid.set(p, procUsage([p]).cpuSec);
    }
  };
  let r;
  try {
    note(inst.listPids());
    const cpu0 = new Map(cpuByPid);
    span.fromUs = Number(process.hrtime.bigint() / 1000n);
    r = await loadRun(inst, plan, size, concurrency);
    span.toUs = Number(process.hrtime.bigint() / 1000n);
    note(inst.listPids());
    r.cpuByRole = {};
    for (const [p, sec] of cpuByPid) {
      const role = roles[p] ?? "?";
      r.cpuByRole[role] = (r.cpuByRole[role] ?? 0) + sec - (cpu0.get(p) ?? 0);
    }
  } finally {
    await inst.stop();
  }
  fs.writeFileSync(path.join(dir, "roles.json"), JSON.stringify(roles));
  // Profiles are written as each process exits; give the last ones a moment.
  for (let i = 0; i < 50 && profileFiles(dir).length < Object.keys(roles).length; i++) {
    await sleep(100);
  }
  const files = profileFiles(dir);
  return {
    load: r,
    dir,
    files: files.length,
    summary: summarise(files, (p) => roles[p], bin, span),
  };
}
