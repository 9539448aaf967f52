// Crash consistency of the whole daemon: concurrent clients send messages of various sizes,
// the parent and every role are SIGKILLed at random moments, the daemon is restarted on the
// same root; every message answered 250 must be in the queue byte for byte, and nothing
// unacknowledged may be there in part.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Daemon, freePort, startDaemon } from "./harness.js";
import { descendants, prng } from "./procs.js";
import { SmtpClient } from "./smtp-client.js";
import { showQueue, spoolDirEntries, spoolEntries } from "./spool.js";

const ROUNDS = 4;
const CLIENTS = 6;
const SIZES = [300, 3_000, 30_000, 120_000, 400_000];

const isGone = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
};

/** kill -9 of the parent and all its role processes, then wait until they are all gone. */
async function killAll(d: Daemon): Promise<number> {
  const parent = d.proc.pid;
  assert.ok(parent !== undefined);
  const pids = [parent, ...descendants(parent)];
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
  return pids.length;
}

type Outcome = "sending" | "acked" | "refused" | "unknown";
interface Sent {
  readonly message: Buffer;
  outcome: Outcome;
  msgid?: string;
}

/** A message whose content follows from its marker; lines never start with a dot. */
function makeMessage(marker: string, size: number): Buffer {
  const head = `Message-ID: <${marker}@crash.test>\r\nSubject: ${marker}\r\n\r\n`;
  const line = `${marker} ${"abcdefghijklmnopqrstuvwxyz0123456789".repeat(2)}\r\n`;
  const body = line.repeat(Math.max(1, Math.ceil((size - head.length) / line.length)));
  return Buffer.from(head + body);
}

/** One client: messages over a few connections until `stop`; every outcome is recorded. */
async function client(
  id: string,
  port: number,
  rnd: () => number,
  stop: { now: boolean },
  sent: Map<string, Sent>,
): Promise<void> {
  let n = 0;
  while (!stop.now) {
    let c: SmtpClient;
    try {
      c = await SmtpClient.open(port);
    } catch {
      await new Promise((r) => setTimeout(r, 10)); // the daemon is down: try again
      continue;
    }
    let current: Sent | undefined;
    try {
      if ((await c.reply()).code !== 220) throw new Error("no banner");
      await c.command("EHLO crash.test");
      for (let k = 0; k < 3 && !stop.now; k++) {
        const marker = `${id}-${n++}`;
        const size = SIZES[Math.floor(rnd() * SIZES.length)]!;
        current = { message: makeMessage(marker, size), outcome: "sending" };
        sent.set(marker, current);
        const r = await c.sendMail(`${marker}@client.test`, ["bob@example.test"], current.message);
        const m = /^250 2\.0\.0 ([0-9a-f]{8}) Message accepted for delivery$/.exec(r.text);
        current.outcome = m !== null ? "acked" : "refused";
        if (m !== null) current.msgid = m[1];
        current = undefined;
      }
      await c.command("QUIT");
    } catch {
      // Killed under our feet: whatever was being sent has no answer.
      if (current !== undefined) current.outcome = "unknown";
    }
    c.close();
  }
}

