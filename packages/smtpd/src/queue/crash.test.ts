// Crash consistency: a child enqueues messages and is SIGKILLed at a seeded random moment;
// every message whose commit() had resolved must be in the queue, byte-exact, and nothing
// partial may be in queue/.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { messageFor, prng } from "./crash-child.js";
import type { FsQueueOptions } from "./fs-backend.js";
import { FsQueue } from "./fs-backend.js";

const CHILD = fileURLToPath(new URL("./crash-child.js", import.meta.url));
const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Runs the child until it is killed `delayMs` after "ready"; returns the committed msgids. */
function runChild(
  spool: string,
  seed: number,
  opts: FsQueueOptions,
  delayMs: number,
): Promise<Map<string, number>> {
  const args = [
    CHILD,
    spool,
    String(seed),
    "400",
    "4",
    opts.compress === true ? "1" : "0",
    opts.key?.toString("hex") ?? "-",
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const committed = new Map<string, number>();
  let buf = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === "ready") setTimeout(() => child.kill("SIGKILL"), delayMs);
        const m = /^([0-9a-f]{8}) (\d+)$/.exec(line);
        if (m !== null) committed.set(m[1]!, Number(m[2]));
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (signal !== "SIGKILL" && code !== 0)
        reject(new Error(`child failed (${code}): ${stderr}`));
      else resolve(committed);
    });
  });
}

const KEY = randomBytes(32);
const CONFIGS: [string, FsQueueOptions][] = [
  ["plain", {}],
  ["compressed", { compress: true }],
  ["encrypted", { key: KEY }],
  ["compressed+encrypted", { compress: true, key: KEY }],
];
const ROUNDS = 3;

for (const [ci, [name, opts]] of CONFIGS.entries()) {
  test(`SIGKILL at random points loses no committed message (${name})`, async () => {
    const root = await mkdtemp(join(tmpdir(), "facteur-crash-"));
    roots.push(root);
    const spool = join(root, "spool");
    const expected = new Map<string, string>(); // msgid -> "seed:index", every acknowledged commit
    const rnd = prng(4242 + ci);
    for (let round = 0; round < ROUNDS; round++) {
      const seed = 1000 * (ci + 1) + round;
      const delayMs = 20 + Math.floor(rnd() * 300);
      const committed = await runChild(spool, seed, opts, delayMs);
      for (const [msgid, index] of committed) expected.set(msgid, `${seed}:${index}`);

      const q = await FsQueue.open(spool, opts);
      assert.deepEqual(readdirSync(join(spool, "incoming")), []);
      assert.deepEqual(readdirSync(join(spool, "temporary")), []);
      const tags = new Map<string, Set<string>>();
      const counts = new Map<string, number>();
      for await (const item of q.walk()) {
        assert.ok(item.ok, `round ${round}: ${JSON.stringify(item)}`);
        const m = item.envelope.msgid;
        tags.set(m, (tags.get(m) ?? new Set()).add(item.envelope.tag));
        counts.set(m, (counts.get(m) ?? 0) + 1);
      }
      const ids = await q.messageIds();
      assert.deepEqual([...tags.keys()].sort(), ids, "every message dir has envelopes");
      // Every message in queue/ (acknowledged or caught between rename and report) is whole.
      for (const msgid of ids) {
        const t = [...(tags.get(msgid) ?? [])];
        assert.equal(t.length, 1, `${msgid}: one tag`);
        const [s, i] = (t[0] ?? "").split(":").map(Number) as [number, number];
        const want = messageFor(s, i);
        assert.equal(counts.get(msgid), want.rcpts, `${msgid}: all envelopes`);
        assert.ok((await readAll(await q.openMessage(msgid))).equals(want.body), `${msgid}: bytes`);
        const files = readdirSync(join(spool, "queue", msgid.slice(0, 2), msgid));
        assert.equal(files.length, want.rcpts + 1, `${msgid}: no stray files`);
      }
      for (const [msgid, tag] of expected) {
        assert.ok(ids.includes(msgid), `acknowledged ${msgid} (${tag}) lost in round ${round}`);
        assert.deepEqual([...(tags.get(msgid) ?? [])], [tag]);
      }
      assert.deepEqual(readdirSync(join(spool, "quarantine")), []);
    }
  });
}
