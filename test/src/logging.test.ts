// The session log lines in OpenSMTPD's format, which log watchers (fail2ban's opensmtpd
// filter, logwatch) parse: connected, failed-command, authentication, message, envelope,
// disconnected, each starting with the session id; no client byte reaches the log raw.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Daemon, freePort, startDaemon } from "./harness.js";
import { SmtpClient } from "./smtp-client.js";

let d: Daemon;
let port = 0;

before(async () => {
  port = await freePort();
  const closed = await freePort();
  d = await startDaemon(
    [
      `listen on 127.0.0.1 port ${port} hostname mx.test`,
      `action "hold" lmtp "127.0.0.1:${closed}" user nobody`,
      'match from any for domain "ok.test" action "hold"',
      "",
    ].join("\n"),
  );
});

after(async () => {
  assert.equal(await d.stop(), 0, d.log());
});

async function until(what: string, f: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}\n${d.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("one session, as OpenSMTPD logs it", async () => {
  const c = await SmtpClient.open(port);
  await c.reply();
  await c.command("EHLO client.test");
  await c.command("MAIL FROM:<a@client.test>");
  assert.equal((await c.command("RCPT TO:<x@elsewhere.test>")).code, 550);
  assert.equal((await c.command("RCPT TO:<y@ok.test>")).code, 250);
  assert.equal((await c.command("DATA")).code, 354);
  const done = await c.command("Subject: log\r\n\r\nhi\r\n.");
  const msgid = /^250 2\.0\.0 ([0-9a-f]{8}) /.exec(done.text)![1]!;
  await c.command("BOGUS \u0001\u00ff");
  await c.command("QUIT");
  c.close();
  await until("disconnect line", () => / smtp disconnected reason=quit\n/.test(d.log()));
  const lines = d.log().split("\n");
  const connected = lines.find((l) => / smtp connected address=127\.0\.0\.1 host=/.test(l));
  assert.ok(connected, d.log());
  const sid = /([0-9a-f]{16}) smtp connected/.exec(connected)![1]!;
  const mine = lines.filter((l) => l.includes(`${sid} smtp `)).map((l) => l.slice(l.indexOf(sid)));
  assert.deepEqual(
    mine.map((l) => l.replace(/evpid=[0-9a-f]{16}/, "evpid=E").replace(/host=\S+/, "host=H")),
    [
      `${sid} smtp connected address=127.0.0.1 host=H`,
      `${sid} smtp failed-command command="RCPT TO:<x@elsewhere.test>" result="550 5.7.1 Invalid recipient: <x@elsewhere.test>"`,
      `${sid} smtp message msgid=${msgid} size=20 nrcpt=1 proto=ESMTP`,
      `${sid} smtp envelope evpid=E from=<a@client.test> to=<y@ok.test>`,
      `${sid} smtp failed-command command="<unprintable>" result="500 5.5.2 Invalid command: Invalid characters in command line"`,
      `${sid} smtp disconnected reason=quit`,
    ],
  );
  const envelope = mine.find((l) => l.includes("smtp envelope"))!;
  const evpid = /evpid=([0-9a-f]{16})/.exec(envelope)![1]!;
  assert.ok(evpid.startsWith(msgid), "the envelope id is the queued one");
});

test("failed authentication is logged without the password", async () => {
  const c = await SmtpClient.open(port);
  await c.reply();
  await c.command("EHLO client.test");
  const r = await c.command(`AUTH PLAIN ${Buffer.from("\0bob\0hunter2").toString("base64")}`);
  assert.equal(r.code >= 500, true, r.text);
  await c.command("QUIT");
  c.close();
  await until("auth failure line", () =>
    /smtp failed-command command="AUTH PLAIN \(\.\.\.\)"/.test(d.log()),
  );
  assert.ok(!d.log().includes("hunter2"));
  assert.ok(!d.log().includes(Buffer.from("\0bob\0hunter2").toString("base64")));
});
