// smtpctl against a running daemon: queue inspection and control (show message, pause and
// resume of envelopes, schedule, remove), pause/resume of smtp and mda, log levels, and
// configuration reload by `smtpctl reload` and SIGHUP (a valid change applies without
// dropping a session; an invalid one is refused with its error and the daemon keeps serving).
import assert from "node:assert/strict";
import {
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Daemon, freePort, startDaemon } from "./harness.js";
import { SmtpClient } from "./smtp-client.js";

let d: Daemon;
let port = 0;
let closed = 0;
let root = "";

/** Mail for the listed domains goes to an LMTP port where nothing listens: it stays queued. */
const config = (domains: string[], extra = "") =>
  [
    `listen on 127.0.0.1 port ${port} hostname mx.test`,
    `action "hold" lmtp "127.0.0.1:${closed}" user nobody`,
    ...domains.map((dom) => `match from any for domain "${dom}" action "hold"`),
    extra,
    "",
  ].join("\n");

async function session(): Promise<SmtpClient> {
  const c = await SmtpClient.open(port);
  assert.equal((await c.reply()).code, 220);
  assert.equal((await c.command("EHLO client.test")).code, 250);
  return c;
}

async function sendOne(rcpt: string): Promise<string> {
  const c = await session();
  assert.equal((await c.command("MAIL FROM:<a@client.test>")).code, 250);
  const r = await c.command(`RCPT TO:<${rcpt}>`);
  assert.equal(r.code, 250, r.text);
  assert.equal((await c.command("DATA")).code, 354);
  const done = await c.command(`Subject: ctl\r\n\r\nbody for ${rcpt}\r\n.`);
  await c.command("QUIT");
  c.close();
  const msgid = /^250 2\.0\.0 ([0-9a-f]{8}) /.exec(done.text)?.[1];
  assert.ok(msgid, done.text);
  return msgid;
}

const ctl = (...args: string[]) => d.smtpctl(...args);

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}\n${d.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  port = await freePort();
  closed = await freePort();
  // Our own root, kept after stop() so the spool can be read without the daemon.
  root = mkdtempSync(join(tmpdir(), "facteur-ctl-"));
  d = await startDaemon(config(["a.test"]), { root });
});

after(async () => {
  assert.equal(await d.stop(), 0, d.log());
  rmSync(root, { recursive: true, force: true });
});

test("show message, pause/resume envelope, schedule, remove", async () => {
  const msgid = await sendOne("x@a.test");
  const q = ctl("show", "queue");
  assert.equal(q.code, 0, q.err);
  const line = q.out.split("\n").find((l) => l.startsWith(msgid));
  assert.ok(line, q.out);
  const m = ctl("show", "message", msgid);
  assert.equal(m.code, 0, m.err);
  assert.match(m.out, /\r\n\r\nbody for x@a\.test\r\n$/);
  assert.equal(ctl("pause", "envelope", msgid).out, "1 envelope paused\n");
  assert.equal(ctl("resume", "envelope", msgid).out, "1 envelope resumed\n");
  assert.equal(ctl("sch", msgid).out, "1 envelope scheduled\n");
  const missing = ctl("remove", "0123456789abcdef");
  assert.equal(missing.code, 1);
  await until("envelope not in flight", () => ctl("remove", msgid).out === "1 envelope removed\n");
  assert.ok(!ctl("show", "queue").out.includes(msgid));
  assert.equal(ctl("show", "message", msgid).code, 1);
});

test("pause and resume smtp and mda", async () => {
  assert.equal(ctl("pause", "smtp").out, "command succeeded\n");
  assert.equal(ctl("pause", "mda").out, "command succeeded\n");
  assert.equal(ctl("show", "status").out, "MDA paused\nMTA running\nSMTP paused\n");
  const c = await SmtpClient.open(port);
  assert.equal((await c.reply()).text, "421 4.3.2 Service temporarily unavailable");
  c.close();
  assert.equal(ctl("resume", "smtp").code, 0);
  assert.equal(ctl("resume", "mda").code, 0);
  assert.equal(ctl("show", "status").out, "MDA running\nMTA running\nSMTP running\n");
  assert.deepEqual(JSON.parse(ctl("show", "status", "--json").out), {
    mda: "running",
    mta: "running",
    smtp: "running",
  });
  const stats = JSON.parse(ctl("show", "stats", "--json").out) as Record<string, unknown>;
  assert.equal(typeof stats.uptime, "number");
  assert.ok((stats["smtp.session"] as number) >= 1);
  (await session()).close();
  assert.equal(ctl("log", "verbose").code, 0);
  assert.equal(ctl("log", "brief").code, 0);
});

test("a valid reload applies to new sessions without dropping one in progress", async () => {
  const open = await session();
  assert.equal((await open.command("MAIL FROM:<a@client.test>")).code, 250);
  writeFileSync(
    join(d.root, "smtpd.conf"),
    config(["a.test", "b.test"], "smtp max-message-size 20M"),
  );
  const r = ctl("reload");
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, "configuration reloaded\n");
  // The session that was open goes on.
  assert.equal((await open.command("RCPT TO:<y@a.test>")).code, 250);
  assert.equal((await open.command("DATA")).code, 354);
  assert.equal((await open.command("Subject: s\r\n\r\nx\r\n.")).code, 250);
  open.close();
  await sendOne("z@b.test");
  // New sessions see the new limits.
  const fresh = await SmtpClient.open(port);
  await fresh.reply();
  assert.match((await fresh.command("EHLO client.test")).text, /SIZE 20971520/);
  fresh.close();
});