test("kill -9 of the whole daemon under load loses no acknowledged message", async (t) => {
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 0xffffffff));
  const rnd = prng(seed);
  const why = (s: string) => `${s} (CRASH_SEED=${seed})`;
  const root = mkdtempSync(join(tmpdir(), "facteur-crash-"));
  const port = await freePort();
  const lmtp = await freePort(); // nothing listens: deliveries fail, messages stay queued
  const config = [
    `listen on 127.0.0.1 port ${port} hostname mx.test`,
    `action "local" lmtp "127.0.0.1:${lmtp}" user nobody`,
    'match from any for domain "example.test" action "local"',
    "",
  ].join("\n");
  const sent = new Map<string, Sent>();
  let live: Daemon | undefined; // killed in `finally` when an assertion fails mid-round
  try {
    const t0 = Date.now();
    for (let round = 0; round < ROUNDS; round++) {
      const d = await startDaemon(config, { root, timeoutMs: 45_000 });
      live = d;
      t.diagnostic(`round ${round}: daemon up after ${Date.now() - t0} ms`);
      const stop = { now: false };
      const clients = Array.from({ length: CLIENTS }, (_, i) =>
        client(`r${round}c${i}`, port, prng(Math.floor(rnd() * 0xffffffff)), stop, sent),
      );
      // Let some mail through, then kill at a random moment while clients are mid-flight.
      const acked = () => [...sent.values()].filter((s) => s.outcome === "acked").length;
      const target = acked() + 4 + Math.floor(rnd() * 12);
      const deadline = Date.now() + 30_000;
      while (acked() < target) {
        if (Date.now() > deadline) throw new Error(why(`no progress in round ${round}`));
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, Math.floor(rnd() * 300)));
      const killed = await killAll(d);
      live = undefined;
      assert.ok(killed >= 4, why(`only ${killed} processes in the daemon`));
      stop.now = true;
      await Promise.all(clients);
      t.diagnostic(
        `round ${round}: ${killed} processes killed at ${Date.now() - t0} ms, ${acked()} acknowledged so far`,
      );
    }

    // Restart once more: recovery throws away what was never committed.
    const d = await startDaemon(config, { root, timeoutMs: 45_000 });
    live = d;
    const queued = new Set(showQueue(d).map((l) => l.msgid));
    assert.equal(await d.stop(), 0, d.log());
    live = undefined;
    assert.doesNotMatch(d.log(), /invalid envelope/, why("a torn envelope after a crash"));
    assert.deepEqual(spoolDirEntries(root, "incoming"), [], why("incoming/ not purged"));
    assert.deepEqual(spoolDirEntries(root, "temporary"), [], why("temporary/ not purged"));

    const byMarker = new Map<string, { msgid: string; message: Buffer }>();
    for (const e of spoolEntries(root)) {
      assert.ok(e.message !== null, why(`${e.msgid}: envelopes without a message`));
      assert.equal(e.envelopes.length, 1, why(`${e.msgid}: ${e.envelopes.length} envelopes`));
      const marker = /^Message-ID: <([^@>]+)@crash\.test>\r$/m.exec(
        e.message.toString("latin1"),
      )?.[1];
      assert.ok(marker !== undefined, why(`${e.msgid}: not one of ours`));
      const s = sent.get(marker);
      assert.ok(s !== undefined, why(`${e.msgid}: unknown marker ${marker}`));
      assert.ok(
        s.outcome === "acked" || s.outcome === "unknown",
        why(`${marker} is queued but was ${s.outcome}`),
      );
      // Complete: the daemon's Received header, then exactly the bytes the client sent.
      assert.ok(e.message.toString("latin1").startsWith("Received: "), why(marker));
      assert.ok(
        e.message.subarray(e.message.length - s.message.length).equals(s.message),
        why(`${e.msgid} (${marker}) is not the message sent`),
      );
      assert.ok(!byMarker.has(marker), why(`${marker} queued twice`));
      byMarker.set(marker, { msgid: e.msgid, message: e.message });
      assert.ok(queued.has(e.msgid), why(`${e.msgid} in the spool, not in show queue`));
    }
    let ackedCount = 0;
    let ackedBytes = 0;
    let storedBytes = 0;
    for (const [marker, s] of sent) {
      if (s.outcome !== "acked") continue;
      const q = byMarker.get(marker);
      assert.ok(q !== undefined, why(`${marker} was answered 250 ${s.msgid} but is lost`));
      assert.equal(q.msgid, s.msgid, why(marker));
      ackedCount++;
      ackedBytes += s.message.length;
      // What follows the daemon's Received header.
      storedBytes += q.message.length - q.message.indexOf("Message-ID: <");
    }
    assert.equal(storedBytes, ackedBytes, why("bytes acknowledged vs bytes queued"));
    assert.ok(ackedCount >= ROUNDS * 4, why(`only ${ackedCount} messages acknowledged`));
    const unknown = [...sent.values()].filter((s) => s.outcome === "unknown").length;
    t.diagnostic(
      `${ackedCount} acknowledged (${ackedBytes} bytes), all queued; ` +
        `${byMarker.size - ackedCount} of ${unknown} unanswered ones committed, complete`,
    );
  } finally {
    if (live !== undefined) await killAll(live);
    rmSync(root, { recursive: true, force: true });
  }
});
