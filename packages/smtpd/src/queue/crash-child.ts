// Test helper (not shipped behaviour): run by crash.test.ts as a child process that enqueues
// messages until it is killed with SIGKILL. It prints "<msgid> <index>" on stdout only after
// commit() resolved. Messages are derived from (seed, index) so the parent can check them.
// argv: spoolDir seed count concurrency compress(0|1) keyHex|-
import { makeEnvelope } from "./envelope.js";
import { FsQueue } from "./fs-backend.js";
import { newEvpid } from "./ids.js";

/** mulberry32: a small seeded PRNG, shared with the test. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The message body and recipient count of message `index` for `seed`. */
export function messageFor(seed: number, index: number): { body: Buffer; rcpts: number } {
  const r = prng(seed * 100003 + index);
  const size = Math.floor(r() * 60_000);
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i++) body[i] = Math.floor(r() * 256);
  return { body, rcpts: 1 + Math.floor(r() * 3) };
}

async function main(): Promise<void> {
  const [spool, seedS, countS, concS, compS, keyS] = process.argv.slice(2);
  if (spool === undefined || keyS === undefined) throw new Error("usage");
  const seed = Number(seedS);
  const count = Number(countS);
  const q = await FsQueue.open(spool, {
    compress: compS === "1",
    ...(keyS !== "-" ? { key: Buffer.from(keyS, "hex") } : {}),
  });
  process.stdout.write("ready\n");
  const decide = prng(seed ^ 0x5eed);
  let next = 0;
  const abandoned: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const { body, rcpts } = messageFor(seed, index);
      const abandon = decide() < 0.15; // begun, never committed
      const tx = await q.beginMessage();
      for (let off = 0; off < body.length; off += 8192)
        await tx.write(body.subarray(off, off + 8192));
      for (let j = 0; j < rcpts; j++) {
        await tx.addEnvelope(
          makeEnvelope({
            id: newEvpid(tx.msgid),
            dispatcher: "relay",
            type: "mta",
            tag: `${seed}:${index}`,
            rcpt: `r${j}@example.org`,
            dest: `r${j}@example.org`,
            ctime: 1700000000,
            ttl: 3600,
          }),
        );
      }
      if (abandon) {
        abandoned.push(tx); // left open (files stay in incoming/, fds stay open) until the kill
        continue;
      }
      await tx.commit();
      process.stdout.write(`${tx.msgid} ${index}\n`);
    }
  };
  await Promise.all(Array.from({ length: Number(concS) }, worker));
  process.stdout.write("done\n");
}

if (process.argv[1]?.endsWith("crash-child.js") === true) {
  main().catch((err: unknown) => {
    process.stderr.write(`crash-child: ${String(err)}\n`);
    process.exit(1);
  });
}
