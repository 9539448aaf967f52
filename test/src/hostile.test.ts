// Hostile and unusual input against the real daemon: SMTP smuggling end markers, bad paths,
// overlong lines, oversized messages, too many recipients, binary garbage, slow and
// half-closed clients, SMTPUTF8 end to end, and PIPELINING/CHUNKING reply order on a socket.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import { type Daemon, freePort, startDaemon } from "./harness.js";
import { SmtpClient, type SmtpReply } from "./smtp-client.js";
import { queuedMsgids, showQueue, spoolDirEntries, spoolMessage } from "./spool.js";

const MAX_MESSAGE = 100_000;
const MAX_RCPT = 3;

let d: Daemon;
let port = 0;

before(async () => {
  port = await freePort();
  const lmtp = await freePort(); // nothing listens: accepted mail stays queued
  d = await startDaemon(
    [
      `smtp max-message-size ${MAX_MESSAGE}`,
      `smtp limit max-rcpt ${MAX_RCPT}`,
      `listen on 127.0.0.1 port ${port} hostname mx.test`,
      `action "local" lmtp "127.0.0.1:${lmtp}" user nobody`,
      'match from any for domain "example.test" action "local"',
      "",
    ].join("\n"),
  );
});

after(async () => {
  const code = await d?.stop();
  assert.equal(code, 0, d?.log());
});

/** Greeted and EHLO'd; `from` 127.0.0.2 is a remote (not `from local`) client. */
async function hello(from?: string): Promise<SmtpClient> {
  const c = await SmtpClient.open(port, "127.0.0.1", from);
  c.sock.setNoDelay(true);
  assert.equal((await c.reply()).text, "220 mx.test ESMTP Facteur");
  assert.equal((await c.command("EHLO client.test")).code, 250);
  return c;
}

async function replies(c: SmtpClient, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await c.reply()).text);
  return out;
}

const accepted = /^250 2\.0\.0 ([0-9a-f]{8}) Message accepted for delivery$/;
const msgidOf = (r: SmtpReply | string): string => {
  const text = typeof r === "string" ? r : r.text;
  const m = accepted.exec(text);
  assert.ok(m, text);
  return m[1]!;
};

/** The daemon still greets a new client and answers smtpctl. */
async function stillServing(): Promise<void> {
  const c = await hello();
  assert.equal((await c.command("NOOP")).text, "250 2.0.0 Ok");
  c.close();
  assert.equal(d.smtpctl("show", "status").code, 0);
}

