import assert from "node:assert/strict";
import { test } from "node:test";
import { nextRetry, RETRY_BASE_MDA, RETRY_BASE_MTA, Scheduler } from "./scheduler.js";

test("OpenSMTPD's schedule: creation + base·k², first k in the future", () => {
  const c = 1_000_000;
  assert.equal(nextRetry(c, c, RETRY_BASE_MTA), c + 400);
  assert.equal(nextRetry(c, c + 400, RETRY_BASE_MTA), c + 1600);
  assert.equal(nextRetry(c, c + 1601, RETRY_BASE_MTA), c + 3600);
  assert.equal(nextRetry(c, c + 3600 * 5, RETRY_BASE_MTA), c + 400 * 7 * 7);
  assert.equal(nextRetry(c, c + 5, RETRY_BASE_MDA), c + 10);
  assert.equal(nextRetry(c, c + 10, RETRY_BASE_MDA), c + 40);
});

test("due envelopes run in time order within the concurrency limit; held ones wait", async () => {
  let now = 100;
  const ran: string[] = [];
  let active = 0;
  let peak = 0;
  const done = new Map<string, () => void>();
  const s = new Scheduler(
    (id) => {
      ran.push(id);
      active++;
      peak = Math.max(peak, active);
      return new Promise<void>((r) =>
        done.set(id, () => {
          active--;
          r();
        }),
      );
    },
    2,
    () => now,
  );
  s.schedule("c", 90);
  s.schedule("a", 50);
  s.schedule("b", 60);
  s.schedule("later", 500);
  s.schedule("held", 10);
  s.hold("held", true);
  s.schedule("relay", 5, "mta");
  s.pause("mta", true);
  await new Promise((r) => setImmediate(r));
  assert.equal(ran.length, 0, "nothing runs before start()");
  s.start();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, ["a", "b"]);
  done.get("a")!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, ["a", "b", "c"]);
  assert.equal(peak, 2);
  now = 600;
  s.schedule("b", 1000); // rescheduled by its attempt: runs later, not now
  done.get("b")!();
  done.get("c")!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, ["a", "b", "c", "later"]);
  s.hold("held", false);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran.at(-1), "held");
  assert.ok(!ran.includes("relay"), "a paused kind waits");
  done.get("later")!();
  done.get("held")!();
  await new Promise((r) => setImmediate(r));
  assert.ok(!ran.includes("relay"), "a paused kind waits even with free slots");
  s.pause("mta", false);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran.at(-1), "relay");
});
