// SMTP load generator: plain SMTP, no pipelining, built-ins only.
//
//   node bench/smtp-load.mjs --port 2525 [--host 127.0.0.1] [--concurrency 10]
//        [--per-session 10] [--size 1024] [--messages 2000] [--duration 20]
//        [--timeout 30] [--rcpt bench@bench.test] [--json]
//   node bench/smtp-load.mjs --port 2525 --idle 1000 [--steps 4] [--ehlo] [--hold 120]
//        opens N sessions in K batches, waits for each greeting (and the EHLO reply with
//        --ehlo), prints {"idle":n,...} after each batch and waits for a line "more" before the
//        next; keeps them open until stdin closes, a line "close" is read, or --hold s pass.
//
// Each of `concurrency` sessions does: greeting, EHLO, then `per-session` times
// MAIL FROM / RCPT TO / DATA / body / "." and finally QUIT, then opens a new session,
// until `messages` transactions were started or `duration` seconds have passed.
// Latency = time from sending the final "." to receiving the reply to it.
// Load traffic is only allowed to loopback addresses.

import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/** Build a message of about `size` bytes (headers + body), dot-stuffed, CRLF, no final dot. */
export function makeMessage(size, seq = 0, rcpt = "bench@bench.test") {
  const headers = [
    "From: Bench Sender <sender@client.test>",
    `To: <${rcpt}>`,
    `Subject: facteur bench message ${seq}`,
    `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <bench.${process.pid}.${Date.now()}.${seq}@client.test>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
    "",
  ].join("\r\n");
  const line = "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghijklmnopqrstu";
  const parts = [headers];
  let len = headers.length + 2;
  let i = 0;
  while (len < size && i < 1_000_000) {
    // every 7th line starts with a dot to exercise dot-stuffing
    const l = i % 7 === 3 ? `.${line.slice(1)}` : line;
    const chunk = l.slice(0, Math.max(1, Math.min(l.length, size - len - 2)));
    parts.push(chunk);
    len += chunk.length + 2;
    i++;
  }
  return `${parts.map((l) => (l.startsWith(".") ? `.${l}` : l)).join("\r\n")}\r\n`;
}

/** Line-oriented SMTP client over one socket, with per-step timeouts. */
class Session {
  constructor(socket, stepTimeoutMs) {
    this.socket = socket;
    this.stepTimeoutMs = stepTimeoutMs;
    this.buf = "";
    this.lines = [];
    this.waiter = null;
    this.closed = false;
    socket.setEncoding("latin1");
    socket.setNoDelay(true);
    socket.on("data", (d) => {
      this.buf += d;
      let i = this.buf.indexOf("\n");
      while (i >= 0) {
        this.lines.push(this.buf.slice(0, i).replace(/\r$/, ""));
        this.buf = this.buf.slice(i + 1);
        i = this.buf.indexOf("\n");
      }
      this.pump();
    });
    const fail = (e) => {
      this.closed = true;
      this.error = e || new Error("connection closed");
      this.pump();
    };
    socket.on("error", fail);
    socket.on("close", () => fail(null));
  }

  pump() {
    if (!this.waiter) return;
    // A reply is complete at a line "ddd " (or exactly "ddd").
    const idx = this.lines.findIndex((l) => /^\d{3}(?: |$)/.test(l));
    if (idx >= 0) {
      const lines = this.lines.splice(0, idx + 1);
      const w = this.waiter;
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve({ code: Number(lines[idx].slice(0, 3)), lines });
    } else if (this.closed) {
      const w = this.waiter;
      this.waiter = null;
      clearTimeout(w.timer);
      w.reject(this.error || new Error("connection closed"));
    }
  }

  reply(step) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`timeout waiting for reply to ${step}`));
      }, this.stepTimeoutMs);
      this.waiter = { resolve, reject, timer };
      this.pump();
    });
  }

  async cmd(line, step, expect) {
    if (line !== null) this.socket.write(`${line}\r\n`);
    const r = await this.reply(step);
    if (expect && Math.floor(r.code / 100) !== expect) {
      const e = new Error(`${step}: unexpected reply ${r.lines.join(" | ").slice(0, 200)}`);
      e.smtpCode = r.code;
      throw e;
    }
    return r;
  }

  destroy() {
    this.socket.destroy();
  }
}

function connect(host, port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error("connect timeout"));
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/**
 * Run the load. Returns
 * {accepted, rejected, errors, sessions, elapsedSec, msgsPerSec, p50Ms, p99Ms, maxMs, errorSamples}.
 */
export async function runLoad(opts = {}) {
  const o = {
    host: "127.0.0.1",
    port: 25,
    concurrency: 10,
    perSession: 10,
    size: 1024,
    messages: 2000,
    duration: 20,
    timeout: 30,
    rcpt: "bench@bench.test",
    from: "sender@client.test",
    helo: "client.test",
    maxErrors: 1000,
    ...opts,
  };
  if (!LOOPBACK.has(o.host)) throw new Error(`refusing to load a non-loopback host: ${o.host}`);
  const stepMs = o.timeout * 1000;
  const deadline = Date.now() + o.duration * 1000;
  const bodies = [0, 1, 2, 3].map((k) => makeMessage(o.size, k, o.rcpt));
  const lat = new Float64Array(o.messages);
  const setup = [];
  let started = 0;
  let accepted = 0;
  let rejected = 0;
  let errors = 0;
  let sessions = 0;
  const errorSamples = new Map();
  const noteError = (e) => {
    errors++;
    const k = String(e?.message || e).slice(0, 160);
    errorSamples.set(k, (errorSamples.get(k) || 0) + 1);
  };
  const more = () => started < o.messages && Date.now() < deadline && errors < o.maxErrors;

  const startedAtMs = Date.now(); // wall clock, for callers that time other events against it
  const t0 = process.hrtime.bigint();
  let tEnd = t0;

  async function worker() {
    // Bounded: each loop either starts a transaction (≤ messages) or records an error
    // (≤ maxErrors), and stops at the deadline.
    while (more()) {
      let s;
      try {
        const tc = process.hrtime.bigint();
        s = new Session(await connect(o.host, o.port, stepMs), stepMs);
        sessions++;
        await s.cmd(null, "greeting", 2);
        if (setup.length < 100_000) setup.push(Number(process.hrtime.bigint() - tc) / 1e6);
        await s.cmd(`EHLO ${o.helo}`, "EHLO", 2);
        for (let m = 0; m < o.perSession && more(); m++) {
          const seq = started++;
          await s.cmd(`MAIL FROM:<${o.from}>`, "MAIL", 2);
          await s.cmd(`RCPT TO:<${o.rcpt}>`, "RCPT", 2);
          await s.cmd("DATA", "DATA", 3);
          s.socket.write(bodies[seq & 3]);
          const t = process.hrtime.bigint();
          s.socket.write(".\r\n");
          const r = await s.cmd(null, "end of DATA", 0);
          const now = process.hrtime.bigint();
          if (r.code >= 200 && r.code < 300) {
            if (accepted < lat.length) lat[accepted] = Number(now - t) / 1e6;
            accepted++;
            tEnd = now;
          } else {
            rejected++;
            noteError(new Error(`end of DATA: ${r.lines.join(" | ").slice(0, 120)}`));
            break;
          }
        }
        await s.cmd("QUIT", "QUIT", 0).catch(() => {});
      } catch (e) {
        noteError(e);
        // back off a little after a failure so a dead server does not spin the loop
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        s?.destroy();
      }
    }
  }

  await Promise.all(Array.from({ length: o.concurrency }, () => worker()));
  const elapsedSec = Number((accepted ? tEnd : process.hrtime.bigint()) - t0) / 1e9;
  const sorted = Array.from(lat.subarray(0, Math.min(accepted, lat.length))).sort((a, b) => a - b);
  return {
    host: o.host,
    port: o.port,
    concurrency: o.concurrency,
    perSession: o.perSession,
    size: o.size,
    accepted,
    rejected,
    errors,
    sessions,
    startedAtMs,
    elapsedSec,
    msgsPerSec: elapsedSec > 0 ? accepted / elapsedSec : 0,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1] : null,
    // connect() to 220 greeting, per session
    setupP50Ms: percentile(
      setup.sort((a, b) => a - b),
      50,
    ),
    setupP99Ms: percentile(setup, 99),
    errorSamples: Object.fromEntries([...errorSamples].slice(0, 10)),
  };
}

/**
 * Idle sessions, opened in batches: each waits for the greeting, then with `ehlo` sends EHLO
 * and waits for its reply, then stays silent (at most `parallel` handshakes at once).
 * `add(n)` opens n more; `stats()` counts those open; `close()` drops them all.
 */
export function idleSessions({
  host = "127.0.0.1",
  port,
  // OpenSMTPD listens with a backlog of 5: more handshakes at once overflow its accept queue.
  parallel = 5,
  timeout = 30,
  ehlo = false,
  helo = "client.test",
} = {}) {
  if (!LOOPBACK.has(host)) throw new Error(`refusing to load a non-loopback host: ${host}`);
  const sessions = [];
  let failed = 0;
  const errorSamples = {};
  async function add(count) {
    let next = 0;
    async function opener() {
      while (next < count) {
        next++;
        try {
          const s = new Session(await connect(host, port, timeout * 1000), timeout * 1000);
          sessions.push(s);
          await s.cmd(null, "greeting", 2);
          if (ehlo) await s.cmd(`EHLO ${helo}`, "EHLO", 2);
          s.isOpen = true;
        } catch (e) {
          failed++;
          const k = String(e.message).slice(0, 120);
          errorSamples[k] = (errorSamples[k] || 0) + 1;
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, () => opener()));
  }
  return {
    add,
    stats: () => ({
      opened: sessions.filter((s) => s.isOpen && !s.closed).length,
      failed,
      errorSamples,
    }),
    close() {
      for (const s of sessions) s.destroy();
    },
  };
}

/** Open `count` idle sessions at once (see idleSessions). Returns {opened, failed, close()}. */
export async function openIdleSessions({ count = 1000, ...opts } = {}) {
  const idle = idleSessions(opts);
  await idle.add(count);
  return { ...idle.stats(), close: idle.close };
}

/** Lines from stdin, one at a time; null once stdin ends. */
function stdinLines() {
  const lines = [];
  const waiters = [];
  let ended = false;
  let buf = "";
  const flush = () => {
    while (waiters.length && (lines.length || ended)) waiters.shift()(lines.shift() ?? null);
  };
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d) => {
    buf += d;
    let i = buf.indexOf("\n");
    while (i >= 0) {
      lines.push(buf.slice(0, i).trim());
      buf = buf.slice(i + 1);
      i = buf.indexOf("\n");
    }
    flush();
  });
  const end = () => {
    ended = true;
    flush();
  };
  process.stdin.on("end", end);
  process.stdin.on("error", end);
  return () =>
    new Promise((resolve) => {
      waiters.push(resolve);
      flush();
    });
}

/**
 * `--idle N [--steps K]`: opens N sessions in K batches; after each batch prints
 * {"idle":open,"failed":F,...} and, between batches, waits for a line "more" on stdin.
 * Then holds them until a line "close", the end of stdin, or --hold seconds.
 */
async function idleMain(a) {
  const idle = idleSessions({ host: a.host || "127.0.0.1", port: a.port, ehlo: a.ehlo === true });
  const steps = Math.max(1, Math.min(100, a.steps || 1));
  const nextLine = stdinLines();
  const deadline = setTimeout(() => process.exit(0), (a.hold || 120) * 1000);
  let asked = 0;
  for (let i = 1; i <= steps; i++) {
    const want = Math.round((a.idle * i) / steps);
    await idle.add(want - asked);
    asked = want;
    const st = idle.stats();
    console.log(
      JSON.stringify({
        idle: st.opened,
        failed: st.failed,
        step: i,
        errorSamples: st.errorSamples,
      }),
    );
    if (i < steps && (await nextLine()) !== "more") break;
  }
  for (let line = await nextLine(); line !== null && line !== "close"; line = await nextLine()) {
    // keep holding
  }
  clearTimeout(deadline);
  idle.close();
  process.exit(0);
}

// ---------------------------------------------------------------- CLI

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) continue;
    const key = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) out[key] = true;
    else {
      out[key] = /^\d+(\.\d+)?$/.test(v) ? Number(v) : v;
      i++;
    }
  }
  return out;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (!a.port || a.help) {
    console.error(
      "usage: node bench/smtp-load.mjs --port P [--host 127.0.0.1] [--concurrency 10] " +
        "[--per-session 10] [--size 1024] [--messages 2000] [--duration 20] [--timeout 30] " +
        "[--json] | --port P --idle N [--steps K] [--ehlo] [--hold 120]",
    );
    process.exit(2);
  }
  if (a.idle) return idleMain(a);
  const r = await runLoad(a);
  if (a.json) console.log(JSON.stringify(r));
  else {
    console.log(
      `${r.accepted} accepted, ${r.rejected} rejected, ${r.errors} errors in ${r.elapsedSec.toFixed(2)} s: ` +
        `${r.msgsPerSec.toFixed(1)} msg/s, p50 ${r.p50Ms?.toFixed(2)} ms, p99 ${r.p99Ms?.toFixed(2)} ms`,
    );
    if (r.errors) console.log(r.errorSamples);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
