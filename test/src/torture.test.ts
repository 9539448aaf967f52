// kill -9 torture over the whole path, SMTP in to maildir out: concurrent clients send a
// bounded load while the daemon (parent, roles, delivery workers) is SIGKILLed at random
// moments and restarted on the same root. After the queue drains, every message answered 250
// is in the maildir, no file in new/ is partial, and duplicates are counted: they may only
// come from deliveries in flight at a kill. Needs root (useradd; root is never delivered to).
// The message sizes and kill points come from a seed printed with the results; TORTURE_SEED=n
// repeats them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Daemon, freePort, startDaemon } from "./harness.js";
import { descendants, prng } from "./procs.js";
import { SmtpClient } from "./smtp-client.js";

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : "needs root to create the mailbox user";
const tag = process.pid.toString(36);
const USER = `ftt${tag}`.slice(0, 16);

const MESSAGES = 200;
const CLIENTS = 8;
const SIZES = [200, 1_500, 8_000, 40_000, 150_000];
/** The scheduler runs at most this many deliveries at once: the most a kill can repeat. */
const MAX_IN_FLIGHT = 32;

const isGone = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
};

/**
 * kill -9 of the whole daemon: the parent is stopped first so that it cannot start another
 * delivery worker while its tree is read, then it and every descendant get SIGKILL.
 */
