// Benchmark driver (`npm run bench`): OpenSMTPD, Postfix and Facteur one after the other in
// the same run: SMTP intake under load, delivery into a Maildir, idle memory (fresh, after
// load, with N idle sessions), then Facteur once more under `node --cpu-prof`. Writes BENCH.md.
//
//   node bench/run.mjs [--quick] [--servers opensmtpd,postfix,facteur] [--out FILE]
//                      [--duration S] [--idle N] [--delivery-messages N] [--no-profile]
//                      [--facteur-bundle FILE] [--no-write]
// --facteur-bundle: measure that smtpd.cjs bundle instead of packages/smtpd/bundle/smtpd.cjs.
//
// Needs root (the peers drop privileges to their own users). Load goes only to 127.0.0.1.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { snapshotFacteur, startFacteur } from "./facteur.mjs";
import { removeCreatedDeliveryUser } from "./instance.mjs";
import { deliveryRun, idleRun, idleUsage, loadRun, profileRun, runChild } from "./measure.mjs";
import { peerVersions, startOpenSMTPD, startPostfix } from "./peers.mjs";
import {
  deliveryTable,
  f,
  intakeRatios,
  intakeTable,
  memoryByProcess,
  memoryTable,
  profileSection,
  summaryTable,
} from "./report.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..");

