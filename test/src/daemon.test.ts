// The real daemon on loopback: starts, answers smtpctl, accepts mail into its queue from
// raw sockets, swaks and Python's smtplib, refuses relaying, stops cleanly on SIGTERM.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Daemon, freePort, startDaemon } from "./harness.js";
import { SmtpClient } from "./smtp-client.js";

let d: Daemon;
let port = 0;

before(async () => {
  port = await freePort();
  // Deliveries go to an LMTP port where nothing listens: every message stays queued, so the
  // queue can be inspected (delivery itself is tested in delivery.test.ts).
  const closed = await freePort();
  d = await startDaemon(
    [
      `listen on 127.0.0.1 port ${port} hostname mx.test`,
      `action "local" lmtp "127.0.0.1:${closed}" user nobody`,
      'action "relay" relay',
      'match from any for domain "example.test" action "local"',
      'match from local for any action "relay"',
      "",
    ].join("\n"),
  );
});

after(async () => {
  const code = await d.stop();
  assert.equal(code, 0, d.log());
});

test("smtpctl show status answers over the control socket", () => {
  const r = d.smtpctl("show", "status");
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, "MDA running\nMTA running\nSMTP running\n");
});

test("a message sent over a raw socket is committed to the queue before 250", async () => {
  const c = await SmtpClient.open(port);
  assert.match((await c.reply()).text, /^220 mx\.test ESMTP/);
  const ehlo = await c.command("EHLO client.test");
  assert.equal(ehlo.code, 250);
  assert.match(ehlo.text, /PIPELINING/);
  assert.equal((await c.command("MAIL FROM:<alice@client.test>")).code, 250);
  assert.equal((await c.command("RCPT TO:<bob@example.test>")).code, 250);
  assert.equal((await c.command("DATA")).code, 354);
  const done = await c.command("Subject: hi\r\n\r\nhello\r\n.");
  assert.equal(done.code, 250);
  const msgid = /^250 2\.0\.0 ([0-9a-f]{8}) Message accepted for delivery$/.exec(done.text)?.[1];
  assert.ok(msgid, done.text);
  assert.equal((await c.command("QUIT")).code, 221);
  c.close();
  // The message and its envelope are in queue/<bucket>/<msgid>/ already.
  const dir = join(d.root, "spool", "queue", msgid.slice(0, 2), msgid);
  assert.ok(existsSync(join(dir, "message")), `no ${dir}/message`);
  assert.equal(readdirSync(dir).length, 2);
  const q = d.smtpctl("show", "queue");
  assert.equal(q.code, 0, q.err);
  const line = q.out.split("\n").find((l) => l.startsWith(msgid));
  assert.ok(line, q.out);
  assert.match(line, /\|inet4\|mda\|\|alice@client\.test\|bob@example\.test\|bob@example\.test\|/);
  const evpid = line.split("|")[0]!;
  const env = d.smtpctl("show", "envelope", evpid);
  assert.equal(env.code, 0, env.err);
  assert.match(env.out, /^version: 3$/m);
  assert.match(env.out, /^dispatcher: local$/m);
  assert.match(env.out, /^rcpt: bob@example\.test$/m);
});

test("relaying is refused for a remote client and allowed for a local one", async () => {
  // 127.0.0.2 is loopback but not an address of this host's interfaces: not `from local`.
  const remote = await SmtpClient.open(port, "127.0.0.1", "127.0.0.2");
  await remote.reply();
  await remote.command("EHLO client.test");
  await remote.command("MAIL FROM:<alice@client.test>");
  const denied = await remote.command("RCPT TO:<someone@elsewhere.test>");
  assert.equal(denied.text, "550 5.7.1 Invalid recipient: <someone@elsewhere.test>");
  const ours = await remote.command("RCPT TO:<bob@example.test>");
  assert.equal(ours.code, 250, ours.text);
  remote.close();
  const local = await SmtpClient.open(port);
  await local.reply();
  await local.command("EHLO client.test");
  await local.command("MAIL FROM:<alice@client.test>");
  assert.equal((await local.command("RCPT TO:<someone@elsewhere.test>")).code, 250);
  local.close();
});

test("swaks delivers a message", () => {
  const r = spawnSync(
    "swaks",
    [
      "--server",
      "127.0.0.1",
      "--port",
      String(port),
      "--from",
      "a@client.test",
      "--to",
      "carol@example.test",
      "--helo",
      "swaks.test",
      "--body",
      "from swaks",
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /<- {2}250 2\.0\.0 [0-9a-f]{8} Message accepted for delivery/);
});

test("Python's smtplib delivers a message", () => {
  const py = [
    "import smtplib, sys",
    `s = smtplib.SMTP("127.0.0.1", ${port}, timeout=20)`,
    "s.ehlo('py.test')",
    "r = s.sendmail('p@client.test', ['dave@example.test'], 'Subject: py\\r\\n\\r\\nfrom python\\r\\n')",
    "print('refused', r)",
    "s.quit()",
  ].join("\n");
  const r = spawnSync("python3", ["-c", py], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.trim(), "refused {}");
});