async function killAll(d: Daemon): Promise<number[]> {
  const parent = d.proc.pid;
  assert.ok(parent !== undefined);
  process.kill(parent, "SIGSTOP");
  const pids = [...descendants(parent), parent];
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 10_000;
  while (!pids.every(isGone) || (d.proc.exitCode === null && d.proc.signalCode === null)) {
    if (Date.now() > deadline) throw new Error(`processes survived SIGKILL: ${pids}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return pids;
}

interface Attempt {
  readonly marker: string;
  readonly body: Buffer;
  acked: boolean;
}

/** A message of about `size` bytes whose every line names its marker; dot lines included. */
function makeMessage(marker: string, size: number, rnd: () => number): Buffer {
  const lines = [
    `Subject: torture ${marker}`,
    `Message-ID: <${marker}@client.test>`,
    `X-Torture: ${marker}`,
    "",
  ];
  let n = 0;
  for (let i = 0; n < size; i++) {
    const lead = rnd() < 0.05 ? "." : "";
    const l = `${lead}${marker} line ${i} ${"abcdefghij".repeat(1 + Math.floor(rnd() * 7))}`;
    lines.push(l);
    n += l.length + 2;
  }
  lines.push(`END ${marker}`);
  return Buffer.from(`${lines.join("\r\n")}\r\n`, "latin1");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("kill -9 while sending and delivering: nothing accepted is lost", {
  skip,
  timeout: 150_000,
}, async (t) => {
  const seed = Number(process.env.TORTURE_SEED ?? Date.now() % 0x7fffffff);
  const rnd = prng(seed);
  const started = Date.now();
  const root = mkdtempSync(join(tmpdir(), "facteur-torture-"));
  chmodSync(root, 0o711);
  const box = join(root, "box");
  spawnSync("userdel", [USER]);
  const ua = spawnSync("useradd", ["-M", "-d", box, "-s", "/usr/sbin/nologin", USER]);
  assert.equal(ua.status, 0, String(ua.stderr));
  const uid = Number(spawnSync("id", ["-u", USER], { encoding: "utf8" }).stdout);
  const gid = Number(spawnSync("id", ["-g", USER], { encoding: "utf8" }).stdout);
  mkdirSync(box, { mode: 0o700 });
  chownSync(box, uid, gid);
  const port = await freePort();
  const config = [
    `listen on 127.0.0.1 port ${port} hostname mx.test`,
    `action "md" maildir "${box}" user ${USER}`,
    'match from any for domain "t.test" action "md"',
    "",
  ].join("\n");

  let d = await startDaemon(config, { root });
  let passed = false;
  let over = false; // set when the test ends, so that no client or killer loop outlives it
  try {
    let logs = "";
    const ctx = () => `seed ${seed}\n${logs}${d.log()}`;
    const newDir = join(box, "new");
    const delivered = () => (existsSync(newDir) ? readdirSync(newDir).length : 0);

    // The messages: each attempt at sending one gets its own marker, so a client's retry after
    // a kill is not counted as a duplicate of the daemon's making.
    const attempts = new Map<string, Attempt>();
    const plan = Array.from({ length: MESSAGES }, (_, i) => ({
      i,
      size: SIZES[Math.floor(rnd() * SIZES.length)]!,
    }));
    let next = 0;
    let acked = 0;
    let down = false;
    const sendDeadline = Date.now() + 70_000;

    const client = async (c: number): Promise<void> => {
      let s: SmtpClient | null = null;
      let tries = 0;
      for (let m = plan[next++]; m !== undefined; m = plan[next++]) {
        for (let attempt = 0; ; attempt++) {
          if (over) return;
          if (Date.now() > sendDeadline) throw new Error(`client ${c}: stuck on ${m.i}\n${ctx()}`);
          const marker = `t${seed}-${m.i}-${attempt}`;
          const a: Attempt = { marker, body: makeMessage(marker, m.size, rnd), acked: false };
          try {
            if (s === null || s.isClosed) {
              s = await SmtpClient.open(port);
              if ((await s.reply()).code !== 220) throw new Error("no greeting");
              if ((await s.command("EHLO client.test")).code !== 250) throw new Error("EHLO");
            }
            attempts.set(marker, a);
            const r = await s.sendMail(`c${c}@client.test`, [`box@t.test`], a.body);
            if (r.code !== 250) throw new Error(r.text);
            a.acked = true;
            acked++;
            tries = 0;
            break;
          } catch {
            s?.close();
            s = null;
            // Refused while the daemon is down: poll again shortly (bounded by sendDeadline).
            await sleep(down ? 50 : Math.min(20 * ++tries, 200));
          }
        }
      }
      s?.close();
    };

    // Kill moments: all but one while sending, at a random count of accepted messages. Local
    // delivery keeps pace with the clients, so for the last one a backlog is made: delivery is
    // paused after the last restart while sending, resumed once every message is in, and the
    // daemon is killed when a random share of that backlog has reached the maildir.
    const kills = 3 + Math.floor(rnd() * 2);
    const thresholds = Array.from({ length: kills - 1 }, () =>
      Math.floor(MESSAGES * (0.1 + 0.5 * rnd())),
    ).sort((a, b) => a - b);
    const lastShare = 0.2 + 0.6 * rnd();
    const killLog: string[] = [];
    /** The run (0, 1, ...) each killed process belonged to: maildir names carry the worker's PID. */
    const runOf = new Map<number, number>();
    let killed = 0;
    const killAndRestart = async (): Promise<void> => {
      down = true;
      const inNew = delivered();
      const pids = await killAll(d);
      for (const p of pids) runOf.set(p, killed);
      logs += d.log();
      killed++;
      const t0 = Date.now();
      d = await startDaemon(config, { root });
      down = false;
      killLog.push(
        `kill ${killed} at ${t0 - started} ms: ${acked} accepted, ${inNew} in new/, ${pids.length} processes; restart took ${Date.now() - t0} ms`,
      );
    };
    const until = async (what: string, f: () => boolean): Promise<void> => {
      const deadline = Date.now() + 80_000;
      while (!f()) {
        if (over) throw new Error("test over");
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${ctx()}`);
        await sleep(5);
      }
    };
    const killer = async (): Promise<void> => {
      for (const t of thresholds) {
        await until(`${t} accepted messages`, () => acked >= t);
        await killAndRestart();
      }
      assert.equal(d.smtpctl("pause", "mda").code, 0);
      await until("every message accepted", () => acked >= MESSAGES);
      const base = delivered();
      assert.equal(d.smtpctl("resume", "mda").code, 0);
      await until(
        "part of the backlog delivered",
        () => delivered() >= base + lastShare * (acked - base),
      );
      await killAndRestart();
    };

    await Promise.all([killer(), ...Array.from({ length: CLIENTS }, (_, c) => client(c))]);
    const sentAt = Date.now() - started;

    // Drain: the queue must empty. Envelopes whose attempt was cut short wait for their retry
    // time (10 s, 40 s, ...): `schedule all` brings them forward.
    const drainDeadline = Date.now() + 60_000;
    let forced = 0;
    for (;;) {
      const q = d.smtpctl("show", "queue");
      assert.equal(q.code, 0, q.err);
      const lines = q.out.split("\n").filter((l) => l !== "");
      if (lines.length === 0) break;
      if (Date.now() > drainDeadline) throw new Error(`queue did not drain:\n${q.out}\n${ctx()}`);
      if (lines.every((l) => Number(l.split("|")[12]) > 1)) {
        d.smtpctl("schedule", "all");
        forced++;
      }
      await sleep(100);
    }
    const drainedAt = Date.now() - started;

    // Every file in new/ is a whole message of a known attempt.
    const count = new Map<string, number>();
    const runs = new Map<string, number[]>();
    for (const f of readdirSync(newDir)) {
      const text = readFileSync(join(newDir, f));
      const marker = /\nX-Torture: (\S+)\n/.exec(text.toString("latin1"))?.[1];
      const a = marker === undefined ? undefined : attempts.get(marker);
      assert.ok(a !== undefined, `${f}: not one of the messages sent\n${ctx()}`);
      const want = Buffer.from(a.body.toString("latin1").replaceAll("\r\n", "\n"), "latin1");
      assert.ok(
        text.length > want.length && text.subarray(text.length - want.length).equals(want),
        `${f}: partial or altered (${text.length} bytes for ${want.length})\n${ctx()}`,
      );
      assert.match(text.toString("latin1"), /^Return-Path: <c\d@client\.test>\nDelivered-To: /);
      count.set(a.marker, (count.get(a.marker) ?? 0) + 1);
      const pid = Number(/^\d+\.M\d+P(\d+)Q/.exec(f)?.[1]);
      runs.set(a.marker, [...(runs.get(a.marker) ?? []), runOf.get(pid) ?? killed]);
    }
    const lost = [...attempts.values()].filter((a) => a.acked && !count.has(a.marker));
    assert.deepEqual(
      lost.map((a) => a.marker),
      [],
      `accepted but never delivered\n${ctx()}`,
    );
    const dups = [...count.values()].reduce((n, k) => n + k - 1, 0);
    /** Extra copies by the run that made them before it was killed. */
    const dupsByKill = Array.from({ length: killed }, () => 0);
    for (const rs of runs.values())
      for (const r of [...rs].sort((a, b) => a - b).slice(0, -1))
        dupsByKill[r] = (dupsByKill[r] ?? 0) + 1;
    const unacked = [...attempts.values()].filter((a) => !a.acked);
    const unackedIn = unacked.filter((a) => count.has(a.marker)).length;
    const tmpLeft = readdirSync(join(box, "tmp")).length;
    // What the spool still holds once the queue is empty (killed sessions, cut-off removals).
    const spool = join(root, "spool");
    const left = (dir: string, depth: number): string[] =>
      !existsSync(join(spool, dir))
        ? []
        : readdirSync(join(spool, dir)).flatMap((e) =>
            depth > 1 ? left(join(dir, e), depth - 1) : [join(dir, e)],
          );
    const dirs: [string, number][] = [
      ["queue", 2],
      ["incoming", 1],
      ["temporary", 1],
      ["purge", 1],
      ["quarantine", 1],
    ];
    const spoolLeft = dirs.map(([dir, depth]) => `${dir}/ ${left(dir, depth).length}`);
    const report = [
      `seed ${seed}: ${MESSAGES} messages, ${CLIENTS} clients, ${killed} kills`,
      ...killLog,
      `sent at ${sentAt} ms, drained at ${drainedAt} ms (schedule all ${forced}x)`,
      `${acked} accepted, ${count.size} distinct delivered, ${dups} duplicate(s) (by kill: ${dupsByKill.join(", ")})`,
      `${unacked.length} attempts without 250 (${unackedIn} delivered anyway), ${tmpLeft} file(s) left in tmp/`,
      `left in the spool: ${spoolLeft.join(", ")}`,
    ].join("\n");
    for (const line of report.split("\n")) t.diagnostic(line);
    assert.ok(dups <= killed * MAX_IN_FLIGHT, `too many duplicates\n${report}\n${ctx()}`);
    // The duplicate window: delivered, then killed before the envelope was removed. So the
    // copies of one message come from different runs, and all but the last from a killed one.
    for (const [marker, rs] of runs) {
      if (rs.length < 2) continue;
      const sorted = [...rs].sort((a, b) => a - b);
      assert.equal(new Set(rs).size, rs.length, `${marker} delivered twice in one run\n${report}`);
      assert.ok(
        sorted.slice(0, -1).every((r) => r < killed),
        `${marker}: ${rs}\n${report}`,
      );
    }

    passed = true;
  } finally {
    over = true;
    // Stopped in any case; the root is kept for a look when the test failed.
    const code = await d.stop();
    spawnSync("userdel", [USER]);
    if (passed) {
      rmSync(root, { recursive: true, force: true });
      assert.equal(code, 0, d.log());
    } else process.stderr.write(`torture: root kept in ${root}\n`);
  }
});