async function pollUntil(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const BARE_NEWLINE = "550 5.6.0 Message refused: bare CR or LF in message content";

test("only CRLF.CRLF ends DATA: bare CR/LF end markers never smuggle a second message", async () => {
  const before = queuedMsgids(d);
  const smuggled =
    "MAIL FROM:<spoof@evil.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n" +
    "Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n";
  const variants = ["\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r\n.\r", "\r.\r\n", "\r\n.\r\r\n"];
  const c = await hello();
  for (const end of variants) {
    for (const split of [false, true]) {
      const what = `${JSON.stringify(end)}${split ? " split across reads" : ""}`;
      assert.equal((await c.command("MAIL FROM:<alice@client.test>")).code, 250, what);
      assert.equal((await c.command("RCPT TO:<bob@example.test>")).code, 250, what);
      assert.equal((await c.command("DATA")).code, 354, what);
      const first = `Subject: smuggle\r\n\r\nhello${end}`;
      if (split) {
        c.send(first);
        // Had the server taken the bare marker as the end, it would answer now.
        assert.ok(await c.silentFor(150), `${what}: the bare end marker ended DATA`);
        c.send(smuggled);
      } else c.send(first + smuggled);
      // One message, refused as a whole at the real CRLF.CRLF; the smuggled commands were
      // content, so the next reply is the NOOP's.
      assert.equal((await c.reply()).text, BARE_NEWLINE, what);
      assert.equal((await c.command("NOOP")).text, "250 2.0.0 Ok", what);
    }
  }
  c.close();
  assert.deepEqual(queuedMsgids(d), before);
  assert.ok(!showQueue(d).some((l) => l.rcpt.startsWith("victim@")));
});

test("PIPELINING: replies come in command order, also across a message end", async () => {
  const c = await hello("127.0.0.2");
  c.send("NOOP\r\nVRFY root\r\nEXPN staff\r\nHELP\r\nRSET\r\nFOO\r\n");
  assert.deepEqual(await replies(c, 6), [
    "250 2.0.0 Ok",
    "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery",
    "502 5.5.1 Invalid command: EXPN is disabled",
    "214-2.0.0 This is Facteur\n214 2.0.0 End of HELP info",
    "250 2.0.0 Reset state",
    "500 5.5.1 Invalid command: Command unrecognized",
  ]);
  c.send(
    "MAIL FROM:<alice@client.test>\r\nRCPT TO:<bob@example.test>\r\n" +
      "RCPT TO:<carol@elsewhere.test>\r\nRCPT TO:<dave@example.test>\r\nDATA\r\n",
  );
  assert.deepEqual(await replies(c, 5), [
    "250 2.0.0 Ok",
    "250 2.1.5 Destination address valid: Recipient ok",
    "550 5.7.1 Invalid recipient: <carol@elsewhere.test>",
    "250 2.1.5 Destination address valid: Recipient ok",
    '354 Enter mail, end with "." on a line by itself',
  ]);
  // The end of one message and the next transaction in one packet.
  c.send(
    "Subject: one\r\n\r\n..leading dot\r\n.\r\n" +
      "MAIL FROM:<alice@client.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n",
  );
  const [one, ...rest] = await replies(c, 4);
  const id1 = msgidOf(one!);
  assert.deepEqual(rest, [
    "250 2.0.0 Ok",
    "250 2.1.5 Destination address valid: Recipient ok",
    '354 Enter mail, end with "." on a line by itself',
  ]);
  c.send("Subject: two\r\n\r\ntwo\r\n.\r\nQUIT\r\n");
  const [two, bye] = await replies(c, 2);
  assert.notEqual(msgidOf(two!), id1);
  assert.equal(bye, "221 2.0.0 Bye");
  assert.ok(await c.closedByPeer());
  assert.ok(spoolMessage(d.root, id1).toString().endsWith("Subject: one\r\n\r\n.leading dot\r\n"));
  const rcpts = showQueue(d)
    .filter((l) => l.msgid === id1)
    .map((l) => l.rcpt)
    .sort();
  assert.deepEqual(rcpts, ["bob@example.test", "dave@example.test"]);

  // A client that pipelines past a refused DATA gets its message dropped, not run.
  const r = await hello("127.0.0.2");
  r.send(
    "MAIL FROM:<alice@client.test>\r\nRCPT TO:<carol@elsewhere.test>\r\nDATA\r\n" +
      "MAIL FROM:<spoof@evil.test>\r\nRCPT TO:<victim@example.test>\r\n.\r\n",
  );
  assert.deepEqual(await replies(r, 4), [
    "250 2.0.0 Ok",
    "550 5.7.1 Invalid recipient: <carol@elsewhere.test>",
    "503 5.5.1 Invalid command: No recipient specified",
    "421 4.5.0 Pipelined input after a refused command, closing",
  ]);
  assert.ok(await r.closedByPeer());
  assert.ok(!showQueue(d).some((l) => l.rcpt.startsWith("victim@")));
});

test("MAIL and RCPT: metacharacters, quotes, source routes, 8-bit and overlong paths", async () => {
  const sender = "553 5.1.7 Sender address syntax error";
  const rcpt = "553 5.1.3 Recipient address syntax error";
  const nonAscii = "553 5.6.7 Non-ASCII address requires SMTPUTF8";
  const badChars = "500 5.5.2 Invalid command: Invalid characters in command line";
  const long = (n: number) => "a".repeat(n);
  const c = await hello();
  const cases: [string | Buffer, string][] = [
    ["MAIL FROM:<;sleep 66;>", sender],
    ["MAIL FROM:<a;reboot@client.test>", sender],
    ["MAIL FROM:<$(id)@client.test>", sender],
    ["MAIL FROM:<a\\b@client.test>", sender],
    ['MAIL FROM:<"unterminated@client.test>', sender],
    ["MAIL FROM:alice@client.test", sender],
    ["MAIL FROM:<alice@client.test> <x>", "501 5.5.2 Invalid command: Syntax error"],
    ["MAIL FROM:<jöe@client.test>", nonAscii],
    [`MAIL FROM:<${long(65)}@client.test>`, sender],
    [`MAIL FROM:<${long(64)}@${`${long(60)}.`.repeat(4)}test>`, sender], // path > 256
    [Buffer.from("MAIL FROM:<j\xe9@client.test>", "latin1"), badChars],
    [Buffer.from("MAIL FROM:<a\x00b@client.test>", "latin1"), badChars],
    ["MAIL FROM:<>", "250 2.0.0 Ok"], // the null sender
    ["RCPT TO:<bøb@example.test>", nonAscii],
    ["RCPT TO:<bob@example.test>; rm -rf /", rcpt],
    ["RCPT TO:<bob@exa mple.test>", rcpt],
    ["RCPT TO:<@-bad:bob@example.test>", rcpt],
    [`RCPT TO:<bob@${long(64)}.example.test>`, rcpt],
    ["RCPT TO:<bob@[300.1.1.1]>", rcpt],
    ["RCPT TO:<>", rcpt],
    [Buffer.from("RCPT TO:<bob\r@example.test>", "latin1"), badChars],
    [
      "RCPT TO:<@relay.test,@other.test:bob@example.test>",
      "250 2.1.5 Destination address valid: Recipient ok",
    ],
    ['RCPT TO:<"bob smith"@example.test>', "250 2.1.5 Destination address valid: Recipient ok"],
  ];
  for (const [cmd, want] of cases) {
    c.send(Buffer.concat([Buffer.isBuffer(cmd) ? cmd : Buffer.from(cmd), Buffer.from("\r\n")]));
    assert.equal((await c.reply()).text, want, String(cmd));
  }
  const id = msgidOf(await c.command("DATA").then(() => c.command("Subject: paths\r\n\r\nx\r\n.")));
  const rcpts = showQueue(d)
    .filter((l) => l.msgid === id)
    .map((l) => l.rcpt)
    .sort();
  // The source route is dropped; the quoted local part is kept as it was written.
  assert.deepEqual(rcpts, ['"bob smith"@example.test', "bob@example.test"]);

  // Shell metacharacters that are legal atext are taken as they are, never "fixed up".
  const odd = "we$ird`id`&{x}#~!@client.test";
  assert.equal((await c.command(`MAIL FROM:<${odd}>`)).code, 250);
  assert.equal((await c.command("RCPT TO:<bob@example.test>")).code, 250);
  const oddId = msgidOf(
    await c.command("DATA").then(() => c.command("Subject: odd\r\n\r\nx\r\n.")),
  );
  const evp = showQueue(d).find((l) => l.msgid === oddId);
  assert.ok(evp);
  const env = d.smtpctl("show", "envelope", evp.evpid);
  assert.equal(env.code, 0, env.err);
  assert.ok(env.out.split("\n").includes(`sender: ${odd}`), env.out);
  c.close();
});

test("overlong command lines: 500 5.5.2 and close; the limit itself is accepted", async () => {
  const c = await hello();
  const limit = 16384; // MAX_LINE_OCTETS, CRLF included
  assert.equal((await c.command(`NOOP ${"a".repeat(limit - 7)}`)).text, "250 2.0.0 Ok");
  assert.equal(
    (await c.command(`NOOP ${"a".repeat(limit - 6)}`)).text,
    "500 5.5.2 Invalid command: Line too long",
  );
  assert.ok(await c.closedByPeer());
  // A megabyte without a line end is cut off too, without waiting for the end.
  const m = await hello();
  m.send(Buffer.alloc(1 << 20, 0x41));
  assert.equal((await m.reply()).text, "500 5.5.2 Invalid command: Line too long");
  assert.ok(await m.closedByPeer());
  // A long text line inside a message is content (RFC 5321 §4.5.3.1.6 asks for no limits).
  const t = await hello();
  const line = "y".repeat(5000);
  const id = msgidOf(
    await t.sendMail("a@client.test", ["bob@example.test"], `Subject: l\r\n\r\n${line}\r\n`),
  );
  assert.ok(spoolMessage(d.root, id).toString().endsWith(`\r\n\r\n${line}\r\n`));
  t.close();
  await stillServing();
});

test("oversized messages: SIZE= and the real size against max-message-size", async () => {
  const before = queuedMsgids(d);
  const c = await hello();
  const ehlo = await c.command("EHLO client.test");
  assert.ok(ehlo.lines.includes(`250-SIZE ${MAX_MESSAGE}`), ehlo.text);
  const tooBig = "552 5.3.4 Message too big for system";
  assert.equal((await c.command(`MAIL FROM:<a@client.test> SIZE=${MAX_MESSAGE + 1}`)).text, tooBig);
  assert.equal((await c.command(`MAIL FROM:<a@client.test> SIZE=${MAX_MESSAGE}`)).code, 250);
  assert.equal((await c.command("RCPT TO:<bob@example.test>")).code, 250);
  assert.equal((await c.command("DATA")).code, 354);
  // A lying SIZE does not help: the raw octets are counted.
  c.send(`Subject: big\r\n\r\n${`${"z".repeat(998)}\r\n`.repeat(101)}.\r\n`);
  assert.equal((await c.reply()).text, tooBig);
  // The stream is still in step: BDAT over the limit is read whole and refused.
  assert.equal((await c.command("MAIL FROM:<a@client.test>")).code, 250);
  assert.equal((await c.command("RCPT TO:<bob@example.test>")).code, 250);
  c.send(`BDAT ${MAX_MESSAGE + 1} LAST\r\n`);
  c.send(Buffer.alloc(MAX_MESSAGE + 1, 0x78));
  assert.equal((await c.reply()).text, tooBig);
  assert.equal((await c.command("NOOP")).text, "250 2.0.0 Ok");
  assert.deepEqual(queuedMsgids(d), before);
  // Just under the limit goes through.
  const body = `Subject: fits\r\n\r\n${"f".repeat(MAX_MESSAGE - 1000)}\r\n`;
  msgidOf(await c.sendMail("a@client.test", ["bob@example.test"], body));
  c.close();
});

test("too many recipients: 452 4.5.3 beyond max-rcpt; the message goes to the others", async () => {
  const c = await hello();
  assert.equal((await c.command("MAIL FROM:<a@client.test>")).code, 250);
  for (let i = 1; i <= MAX_RCPT; i++)
    assert.equal((await c.command(`RCPT TO:<r${i}@example.test>`)).code, 250);
  assert.equal(
    (await c.command("RCPT TO:<r9@example.test>")).text,
    "452 4.5.3 Too many recipients",
  );
  assert.equal((await c.command("DATA")).code, 354);
  const id = msgidOf(await c.command("Subject: many\r\n\r\nx\r\n."));
  const rcpts = showQueue(d)
    .filter((l) => l.msgid === id)
    .map((l) => l.rcpt)
    .sort();
  assert.deepEqual(rcpts, ["r1@example.test", "r2@example.test", "r3@example.test"]);
  c.close();
});

test("binary garbage gets 500s, then 421 after too many errors; the daemon goes on", async () => {
  let seed = 0x2545f491;
  const rnd = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const lines: Buffer[] = [];
  for (let i = 0; i < 30; i++) {
    const b = Buffer.alloc(1 + (rnd() % 200));
    for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff || 1;
    lines.push(
      Buffer.from(b.toString("latin1").replaceAll("\n", " "), "latin1"),
      Buffer.from("\r\n"),
    );
  }
  const c = await hello();
  c.send(Buffer.concat(lines));
  // MAX_ERRORS is 20: the twentieth 500 is followed by 421.
  const got = await replies(c, 21);
  for (const r of got.slice(0, 20)) assert.match(r, /^500 5\.5\.[12] /);
  assert.equal(got[20], "421 4.7.0 Too many errors, closing connection");
  assert.ok(await c.closedByPeer());
  // A TLS ClientHello on the plaintext port is just an invalid line.
  const h = await SmtpClient.open(port);
  await h.reply();
  h.send(Buffer.from("16030100c4010000c00303", "hex"));
  h.send(Buffer.alloc(200, 0x00));
  h.send("\r\n");
  assert.equal(
    (await h.reply()).text,
    "500 5.5.2 Invalid command: Invalid characters in command line",
  );
  h.close();
  await stillServing();
});

test("a slow client and half-closed clients do not hold up other sessions", async () => {
  // Slow: a command line dribbled out in pieces, with a whole session served in between.
  const slow = await SmtpClient.open(port);
  await slow.reply();
  const drip = async (text: string) => {
    for (const ch of text) {
      slow.send(ch);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await drip("EHLO slow.cli");
  const fast = await hello();
  msgidOf(await fast.sendMail("a@client.test", ["bob@example.test"], "Subject: fast\r\n\r\nx\r\n"));
  fast.close();
  await drip("ent.test\r\n");
  assert.equal(
    (await slow.reply()).lines[0],
    "250-mx.test Hello slow.client.test [127.0.0.1], pleased to meet you",
  );
  slow.close();

  // Half-closed after the last command: every command is still answered, then close.
  const half = await SmtpClient.open(port);
  await half.reply();
  half.send(
    "EHLO half.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<bob@example.test>\r\nQUIT\r\n",
  );
  half.sock.end();
  const got = await replies(half, 4);
  assert.equal(
    got[0]?.split("\n")[0],
    "250-mx.test Hello half.test [127.0.0.1], pleased to meet you",
  );
  assert.deepEqual(got.slice(1), [
    "250 2.0.0 Ok",
    "250 2.1.5 Destination address valid: Recipient ok",
    "221 2.0.0 Bye",
  ]);
  assert.ok(await half.closedByPeer());

  // Half-closed in the middle of a message: nothing is queued, nothing is left behind.
  const before = queuedMsgids(d);
  const mid = await hello();
  assert.equal((await mid.command("MAIL FROM:<a@client.test>")).code, 250);
  assert.equal((await mid.command("RCPT TO:<bob@example.test>")).code, 250);
  assert.equal((await mid.command("DATA")).code, 354);
  mid.send("Subject: cut\r\n\r\nhalf a message");
  mid.sock.end();
  assert.ok(await mid.closedByPeer());
  assert.equal(mid.unread, "");
  await pollUntil(
    "incoming/ and temporary/ to be empty",
    () =>
      spoolDirEntries(d.root, "incoming").length === 0 &&
      spoolDirEntries(d.root, "temporary").length === 0,
  );
  assert.deepEqual(queuedMsgids(d), before);
  await stillServing();
});

test("SMTPUTF8 addresses are accepted end to end and recorded in the envelope", async () => {
  const c = await hello();
  const ehlo = await c.command("EHLO client.test");
  assert.ok(ehlo.lines.includes("250-SMTPUTF8"), ehlo.text);
  const id = msgidOf(
    await c.sendMail(
      "jöe@client.test",
      ["bøb@example.test"],
      "Subject: héllo\r\n\r\nça va\r\n",
      "SMTPUTF8",
    ),
  );
  const evp = showQueue(d).find((l) => l.msgid === id);
  assert.ok(evp);
  const env = d.smtpctl("show", "envelope", evp.evpid);
  assert.equal(env.code, 0, env.err);
  const lines = env.out.split("\n");
  for (const want of ["sender: jöe@client.test", "rcpt: bøb@example.test", "smtputf8: yes"])
    assert.ok(lines.includes(want), `${want} in\n${env.out}`);
  assert.ok(spoolMessage(d.root, id).toString("utf8").endsWith("Subject: héllo\r\n\r\nça va\r\n"));
  c.close();

  // A real client: Python's smtplib with SMTPUTF8.
  const py = [
    "import smtplib",
    `s = smtplib.SMTP("127.0.0.1", ${port}, timeout=20)`,
    "s.ehlo('py.test')",
    "r = s.sendmail('zoë@client.test', ['jürgen@example.test'], 'Subject: x\\r\\n\\r\\nx\\r\\n'.encode(), mail_options=['SMTPUTF8'])",
    "print('refused', r)",
    "s.quit()",
  ].join("\n");
  const r = spawnSync("python3", ["-c", py], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.trim(), "refused {}");
  assert.ok(
    showQueue(d).some((l) => l.sender === "zoë@client.test" && l.rcpt === "jürgen@example.test"),
  );
});

test("CHUNKING: pipelined BDAT replies in order, exact octets, no framing inside chunks", async () => {
  const c = await hello();
  c.send(
    "MAIL FROM:<a@client.test>\r\nRCPT TO:<bob@example.test>\r\n" +
      "BDAT 12\r\nSubject: x\r\nBDAT 6 LAST\r\n\r\nhi\r\n",
  );
  const got = await replies(c, 4);
  assert.deepEqual(got.slice(0, 3), [
    "250 2.0.0 Ok",
    "250 2.1.5 Destination address valid: Recipient ok",
    "250 2.0.0 12 octets received",
  ]);
  assert.ok(
    spoolMessage(d.root, msgidOf(got[3]!)).toString().endsWith("\r\nSubject: x\r\n\r\nhi\r\n"),
  );

  // A chunk is opaque: a dot line and commands inside it are content of one message.
  const before = queuedMsgids(d);
  const inner =
    "Subject: c\r\n\r\nx\r\n.\r\nMAIL FROM:<spoof@evil.test>\r\nRCPT TO:<victim@example.test>\r\n";
  assert.equal((await c.command("MAIL FROM:<a@client.test>")).code, 250);
  assert.equal((await c.command("RCPT TO:<bob@example.test>")).code, 250);
  // Sent a few bytes at a time: chunk boundaries do not depend on reads.
  const raw = Buffer.from(`BDAT ${Buffer.byteLength(inner)} LAST\r\n${inner}`);
  for (let i = 0; i < raw.length; i += 7) c.send(raw.subarray(i, i + 7));
  const id = msgidOf(await c.reply());
  assert.ok(spoolMessage(d.root, id).toString().endsWith(inner));
  assert.deepEqual(
    [...queuedMsgids(d)].filter((m) => !before.has(m)),
    [id],
  );
  assert.ok(!showQueue(d).some((l) => l.rcpt.startsWith("victim@")));

  // DATA after BDAT is refused; a bare LF inside a chunk is refused like in DATA, at the
  // chunk that holds it, and the transaction is over.
  c.send("MAIL FROM:<a@client.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT 12\r\nSubject: y\r\n");
  assert.deepEqual(await replies(c, 3), [
    "250 2.0.0 Ok",
    "250 2.1.5 Destination address valid: Recipient ok",
    "250 2.0.0 12 octets received",
  ]);
  assert.equal(
    (await c.command("DATA")).text,
    "503 5.5.1 Invalid command: DATA not allowed after BDAT",
  );
  c.send("BDAT 4\r\n\r\nx\n");
  assert.equal((await c.reply()).text, BARE_NEWLINE);
  c.send("BDAT 1 LAST\r\nx");
  assert.equal((await c.reply()).text, "503 5.5.1 Invalid command: Need MAIL FROM first");
  assert.equal((await c.command("NOOP")).text, "250 2.0.0 Ok");
  assert.deepEqual(
    [...queuedMsgids(d)].filter((m) => !before.has(m)),
    [id],
  );
  c.close();
});

test("a mail loop is cut at 100 Received headers", async () => {
  const c = await hello();
  const hops = "Received: from a.test by b.test; Thu, 1 Jan 1970 00:00:00 +0000\r\n".repeat(100);
  assert.equal(
    (await c.sendMail("a@client.test", ["bob@example.test"], `${hops}Subject: loop\r\n\r\nx\r\n`))
      .text,
    "554 5.4.6 Loop detected",
  );
  c.close();
});
