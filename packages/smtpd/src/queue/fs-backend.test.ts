import assert from "node:assert/strict";
import { createDecipheriv, randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { QueueDataError } from "./codec.js";
import { DirSyncer } from "./dir-sync.js";
import type { Envelope } from "./envelope.js";
import { makeEnvelope } from "./envelope.js";
import type { FsQueueOptions, WalkItem } from "./fs-backend.js";
import { FsQueue } from "./fs-backend.js";
import { newEvpid } from "./ids.js";

const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

async function tempSpool(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "facteur-queue-"));
  roots.push(d);
  return join(d, "spool");
}

function env(msgid: string, rcpt: string, over: Partial<Envelope> = {}): Envelope {
  return makeEnvelope({
    id: newEvpid(msgid),
    dispatcher: "relay",
    type: "mta",
    rcpt,
    dest: rcpt,
    sender: "alice@example.com",
    sockaddr: "127.0.0.1",
    ctime: 1700000000,
    ttl: 345600,
    ...over,
  });
}

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function collect(it: AsyncIterable<WalkItem>): Promise<WalkItem[]> {
  const out: WalkItem[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Commits one message written in several chunks; returns its id, bytes and envelopes. */
async function commitOne(q: FsQueue, size: number, rcpts = 2) {
  const tx = await q.beginMessage();
  const body = randomBytes(size);
  for (let off = 0; off < size; off += 7000) await tx.write(body.subarray(off, off + 7000));
  const envs: Envelope[] = [];
  for (let i = 0; i < rcpts; i++) {
    const e = env(tx.msgid, `r${i}@example.org`);
    envs.push(e);
    await tx.addEnvelope(e);
  }
  await tx.commit();
  return { msgid: tx.msgid, body, envs };
}

const KEY = randomBytes(32);
const CONFIGS: [string, FsQueueOptions][] = [
  ["plain", {}],
  ["compressed", { compress: true }],
  ["encrypted", { key: KEY }],
  ["compressed+encrypted", { compress: true, key: KEY }],
];

for (const [name, opts] of CONFIGS) {
  test(`commit, reopen, walk: byte-exact (${name})`, async () => {
    const spool = await tempSpool();
    const q = await FsQueue.open(spool, opts);
    const sent = [];
    for (const size of [0, 1, 5000, 200_000]) sent.push(await commitOne(q, size, 1 + (size % 3)));
    // Concurrent commits (group commit path).
    sent.push(...(await Promise.all(Array.from({ length: 8 }, () => commitOne(q, 3000)))));

    const q2 = await FsQueue.open(spool, opts);
    const items = await collect(q2.walk());
    assert.ok(
      items.every((i) => i.ok),
      JSON.stringify(items.filter((i) => !i.ok)),
    );
    const found = new Map(items.map((i) => (i.ok ? [i.evpid, i.envelope] : ["", undefined])));
    assert.deepEqual((await q2.messageIds()).sort(), sent.map((s) => s.msgid).sort());
    for (const s of sent) {
      assert.ok(existsSync(join(spool, "queue", s.msgid.slice(0, 2), s.msgid, "message")));
      assert.deepEqual(await readAll(await q2.openMessage(s.msgid)), s.body);
      for (const e of s.envs) assert.deepEqual(found.get(e.id), e);
      assert.deepEqual(await q2.envelopeIds(s.msgid), s.envs.map((e) => e.id).sort());
    }
    assert.deepEqual(readdirSync(join(spool, "incoming")), []);
    assert.deepEqual(readdirSync(join(spool, "temporary")), []);
  });
}

test("spool directories and modes", async () => {
  const spool = await tempSpool();
  await FsQueue.open(spool);
  const mode = (p: string) => statSync(join(spool, p)).mode & 0o777;
  assert.equal(mode(""), 0o711);
  for (const d of ["incoming", "temporary", "queue", "purge", "quarantine"])
    assert.equal(mode(d), 0o700, d);
  assert.equal(mode("offline"), 0o770);
  assert.equal(existsSync(join(spool, "corrupt")), false);
});

test("encryption framing: 0x01 | IV | AES-256-GCM | tag, gzip inside", async () => {
  const spool = await tempSpool();
  const q = await FsQueue.open(spool, { compress: true, key: KEY });
  const s = await commitOne(q, 10_000, 1);
  const dir = join(spool, "queue", s.msgid.slice(0, 2), s.msgid);
  for (const file of ["message", s.envs[0]!.id]) {
    const raw = await readFile(join(dir, file));
    assert.equal(raw[0], 0x01);
    const d = createDecipheriv("aes-256-gcm", KEY, raw.subarray(1, 13));
    d.setAuthTag(raw.subarray(raw.length - 16));
    const plain = Buffer.concat([d.update(raw.subarray(13, raw.length - 16)), d.final()]);
    assert.deepEqual([plain[0], plain[1]], [0x1f, 0x8b]);
    const inner = gunzipSync(plain);
    if (file === "message") assert.deepEqual(inner, s.body);
    else assert.match(inner.toString(), /^version: 3\n/);
  }
});

test("uncommitted and rolled-back transactions vanish at reopen", async () => {
  const spool = await tempSpool();
  const q = await FsQueue.open(spool, { compress: true });
  const kept = await commitOne(q, 100);
  const open = await q.beginMessage();
  await open.write(Buffer.from("half a message"));
  await open.addEnvelope(env(open.msgid, "x@example.org"));
  const rolled = await q.beginMessage();
  await rolled.write(Buffer.from("data"));
  await rolled.addEnvelope(env(rolled.msgid, "y@example.org"));
  await rolled.rollback();
  await rolled.rollback(); // idempotent
  assert.equal(existsSync(join(spool, "incoming", rolled.msgid)), false);
  assert.equal(existsSync(join(spool, "temporary", rolled.msgid)), false);
  await assert.rejects(rolled.commit(), /rolledback/);

  const q2 = await FsQueue.open(spool, { compress: true });
  assert.deepEqual(await q2.messageIds(), [kept.msgid]);
  assert.deepEqual(readdirSync(join(spool, "incoming")), []);
  assert.deepEqual(readdirSync(join(spool, "temporary")), []);
  assert.deepEqual(readdirSync(join(spool, "purge")), []);
  await open.rollback(); // only closes the file handle: its files were purged at reopen
});

test("commit needs an envelope; envelopes must belong to the message", async () => {
  const q = await FsQueue.open(await tempSpool());
  const tx = await q.beginMessage();
  await tx.write(Buffer.from("x"));
  await assert.rejects(tx.commit(), /no envelopes/);
  await assert.rejects(tx.addEnvelope(env("12345678", "a@b")), /not for message/);
  const e = env(tx.msgid, "a@b");
  await tx.addEnvelope(e);
  await assert.rejects(tx.addEnvelope(e), /duplicate/);
  await tx.commit();
  await assert.rejects(tx.write(Buffer.from("more")), /committed/);
  await tx.rollback(); // no-op after commit
  assert.deepEqual(await q.messageIds(), [tx.msgid]);
});

test("an injected envelope is refused and never written", async () => {
  const spool = await tempSpool();
  const q = await FsQueue.open(spool);
  const tx = await q.beginMessage();
  const bad = env(tx.msgid, "bob@example.org", { sender: "a\nmda-exec: /bin/sh" });
  await assert.rejects(tx.addEnvelope(bad), /refused: sender/);
  assert.deepEqual(readdirSync(join(spool, "incoming", tx.msgid)), []);
  await tx.rollback();
});

test("a corrupted envelope is quarantined and reported; the others load", async () => {
  const spool = await tempSpool();
  const q = await FsQueue.open(spool);
  const a = await commitOne(q, 100, 2);
  const b = await commitOne(q, 100, 1);
  const dir = join(spool, "queue", a.msgid.slice(0, 2), a.msgid);
  const victim = a.envs[0]!.id;
  await writeFile(join(dir, victim), "version: 3\ngarbage\n");
  await writeFile(join(dir, "stray"), "x");

  const q2 = await FsQueue.open(spool);
  const items = await collect(q2.walk());
  const bad = items.filter((i) => !i.ok);
  assert.equal(bad.length, 2, JSON.stringify(bad));
  assert.ok(
    bad.some((i) => !i.ok && i.path.endsWith(victim) && /not a "key: value" line/.test(i.error)),
  );
  const good = items.flatMap((i) => (i.ok ? [i.evpid] : [])).sort();
  assert.deepEqual(good, [a.envs[1]!.id, b.envs[0]!.id].sort());
  const qdir = join(spool, "quarantine", a.msgid);
  assert.ok(existsSync(join(qdir, victim)));
  assert.ok(existsSync(join(qdir, "message")), "the message stays reachable from quarantine");
  assert.ok(existsSync(join(qdir, "stray")));
  // A second walk is clean.
  assert.ok((await collect(q2.walk())).every((i) => i.ok));
});

test("a message directory without its message file is quarantined", async () => {
  const spool = await tempSpool();
  const q = await FsQueue.open(spool);
  const a = await commitOne(q, 100, 1);
  await rm(join(spool, "queue", a.msgid.slice(0, 2), a.msgid, "message"));
  const items = await collect((await FsQueue.open(spool)).walk());
  assert.equal(items.length, 1);
  assert.ok(!items[0]!.ok && /message file missing/.test(items[0]!.error));
  assert.equal(readdirSync(join(spool, "quarantine")).length, 1);
});

test("wrong key, missing key, corrupt data: clear errors, never garbage", async () => {
  const spool = await tempSpool();
  const q = await FsQueue.open(spool, { key: KEY });
  const s = await commitOne(q, 5000, 1);

  const wrong = await FsQueue.open(spool, { key: randomBytes(32) });
  const items = await collect(wrong.walk());
  assert.equal(items.length, 1);
  assert.ok(!items[0]!.ok && /wrong queue key/.test(items[0]!.error));
  await assert.rejects(
    wrong.openMessage(s.msgid),
    (err: unknown) =>
      err instanceof QueueDataError &&
      /decryption failed \(wrong queue key or corrupt file\)/.test(err.message),
  );
  // Not quarantined: a wrong key must not move the queue away.
  assert.deepEqual(readdirSync(join(spool, "quarantine")), []);

  const none = await FsQueue.open(spool);
  const n = await collect(none.walk());
  assert.ok(!n[0]!.ok && /encrypted but no queue key/.test(n[0]!.error));

  const right = await FsQueue.open(spool, { key: KEY });
  assert.deepEqual(await readAll(await right.openMessage(s.msgid)), s.body);
  // Flip one ciphertext byte: the tag check fails.
  const mpath = join(spool, "queue", s.msgid.slice(0, 2), s.msgid, "message");
  const raw = await readFile(mpath);
  raw[20] = raw[20]! ^ 0xff;
  await writeFile(mpath, raw);
  await assert.rejects(right.openMessage(s.msgid), /decryption failed/);

  await assert.rejects(FsQueue.open(spool, { key: randomBytes(16) }), /32 bytes/);
});

test("a corrupt compressed message is an error, not data", async () => {
  const spool = await tempSpool();
  const q = await FsQueue.open(spool, { compress: true });
  const s = await commitOne(q, 50_000, 1);
  const mpath = join(spool, "queue", s.msgid.slice(0, 2), s.msgid, "message");
  const raw = await readFile(mpath);
  await writeFile(mpath, raw.subarray(0, raw.length - 100));
  await assert.rejects(q.openMessage(s.msgid), /corrupt compressed data/);
  const plainQ = await FsQueue.open(spool);
  assert.deepEqual(
    await readAll(await plainQ.openMessage(s.msgid)),
    raw.subarray(0, raw.length - 100),
  );
});

test("update, create, load and remove envelopes", async () => {
  const spool = await tempSpool();
  const q = await FsQueue.open(spool, { key: KEY });
  const s = await commitOne(q, 100, 2);
  const [e0, e1] = s.envs as [Envelope, Envelope];

  const updated = { ...e0, retry: 3, lastTry: 1700000500, errorline: "451 4.7.1 greylisted" };
  assert.equal(await q.updateEnvelope(updated), true);
  const l = await q.loadEnvelope(e0.id);
  assert.ok(l.ok);
  assert.deepEqual(l.envelope, updated);
  assert.deepEqual(readdirSync(join(spool, "incoming")), []);
  assert.match((await q.envelopeText(e0.id)) ?? "", /errorline: 451 4\.7\.1 greylisted\n/);

  const bounce = env(s.msgid, "alice@example.com", {
    type: "bounce",
    bounceType: "failed",
    flags: { authenticated: false, bounce: true, internal: false },
  });
  assert.equal(await q.createEnvelope(bounce), true);
  await assert.rejects(q.updateEnvelope({ ...e0, rcpt: "x\ny" }), /refused/);

  assert.equal(await q.removeEnvelope(e0.id), true);
  assert.equal(await q.removeEnvelope(e0.id), false);
  assert.equal(await q.updateEnvelope(updated), false, "a removed envelope is not resurrected");
  assert.equal((await q.loadEnvelope(e0.id)).ok, false);
  assert.equal(await q.removeEnvelope(e1.id), true);
  assert.deepEqual(await q.messageIds(), [s.msgid]);
  assert.equal(await q.removeEnvelope(bounce.id), true);
  assert.deepEqual(await q.messageIds(), []);
  assert.equal(await q.createEnvelope(bounce), false);
  await assert.rejects(q.openMessage(s.msgid), /ENOENT/);

  const t = await commitOne(q, 10, 3);
  assert.equal(await q.removeMessage(t.msgid), true);
  assert.deepEqual(await q.messageIds(), []);
  assert.deepEqual(readdirSync(join(spool, "purge")), []);
});

test("an orphan message directory (crash during removal) is cleaned up", async () => {
  const spool = await tempSpool();
  const q = await FsQueue.open(spool);
  const s = await commitOne(q, 10, 1);
  await rm(join(spool, "queue", s.msgid.slice(0, 2), s.msgid, s.envs[0]!.id));
  assert.deepEqual(await collect(q.walk()), []);
  assert.deepEqual(await q.messageIds(), []);
});

test("group commit: concurrent syncs share one fsync; a late one gets its own", async () => {
  const dir = await tempSpool();
  const { mkdir } = await import("node:fs/promises");
  await mkdir(dir, { recursive: true });
  const s = new DirSyncer(true);
  await Promise.all(Array.from({ length: 20 }, () => s.sync(dir)));
  assert.equal(s.count, 1);
  const first = s.sync(dir);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const late = s.sync(dir); // may arrive while the first fsync runs
  await Promise.all([first, late]);
  assert.equal(s.count, 3);
  const off = new DirSyncer(false);
  await Promise.all([off.sync(dir), off.sync(dir)]);
  assert.equal(off.count, 2);
});

test("writes not awaited one by one still land in order", async () => {
  for (const opts of [{}, { compress: true, key: KEY }]) {
    const q = await FsQueue.open(await tempSpool(), opts);
    const tx = await q.beginMessage();
    const parts = Array.from({ length: 50 }, (_, i) =>
      Buffer.from(`line ${i} ${"x".repeat(i * 37)}\r\n`),
    );
    const writes = parts.map((p) => tx.write(p));
    await tx.addEnvelope(env(tx.msgid, "ümlaut@exämple.org", { smtputf8: true }));
    await Promise.all(writes);
    await tx.commit();
    assert.deepEqual(await readAll(await q.openMessage(tx.msgid)), Buffer.concat(parts));
    const items = await collect(q.walk());
    assert.ok(
      items[0]?.ok && items[0].envelope.rcpt === "ümlaut@exämple.org" && items[0].envelope.smtputf8,
    );
  }
});

test("read-only open: reports, never purges, quarantines or writes", async () => {
  const spool = await tempSpool();
  await assert.rejects(FsQueue.open(spool, { readOnly: true }), /no queue/);
  const q = await FsQueue.open(spool);
  const a = await commitOne(q, 100, 2);
  const pending = await q.beginMessage();
  await pending.write(Buffer.from("in progress"));
  const dir = join(spool, "queue", a.msgid.slice(0, 2), a.msgid);
  await writeFile(join(dir, a.envs[0]!.id), "junk");

  const ro = await FsQueue.open(spool, { readOnly: true });
  assert.ok(
    existsSync(join(spool, "temporary", pending.msgid)),
    "a running daemon's data is untouched",
  );
  const items = await collect(ro.walk());
  assert.equal(items.filter((i) => i.ok).length, 1);
  assert.equal(items.filter((i) => !i.ok).length, 1);
  assert.ok(existsSync(join(dir, a.envs[0]!.id)), "left in place");
  await assert.rejects(ro.beginMessage(), /read-only/);
  await assert.rejects(ro.removeEnvelope(a.envs[1]!.id), /read-only/);
  await pending.rollback();
});