function parseArgs(argv) {
  const a = {
    quick: false,
    profile: true,
    servers: "opensmtpd,postfix,facteur",
    out: path.join(REPO, "BENCH.md"),
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--quick") a.quick = true;
    else if (k === "--no-write") a.noWrite = true;
    else if (k === "--no-profile") a.profile = false;
    else if (k === "--servers") a.servers = argv[++i];
    else if (k === "--out") a.out = path.resolve(argv[++i]);
    else if (k === "--duration") a.duration = Number(argv[++i]);
    else if (k === "--idle") a.idle = Number(argv[++i]);
    else if (k === "--delivery-messages") a.deliveryMessages = Number(argv[++i]);
    else if (k === "--facteur-bundle") a.facteurBundle = path.resolve(argv[++i]);
    else if (k === "--help" || k === "-h") {
      console.log(
        "usage: node bench/run.mjs [--quick] [--servers opensmtpd,postfix,facteur] [--out FILE]\n" +
          "       [--duration S] [--idle N] [--delivery-messages N] [--facteur-bundle FILE]\n" +
          "       [--no-profile] [--no-write]",
      );
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
  duration: args.duration || (args.quick ? 3 : 10), // seconds of load per intake run
  maxMessages: args.quick ? 3000 : 20000, // cap per intake run
  drainSec: args.quick ? 10 : 20, // wait for delivery into the Maildir after each intake run
  idle: args.idle ?? (args.quick ? 200 : 1000),
  stepTimeout: args.quick ? 10 : 15, // per SMTP step (connect, greeting, each reply)
  deliveryMessages: args.deliveryMessages || (args.quick ? 300 : 1000),
  deliverySize: 1024,
  deliverySessions: 10,
  deliveryMaxSec: 60, // intake of the delivery run stops here at the latest
  deliveryDrainSec: 60, // and every file must be there this long after
};

function log(...m) {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...m);
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

/** One intake run of one server, with its notes. Returns false when it accepted nothing. */
async function intakeRun(inst, size, c, out) {
  const { name } = inst;
  log(`${name}: intake ${size / 1024} KB × ${c} sessions, ${PLAN.duration} s`);
  let r;
  try {
    r = await loadRun(inst, PLAN, size, c);
  } catch (e) {
    log(`  failed: ${e.message}`);
    out.notes.push(`${name} ${size / 1024} KB × ${c}: ${e.message.split("\n")[0]}`);
    return true;
  }
  out.results.push(r);
  log(
    `  ${f(r.msgsPerSec)} msg/s p50 ${f(r.p50Ms, 2)} p99 ${f(r.p99Ms, 2)} ms, errors ${r.errors}, ` +
      `delivered ${r.delivered}/${r.accepted} (+${f(r.drainSec)} s), CPU ${f(r.cpuSec, 2)} s, ` +
      `PSS ${f(r.peakPssMB)} MB`,
  );
  if (r.errors) log("  errors:", JSON.stringify(r.errorSamples));
  const noGreeting = r.errorSamples?.["timeout waiting for reply to greeting"];
  if (noGreeting) {
    out.notes.push(
      `${name} ${size / 1024} KB × ${c}: ${noGreeting} connections were accepted by the kernel but got no greeting within ${PLAN.stepTimeout} s` +
        (name === "OpenSMTPD" ? " (OpenSMTPD listens with a compiled-in backlog of 5)." : "."),
    );
  } else if (r.errors) {
    out.notes.push(`${name} ${size / 1024} KB × ${c}: errors ${JSON.stringify(r.errorSamples)}`);
  }
  if (r.delivered < r.accepted) {
    out.notes.push(
      `${name} ${size / 1024} KB × ${c}: only ${r.delivered} of ${r.accepted} accepted messages were in the Maildir ${PLAN.drainSec} s after the load.`,
    );
  }
  if (r.accepted === 0) {
    out.notes.push(`${name} accepted no mail (${JSON.stringify(r.errorSamples).slice(0, 300)}).`);
    return false;
  }
  return true;
}

/** Start a server; on failure, note why and return null. */
async function startOrNote(name, start, out) {
  try {
    log(`starting ${name}`);
    return await start();
  } catch (e) {
    const lines = String(e.message).split("\n").filter(Boolean);
    const why = [lines[0], lines.filter((l) => /unknown|error|fatal|exited/i.test(l)).slice(1, 3)]
      .flat()
      .join("; ");
    log(`${name} not available: ${why}`);
    out.notes.push(`${name}: not available (${why}).`);
    return null;
  }
}

/** Fresh server: idle memory, then N idle sessions. */
async function memoryPhase(inst, out) {
  const { name } = inst;
  const fresh = await idleUsage(inst, 3000);
  out.fresh.push(fresh);
  log(`${name}: idle ${f(fresh.pssMB)} MB PSS in ${fresh.procs} processes`);
  if (PLAN.idle <= 0) return;
  log(`${name}: ${PLAN.idle} idle sessions`);
  try {
    const r = await idleRun(inst, PLAN.idle);
    out.idle.push(r);
    log(`  ${r.sessions} open, ${f(r.kbPerSession)} KB PSS per session`);
    if (r.failed) {
      out.notes.push(`${name} idle test: ${r.failed} sessions failed ${JSON.stringify(r.errors)}`);
    }
  } catch (e) {
    log(`  idle test failed: ${e.message}`);
    out.notes.push(`${name} idle test: ${e.message.split("\n")[0]}`);
  }
}

/** Delivery throughput of a server that has just started (empty queue). */
async function deliveryPhase(inst, out) {
  const { name } = inst;
  log(`${name}: delivery of ${PLAN.deliveryMessages} messages, ${PLAN.deliverySessions} sessions`);
  try {
    const d = await deliveryRun(inst, PLAN);
    out.deliveries.push(d);
    log(
      `  ${d.delivered}/${d.accepted} in Maildir/new after ${f(d.seconds, 2)} s: ${f(d.msgsPerSec)} msg/s`,
    );
    if (d.delivered < d.accepted) {
      out.notes.push(
        `${name} delivery run: only ${d.delivered} of ${d.accepted} messages reached Maildir/new within ${PLAN.deliveryDrainSec} s.`,
      );
    }
    if (d.errors) out.notes.push(`${name} delivery run: errors ${JSON.stringify(d.errorSamples)}`);
    if (d.accepted < PLAN.deliveryMessages) {
      out.notes.push(
        `${name} delivery run: ${d.accepted} of ${PLAN.deliveryMessages} messages were accepted within ${PLAN.deliveryMaxSec} s, where the load stops; the rate is over those.`,
      );
    }
  } catch (e) {
    log(`  delivery run failed: ${e.message}`);
    out.notes.push(`${name} delivery run: ${e.message.split("\n")[0]}`);
  }
}

/**
 * All servers up at once, each on a fresh instance, measured in turn: delivery first (empty
 * queues), then each intake configuration for every server before the next configuration,
 * the order rotating, so that the machine's other load spreads over all servers alike.
 * Then each server's idle memory after all that.
 */
async function loadPhase(starters, out) {
  const insts = [];
  try {
    for (const [name, start] of starters) {
      const inst = await startOrNote(name, start, out);
      if (inst) insts.push(inst);
    }
    for (const inst of insts) await deliveryPhase(inst, out);
    const live = new Set(insts);
    let turn = 0;
    for (const size of PLAN.sizes) {
      for (const c of PLAN.concurrencies) {
        const order = insts.map((_, i) => insts[(i + turn) % insts.length]);
        turn++;
        for (const inst of order) {
          if (live.has(inst) && !(await intakeRun(inst, size, c, out))) live.delete(inst);
        }
      }
    }
    for (const inst of insts) {
      const after = await idleUsage(inst, 5000);
      out.afterLoad.push(after);
      log(`${inst.name}: idle after load ${f(after.pssMB)} MB PSS in ${after.procs} processes`);
    }
  } finally {
    for (const inst of insts) await inst.stop();
  }
  return insts;
}

function method() {
  return [
    '- Same machine, same run, for all three servers (Facteur = the bundle built by `npm run bench`, copied out of the work tree first). Each server instance gets its own config, spool and Maildir under /tmp; the configs are in bench/README.md. Every server accepts mail for `bench.test` and delivers it, as the same user, into one Maildir: OpenSMTPD and Facteur with the same `action "local" maildir "…" virtual <vusers>` (catch-all `@ facteurbench`), Postfix with virtual(8). Queue and delivery fsync defaults kept (all three fsync the queue file and the Maildir file).',
    "- Order: memory first, on a fresh instance of each server, one at a time. Then one fresh instance of each server, all up at once: the delivery runs, then each intake configuration for every server before the next configuration (the order rotating), so that the machine's other load (it is shared) spreads over the servers alike.",
    `- Load generator \`bench/smtp-load.mjs\` in its own Node process: plain SMTP (EHLO, MAIL, RCPT, DATA, body, \`.\`, next transaction, QUIT), no pipelining, one recipient, ${PLAN.perSession} messages per session, then a new session. Its CPU is not counted for the servers, but it shares the 2 CPUs with them.`,
    `- Intake: each run lasts ${PLAN.duration} s (at most ${PLAN.maxMessages} messages); 1 KB and 10 KB bodies; 10 and 50 sessions in parallel. msgs/s = messages answered 250 after the final \`.\` ÷ time until the last such reply. p50/p99 = latency from sending \`.\` to that reply. Then the run waits (≤ ${PLAN.drainSec} s) until every accepted message is in the Maildir ("delivered").`,
    `- Delivery: right after start (empty queue), ${PLAN.deliveryMessages} messages of ${PLAN.deliverySize / 1024} KB over ${PLAN.deliverySessions} sessions (the load stops after ${PLAN.deliveryMaxSec} s at the latest); msgs/s = files in Maildir/new ÷ time from the load generator's first connection to the last file appearing (polled every 20 ms).`,
    "- CPU s = user+system time of all the server's processes over load + drain, from /proc/PID/stat (utime+stime, plus cutime+cstime of reaped children). Peak RSS/PSS = largest sum over the server's processes (VmRSS, and Pss from /proc/PID/smaps_rollup), sampled every 250 ms. RSS counts shared pages once per process; PSS splits them.",
    `- Memory, on a fresh instance of each server: Σ PSS of all its processes 3 s after start ("fresh"); then ${PLAN.idle} sessions opened in 5 batches (at most 5 handshakes at a time; each reads the greeting, sends EHLO, reads the reply, then stays silent), Σ PSS 2 s after each batch. KB/session = least-squares slope of Σ PSS over open sessions (the point before included); the plain (last − before) ÷ sessions is shown too. The delivery and intake runs use a second instance; "after load" is its Σ PSS 5 s after its last run.`,
    `- Profile: Facteur started again with \`node --cpu-prof\` (children forked by the parent inherit its execArgv; Node 20 refuses --cpu-prof in NODE_OPTIONS), 1 KB × 50 sessions for ${PLAN.duration} s, then stopped with SIGTERM so that every process writes its profile; only samples from the load and its drain count; self time per function summed over all processes, mapped to source files through esbuild's module comments in the bundle.`,
    "- Ratios: Facteur's figure ÷ the peer's figure in the same configuration and run. For msgs/s higher is better; for latency, CPU and memory lower is better.",
    "- Config differences from defaults: loopback port; Postfix without chroot, paths into the unpacked tree, smtpd maxproc raised for the idle test; OpenSMTPD in a private mount namespace (its spool, chroot and socket paths are compiled in); OpenSMTPD and Facteur (both resolve with asr) get a bind-mounted resolv.conf with `lookup file bind`, so that they resolve 127.0.0.1 from /etc/hosts first, as glibc does for Postfix.",
  ];
}

function markdown(out, facts, totalSec, parser) {
  const md = [
    "# Facteur benchmarks",
    "",
    `Generated by \`${["node bench/run.mjs", ...process.argv.slice(2)].join(" ")}\` on ${facts.date} (took ${f(totalSec, 0)} s, after the build). Overwritten by each run, except the hand-written part at the end.`,
    "",
    "## Machine",
    "",
    `- ${facts.nproc} CPUs (${facts.cpu}), ${facts.memGB} GB RAM, kernel ${facts.kernel}, Debian ${facts.debian}; shared with other users' jobs, so only figures from the same run compare`,
    `- Node ${facts.node}; spool, queue and Maildirs on /tmp (${facts.tmpFs})`,
    `- OpenSMTPD ${facts.opensmtpd}, Postfix ${facts.postfix} (Debian packages, unpacked with dpkg -x, not installed)`,
    `- Facteur ${facts.facteur ?? "not available"}`,
    "",
    "## Summary: Facteur against its targets and the peers",
    "",
    summaryTable(out),
    "",
    "## Method",
    "",
    ...method(),
    "",
    "## SMTP intake",
    "",
    intakeTable(out.results),
    "",
  ];
  const ratios = intakeRatios(out.results);
  if (ratios) md.push("Facteur ÷ peer, same configuration:", "", ratios, "");
  if (out.deliveries.length)
    md.push("## Delivery into Maildir", "", deliveryTable(out.deliveries), "");
  if (out.fresh.length) {
    md.push("## Memory", "", memoryTable(out), "", memoryByProcess(out), "");
  }
  if (out.profile) md.push("## Where Facteur spends its CPU", "", profileSection(out.profile), "");
  if (parser) md.push("## Parser (bench/parse-bench.mjs)", "", "```", parser.text, "```", "");
  if (out.notes.length) md.push("## Notes", "", ...out.notes.map((n) => `- ${n}`), "");
  return md.join("\n");
}

const HAND_MARK =
  "<!-- Below this line: written by hand, kept by bench/run.mjs when it rewrites the file. -->";

/** The hand-written tail of the previous file (from HAND_MARK on), or "". */
function keptByHand(file) {
  let old = "";
  try {
    old = fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
  const i = old.indexOf(HAND_MARK);
  return i < 0 ? "" : `\n${old.slice(i)}`;
}

/** The servers asked for, as [name, start()]; Facteur from a snapshot of its bundle. */
function starters(out) {
  const wanted = new Set(args.servers.split(",").map((s) => s.trim().toLowerCase()));
  let snap = null;
  if (wanted.has("facteur")) {
    try {
      snap = snapshotFacteur(args.facteurBundle ?? null);
    } catch (e) {
      out.notes.push(`Facteur: not available (${e.message}).`);
    }
  }
  const list = [
    ["opensmtpd", "OpenSMTPD", () => startOpenSMTPD()],
    // maxproc N+100 so that the N idle sessions each get their own smtpd (Postfix's default
    // process limit is 100; the load runs use at most 50 sessions, so it does not matter there).
    ["postfix", "Postfix", () => startPostfix({ smtpdMaxproc: PLAN.idle + 100 })],
    ["facteur", "Facteur", () => startFacteur({ bin: snap.bin, rev: snap.rev })],
  ].filter(([k]) => wanted.has(k) && (k !== "facteur" || snap));
  return { snap, list: list.map(([, name, start]) => [name, start]) };
}

async function profilePhase(snap, out) {
  log("Facteur: profiled intake, 1 KB × 50 sessions");
  try {
    out.profile = await profileRun(PLAN, { bin: snap.bin, rev: snap.rev });
    const top = out.profile.summary.top.slice(0, 5);
    for (const e of top) log(`  ${f(e.share * 100)}% ${e.module}:${e.fn}`);
  } catch (e) {
    log(`  profile run failed: ${e.message}`);
    out.notes.push(`Facteur profile run: ${e.message.split("\n")[0]}`);
  }
}

async function main() {
  if (process.getuid?.() !== 0) {
    console.error("bench/run.mjs needs root (it runs OpenSMTPD and Postfix privsep daemons)");
    process.exit(1);
  }
  const t0 = Date.now();
  const out = {
    results: [],
    deliveries: [],
    fresh: [],
    afterLoad: [],
    idle: [],
    notes: [],
    profile: null,
  };
  const versions = peerVersions();
  const { snap, list } = starters(out);
  // Memory on a fresh instance of each server, one at a time, so that neither load
  // leftovers nor Postfix's 1000 lingering smtpd processes skew anything.
  for (const [name, start] of list) {
    const inst = await startOrNote(name, start, out);
    if (!inst) continue;
    try {
      await memoryPhase(inst, out);
    } finally {
      await inst.stop();
    }
  }
  const insts = await loadPhase(list, out);
  const fa = insts.find((i) => i.name === "Facteur");
  if (fa) versions.facteur = fa.version;
  if (snap && args.profile && fa) await profilePhase(snap, out);

  removeCreatedDeliveryUser();
  const parser = await parserFigures();
  const facts = machineFacts(versions);
  const totalSec = (Date.now() - t0) / 1000;
  const md = markdown(out, facts, totalSec, parser);
  console.log(md);
  if (!args.noWrite) {
    fs.writeFileSync(args.out, md + keptByHand(args.out));
    log(`wrote ${args.out} (${f(totalSec, 0)} s)`);
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