test("an invalid reload is refused with the error and the daemon keeps serving", async () => {
  writeFileSync(
    join(d.root, "smtpd.conf"),
    `${config(["a.test", "b.test"])}match for domain "c.test" action "nosuch"\n`,
  );
  const r = ctl("reload");
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /reload refused, the running configuration stays:\n.*smtpd\.conf:\d+: no such dispatcher: nosuch/,
  );
  await sendOne("still@b.test");
  const c = await session();
  await c.command("MAIL FROM:<a@client.test>");
  assert.equal((await c.command("RCPT TO:<q@c.test>")).code, 550);
  c.close();
});

test("SIGHUP reloads too", async () => {
  writeFileSync(join(d.root, "smtpd.conf"), config(["a.test", "b.test", "d.test"]));
  d.proc.kill("SIGHUP");
  await until(
    "reload by SIGHUP",
    () =>
      d.log().includes("configuration reloaded\n") &&
      d.log().split("configuration reloaded").length >= 3,
  );
  await sendOne("w@d.test");
});

test("update table re-reads one table; an invalid file leaves it as it was", async () => {
  const rcpts = join(root, "rcpts");
  writeFileSync(rcpts, "one@t.test\n");
  writeFileSync(
    join(root, "smtpd.conf"),
    config(
      ["a.test", "b.test", "d.test"],
      `table rcpts file:${rcpts}\nmatch from any for rcpt-to <rcpts> action "hold"`,
    ),
  );
  assert.equal(ctl("reload").code, 0);
  const rcptCode = async (rcpt: string) => {
    const c = await session();
    await c.command("MAIL FROM:<a@client.test>");
    const r = await c.command(`RCPT TO:<${rcpt}>`);
    c.close();
    return r.code;
  };
  assert.equal(await rcptCode("one@t.test"), 250);
  assert.equal(await rcptCode("two@t.test"), 550);
  writeFileSync(rcpts, "one@t.test\ntwo@t.test\n");
  assert.equal(await rcptCode("two@t.test"), 550, "not before the update");
  const u = ctl("update", "table", "rcpts");
  assert.equal(u.code, 0, u.err);
  assert.equal(u.out, "command succeeded\n");
  assert.equal(await rcptCode("two@t.test"), 250);
  writeFileSync(rcpts, "one@t.test\nthree@t.test x\n");
  const bad = ctl("update", "table", "rcpts");
  assert.equal(bad.code, 1);
  assert.match(bad.err, /table rcpts not updated: .*rcpts:2: /);
  assert.equal(await rcptCode("two@t.test"), 250);
  assert.equal(ctl("update", "table", "nosuch").code, 1);
});

test("discover loads envelopes copied into the queue by hand", async () => {
  const msgid = await sendOne("copy@a.test");
  const src = join(root, "spool", "queue", msgid.slice(0, 2), msgid);
  const evpid = readdirSync(src).find((f) => f !== "message")!;
  const newId = (Number.parseInt(msgid, 16) ^ 0xffffffff) >>> 0;
  const copy = newId.toString(16).padStart(8, "0");
  const bucket = join(root, "spool", "queue", copy.slice(0, 2));
  const dst = join(bucket, copy);
  const st = statSync(src);
  mkdirSync(dst, { recursive: true, mode: 0o700 });
  copyFileSync(join(src, "message"), join(dst, "message"));
  copyFileSync(join(src, evpid), join(dst, `${copy}${evpid.slice(8)}`));
  for (const p of [bucket, dst, join(dst, "message"), join(dst, `${copy}${evpid.slice(8)}`)])
    chownSync(p, st.uid, st.gid);
  assert.equal(ctl("discover", copy).out, "1 envelope discovered\n");
  assert.ok(ctl("show", "queue").out.includes(`${copy}${evpid.slice(8)}|`));
  assert.equal(ctl("discover", copy).out, "0 envelopes discovered\n");
  await until("not in flight", () => ctl("remove", copy).out === "1 envelope removed\n");
});

test("show queue filters and --json", async () => {
  const json = ctl("show", "queue", "--rcpt", "z@b.test", "--json");
  assert.equal(json.code, 0, json.err);
  const rows = JSON.parse(json.out) as { rcpt: string; type: string; sender: string }[];
  assert.equal(rows.length, 1, json.out);
  assert.equal(rows[0]!.rcpt, "z@b.test");
  assert.equal(rows[0]!.sender, "a@client.test");
  assert.equal(rows[0]!.type, "mda");
  const dom = ctl("show", "queue", "--domain", "b.test");
  assert.equal(dom.out.trim().split("\n").length, 2, dom.out);
  assert.ok(dom.out.split("\n").every((l) => l === "" || l.includes("@b.test|")));
  assert.equal(ctl("show", "queue", "--older-than", "1h").out, "");
  await until("an attempt has failed", () =>
    ctl("show", "queue", "--error", "cannot connect to lmtp").out.includes("z@b.test"),
  );
  assert.equal(ctl("show", "queue", "--older-than", "bogus").code, 1);
});

test("show queue reads the spool when the daemon is not running", async () => {
  const online = ctl("show", "queue").out.trim().split("\n");
  assert.equal(await d.stop(), 0, d.log());
  const offline = ctl("show", "queue");
  assert.equal(offline.code, 0, offline.err);
  const lines = offline.out.trim().split("\n");
  assert.equal(lines.length, online.length);
  for (const l of lines) assert.equal(l.split("|")[11], "offline", l);
  assert.deepEqual(
    lines.map((l) => l.split("|")[0]).sort(),
    online.map((l) => l.split("|")[0]).sort(),
  );
});
