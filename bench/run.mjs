// Benchmark driver (`npm run bench`): SMTP intake load against OpenSMTPD, Postfix and Facteur
// (when it starts), idle-session memory, optional parser figures; writes BENCH.md.
//
//   node bench/run.mjs [--quick] [--servers opensmtpd,postfix,facteur] [--out FILE]
//                      [--duration S] [--idle N] [--no-write]
//
// Needs root (the peers drop privileges to their own users). Load goes only to 127.0.0.1.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  clearMaildir,
  countMaildir,
  peerVersions,
  procUsage,
  startFacteur,
  startOpenSMTPD,
  startPostfix,
} from "./peers.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..");
const LOAD = path.join(HERE, "smtp-load.mjs");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv) {
  const a = {
    quick: false,
    servers: "opensmtpd,postfix,facteur",
    out: path.join(REPO, "BENCH.md"),
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--quick") a.quick = true;
    else if (k === "--no-write") a.noWrite = true;
    else if (k === "--servers") a.servers = argv[++i];
    else if (k === "--out") a.out = path.resolve(argv[++i]);
    else if (k === "--duration") a.duration = Number(argv[++i]);
    else if (k === "--idle") a.idle = Number(argv[++i]);
    else if (k === "--help" || k === "-h") {
      console.log("usage: node bench/run.mjs [--quick] [--servers opensmtpd,postfix,facteur] ");
      process.exit(0);
    }
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
const PLAN = {
  sizes: [1024, 10240],
  concurrencies: [10, 50],
  perSession: 10,
  duration: args.duration || (args.quick ? 2 : 15), // seconds of load per run
  maxMessages: args.quick ? 5000 : 30000, // cap per run
  drainSec: args.quick ? 5 : 20, // wait for delivery into the Maildir after each run
  idle: args.idle ?? (args.quick ? 200 : 1000),
  stepTimeout: args.quick ? 10 : 30, // per SMTP step (connect, greeting, each reply)
};

function log(...m) {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...m);
}

/** Run a child process, collect stdout; kill it (by PID) after timeoutMs. */
function runChild(cmd, argv, { timeoutMs, onStdoutLine } = {}) {
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

/** Sample CPU/RSS/PSS of the server's process tree while `promise` runs. */
async function sampled(inst, promise, everyMs = 250) {
  const peak = { rssKB: 0, pssKB: 0, procs: 0 };
  let done = false;
  const loop = (async () => {
    for (let i = 0; i < 100_000 && !done; i++) {
      const u = procUsage(inst.listPids());
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

async function loadRun(inst, size, concurrency) {
  clearMaildir(inst.maildir);
  const base = countMaildir(inst.maildir);
  const cpu0 = procUsage(inst.listPids()).cpuSec;
  const t0 = Date.now();
  const argv = [
    LOAD,
    "--port",
    String(inst.port),
    "--concurrency",
    String(concurrency),
    "--per-session",
    String(PLAN.perSession),
    "--size",
    String(size),
    "--messages",
    String(PLAN.maxMessages),
    "--duration",
    String(PLAN.duration),
    "--timeout",
    String(PLAN.stepTimeout),
    "--json",
  ];
  const work = (async () => {
    const r = await runChild(process.execPath, argv, {
      timeoutMs: (PLAN.duration + PLAN.stepTimeout * 2) * 1000,
    });
    const line = r.out.trim().split("\n").pop();
    let load;
    try {
      load = JSON.parse(line);
    } catch {
      throw new Error(`load generator failed (${r.code ?? r.signal}): ${r.err.slice(-500)}`);
    }
    const loadEnd = Date.now();
    // Wait (bounded) until every accepted message is in the Maildir.
    let delivered = countMaildir(inst.maildir) - base;
    for (let i = 0; i < PLAN.drainSec * 10 && delivered < load.accepted; i++) {
      await sleep(100);
      delivered = countMaildir(inst.maildir) - base;
    }
    return { load, delivered, drainSec: (Date.now() - loadEnd) / 1000 };
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

async function idleRun(inst, count) {
  await sleep(1000);
  const before = procUsage(inst.listPids());
  let opened = null;
  let after = null;
  const r = await runChild(
    process.execPath,
    [LOAD, "--port", String(inst.port), "--idle", String(count), "--hold", "120"],
    {
      timeoutMs: 180_000,
      onStdoutLine: (line, child) => {
        try {
          opened = JSON.parse(line);
        } catch {
          return;
        }
        // Give the servers a moment to settle, measure, then release the sessions.
        setTimeout(() => {
          after = procUsage(inst.listPids());
          child.stdin.end("close\n");
        }, 1500);
      },
    },
  );
  if (!opened || !after) throw new Error(`idle test failed: ${r.err.slice(-300)}`);
  const deltaKB = after.pssKB - before.pssKB;
  return {
    server: inst.name,
    sessions: opened.idle,
    failed: opened.failed,
    pssBeforeMB: before.pssKB / 1024,
    pssAfterMB: after.pssKB / 1024,
    rssAfterMB: after.rssKB / 1024,
    procsBefore: before.procs,
    procsAfter: after.procs,
    kbPerSession: opened.idle ? deltaKB / opened.idle : null,
    errors: opened.errorSamples,
  };
}

function machineFacts(versions) {
  const cpu = os.cpus()[0]?.model || "?";
  let fsType = "?";
  const df = spawnSync("df", ["-T", "/tmp"], { encoding: "utf8" });
  if (df.status === 0) fsType = df.stdout.trim().split("\n").pop().split(/\s+/)[1];
  let debian = "?";
  try {
    debian = fs.readFileSync("/etc/debian_version", "utf8").trim();
  } catch {}
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu,
    memGB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    debian,
    node: process.version,
    tmpFs: fsType,
    ...versions,
  };
}

const f = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(d));

function table(results) {
  const pf = new Map(
    results.filter((r) => r.server === "Postfix").map((r) => [`${r.size}/${r.concurrency}`, r]),
  );
  const head =
    "| server | body | sessions | msgs/s | ×Postfix | p50 ms | p99 ms | errors | delivered | CPU s | CPU ms/msg | ×Postfix CPU/msg | peak RSS MB | peak PSS MB | procs |";
  const sep = `|${"---|".repeat(15)}`;
  const rows = results.map((r) => {
    const p = pf.get(`${r.size}/${r.concurrency}`);
    const ratio = p?.msgsPerSec ? r.msgsPerSec / p.msgsPerSec : null;
    const cratio = p?.cpuMsPerMsg && r.cpuMsPerMsg ? r.cpuMsPerMsg / p.cpuMsPerMsg : null;
    return `| ${r.server} | ${r.size / 1024} KB | ${r.concurrency} | ${f(r.msgsPerSec)} | ${f(ratio, 2)} | ${f(r.p50Ms, 2)} | ${f(r.p99Ms, 2)} | ${r.errors} | ${r.delivered}/${r.accepted} | ${f(r.cpuSec, 2)} | ${f(r.cpuMsPerMsg, 2)} | ${f(cratio, 2)} | ${f(r.peakRssMB)} | ${f(r.peakPssMB)} | ${r.peakProcs} |`;
  });
  return [head, sep, ...rows].join("\n");
}

function idleTable(idle) {
  const head =
    "| server | idle sessions | failed | PSS before MB | PSS after MB | RSS after MB | procs before→after | KB PSS / session |";
  const sep = `|${"---|".repeat(8)}`;
  const rows = idle.map(
    (r) =>
      `| ${r.server} | ${r.sessions} | ${r.failed} | ${f(r.pssBeforeMB)} | ${f(r.pssAfterMB)} | ${f(r.rssAfterMB)} | ${r.procsBefore}→${r.procsAfter} | ${f(r.kbPerSession)} |`,
  );
  return [head, sep, ...rows].join("\n");
}

async function parserFigures() {
  const script = path.join(HERE, "parse-bench.mjs");
  if (!fs.existsSync(script)) return null;
  log("running bench/parse-bench.mjs");
  const r = await runChild(process.execPath, [script, ...(args.quick ? ["--quick"] : [])], {
    timeoutMs: args.quick ? 60_000 : 180_000,
  });
  return {
    ok: r.code === 0,
    text:
      (r.out || "").trim() +
      (r.code === 0 ? "" : `\n[exit ${r.code ?? r.signal}] ${r.err.slice(-1000)}`),
  };
}

async function main() {
  if (process.getuid?.() !== 0) {
    console.error("bench/run.mjs needs root (it runs OpenSMTPD and Postfix privsep daemons)");
    process.exit(1);
  }
  const t0 = Date.now();
  const wanted = new Set(args.servers.split(",").map((s) => s.trim().toLowerCase()));
  const starters = [
    ["opensmtpd", "OpenSMTPD", () => startOpenSMTPD()],
    // maxproc 1100 so that the 1000 idle sessions each get their own smtpd (Postfix's default
    // process limit is 100; the load runs use at most 50 sessions, so it does not matter there).
    ["postfix", "Postfix", () => startPostfix({ smtpdMaxproc: PLAN.idle + 100 })],
    ["facteur", "Facteur", () => startFacteur()],
  ].filter(([k]) => wanted.has(k));

  const versions = peerVersions();
  const results = [];
  const idle = [];
  const notes = [];
  for (const [, name, start] of starters) {
    let inst;
    try {
      log(`starting ${name}`);
      inst = await start();
    } catch (e) {
      const lines = String(e.message).split("\n").filter(Boolean);
      const why = [lines[0], lines.filter((l) => /unknown|error|fatal|exited/i.test(l)).slice(1, 3)]
        .flat()
        .join("; ");
      log(`${name} not available: ${why}`);
      notes.push(`${name}: not available (${why}).`);
      continue;
    }
    if (name === "Facteur") versions.facteur = inst.version;
    try {
      for (const size of PLAN.sizes) {
        for (const c of PLAN.concurrencies) {
          log(`${name}: ${size / 1024} KB × ${c} sessions, ${PLAN.duration} s`);
          try {
            const r = await loadRun(inst, size, c);
            results.push(r);
            log(
              `  ${f(r.msgsPerSec)} msg/s p50 ${f(r.p50Ms, 2)} p99 ${f(r.p99Ms, 2)} ms, errors ${r.errors}, ` +
                `delivered ${r.delivered}/${r.accepted} (+${f(r.drainSec)} s), CPU ${f(r.cpuSec, 2)} s, ` +
                `PSS ${f(r.peakPssMB)} MB`,
            );
            if (r.errors) log("  errors:", JSON.stringify(r.errorSamples));
            const noGreeting = r.errorSamples?.["timeout waiting for reply to greeting"];
            if (noGreeting) {
              notes.push(
                `${name} ${size / 1024} KB × ${c}: ${noGreeting} connections were accepted by the kernel but got no greeting within ${PLAN.stepTimeout} s` +
                  (name === "OpenSMTPD"
                    ? " (OpenSMTPD listens with a compiled-in backlog of 5)."
                    : "."),
              );
            }
            if (r.delivered < r.accepted) {
              notes.push(
                `${name} ${size / 1024} KB × ${c}: only ${r.delivered} of ${r.accepted} accepted messages were in the Maildir ${PLAN.drainSec} s after the load.`,
              );
            }
            if (name === "Facteur" && r.accepted === 0) {
              notes.push(
                `Facteur accepted no mail (${JSON.stringify(r.errorSamples).slice(0, 300)}).`,
              );
              break;
            }
          } catch (e) {
            log(`  failed: ${e.message}`);
            notes.push(`${name} ${size / 1024} KB × ${c}: ${e.message.split("\n")[0]}`);
          }
        }
      }
      if (PLAN.idle > 0) {
        log(`${name}: ${PLAN.idle} idle sessions`);
        try {
          const r = await idleRun(inst, PLAN.idle);
          idle.push(r);
          log(`  ${r.sessions} open, ${f(r.kbPerSession)} KB PSS per session`);
        } catch (e) {
          log(`  idle test failed: ${e.message}`);
          notes.push(`${name} idle test: ${e.message.split("\n")[0]}`);
        }
      }
    } finally {
      await inst.stop();
    }
  }

  const parser = await parserFigures();
  const facts = machineFacts(versions);
  const totalSec = (Date.now() - t0) / 1000;

  console.log("\nSMTP intake (plain SMTP, no pipelining, 1 recipient, 10 messages per session)\n");
  console.log(table(results));
  if (idle.length) console.log(`\nIdle sessions\n\n${idleTable(idle)}`);
  if (parser) console.log(`\nParser\n\n${parser.text}`);
  for (const n of notes) console.log(`note: ${n}`);

  const md = [
    "# Facteur benchmarks",
    "",
    `Generated by \`node bench/run.mjs${args.quick ? " --quick" : ""}\` on ${facts.date} (took ${f(totalSec, 0)} s). Overwritten by each run.`,
    "",
    "## Machine",
    "",
    `- ${facts.nproc} CPUs (${facts.cpu}), ${facts.memGB} GB RAM, kernel ${facts.kernel}, Debian ${facts.debian}`,
    `- Node ${facts.node}; spool, queue and Maildirs on /tmp (${facts.tmpFs})`,
    `- OpenSMTPD ${facts.opensmtpd}, Postfix ${facts.postfix} (Debian packages, unpacked with dpkg -x, not installed)`,
    `- Facteur: ${facts.facteur ?? "not available"}`,
    "",
    "## Method",
    "",
    `- Load generator \`bench/smtp-load.mjs\` in its own Node process on the same machine: plain SMTP (EHLO, MAIL, RCPT, DATA, body, \`.\`, next transaction, QUIT), no pipelining, one recipient, ${PLAN.perSession} messages per session, then a new session.`,
    `- Each run lasts ${PLAN.duration} s (at most ${PLAN.maxMessages} messages). Bodies of 1 KB and 10 KB; 10 and 50 sessions in parallel.`,
    "- msgs/s = messages answered 250 after the final `.` / time until the last such reply. p50/p99 = latency from sending `.` to the reply.",
    `- Every server accepts mail for \`bench.test\` and delivers it to a Maildir (queue fsync defaults kept). After each load the run waits (≤ ${PLAN.drainSec} s) until every accepted message is in the Maildir; "delivered" counts them.`,
    "- CPU s = user+system time of all the server's processes over load + delivery, from /proc/PID/stat (utime+stime, plus cutime+cstime for exited children). Peak RSS/PSS = largest sum over all the server's processes (VmRSS from /proc/PID/status, Pss from /proc/PID/smaps_rollup), sampled every 250 ms. RSS counts shared pages once per process; PSS splits them.",
    "- Ratios (×Postfix) are against Postfix in the same configuration and run.",
    "- Client and servers share the machine's CPUs, and the runs are CPU-bound: the whole machine is busy, so msgs/s depends on CPU per message (server and client).",
    `- Idle sessions: ${PLAN.idle} connections opened, at most 5 handshakes at a time (each waits for the 220 greeting, then stays silent); PSS of all the server's processes before and 1.5 s after, divided by the number of sessions.`,
    "- Config differences from defaults: loopback port; Postfix without chroot, paths into the unpacked tree, smtpd maxproc raised for the idle test; OpenSMTPD in a private mount namespace (its spool, chroot and socket paths are compiled in) with `lookup file bind` so that it resolves 127.0.0.1 from /etc/hosts first, like glibc does for Postfix.",
    "",
    "## SMTP intake",
    "",
    table(results),
    "",
  ];
  if (idle.length) md.push("## Idle sessions", "", idleTable(idle), "");
  if (parser) md.push("## Parser (bench/parse-bench.mjs)", "", "```", parser.text, "```", "");
  if (notes.length) md.push("## Notes", "", ...notes.map((n) => `- ${n}`), "");
  if (!args.noWrite) {
    fs.writeFileSync(args.out, md.join("\n"));
    log(`wrote ${args.out} (${f(totalSec, 0)} s)`);
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
