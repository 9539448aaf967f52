// Session core tests beyond the dialogs: stored message bytes, pipelining, split input,
// smuggling payloads, STARTTLS injection, limits, faults and a seeded fuzz.
import assert from "node:assert/strict";
import { test } from "node:test";
import { rfc5322Date } from "../../smtp/headers.js";
import { MAX_LINE_OCTETS } from "./session.js";
import { newSession, outputLines, runAll } from "./test-util.js";

const DATE = rfc5322Date(new Date(Date.UTC(2025, 10, 25, 7, 15, 0)));
const b = (s: string): Buffer => Buffer.from(s, "latin1");

const TRANSACTION = b(
  "EHLO client.test\r\nMAIL FROM:<alice@client.test>\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\n" +
    "Subject: hi\r\nBcc: secret@x.test\r\n\r\n..leading dot\r\nline\r\n.\r\n" +
    "MAIL FROM:<> BODY=8BITMIME\r\nRCPT TO:<carol@mx.test>\r\nRCPT TO:<dave@mx.test>\r\n" +
    "BDAT 8\r\nA: b\r\n\r\nBDAT 4 LAST\r\nhi\r\nQUIT\r\n",
);

const EXPECTED = [
  "220 mx.test ESMTP Facteur",
  "250-mx.test Hello client.test [192.0.2.1], pleased to meet you",
  "250-8BITMIME",
  "250-ENHANCEDSTATUSCODES",
  "250-SIZE 36700160",
  "250-DSN",
  "250-PIPELINING",
  "250-SMTPUTF8",
  "250-CHUNKING",
  "250 HELP",
  "250 2.0.0 Ok",
  "250 2.1.5 Destination address valid: Recipient ok",
  '354 Enter mail, end with "." on a line by itself',
  "250 2.0.0 00000001 Message accepted for delivery",
  "250 2.0.0 Ok",
  "250 2.1.5 Destination address valid: Recipient ok",
  "250 2.1.5 Destination address valid: Recipient ok",
  "250 2.0.0 8 octets received",
  "250 2.0.0 00000002 Message accepted for delivery",
  "221 2.0.0 Bye",
  "[close]",
];

const MSG1 =
  "Received: from client.test (client.test [192.0.2.1])\r\n\tby mx.test (Facteur) with ESMTP id 00000001\r\n" +
  `\tfor <bob@mx.test>;\r\n\t${DATE}\r\nSubject: hi\r\n\r\n.leading dot\r\nline\r\n`;
const MSG2 =
  "Received: from client.test (client.test [192.0.2.1])\r\n\tby mx.test (Facteur) with ESMTP id 00000002;\r\n" +
  `\t${DATE}\r\nA: b\r\n\r\nhi\r\n`;

test("pipelined transaction in one feed: replies in order, exact message bytes", async () => {
  const { session, ports } = newSession();
  assert.deepEqual(await runAll(session, [TRANSACTION]), EXPECTED);
  assert.deepEqual(
    ports.committed.map((c) => c.data.toString("latin1")),
    [MSG1, MSG2],
  );
  assert.deepEqual(
    ports.committed[1]?.tx.recipients.map((r) => r.path.local),
    ["carol", "dave"],
  );
  assert.equal(ports.committed[1]?.tx.params.body, "8BITMIME");
  assert.equal(session.isClosed, true);
});

test("same replies and bytes with the input split at every byte offset", async () => {
  for (let i = 0; i <= TRANSACTION.length; i++) {
    const { session, ports } = newSession();
    const got = await runAll(session, [TRANSACTION.subarray(0, i), TRANSACTION.subarray(i)]);
    assert.deepEqual(got, EXPECTED, `split at ${i}`);
    assert.deepEqual(
      ports.committed.map((c) => c.data.toString("latin1")),
      [MSG1, MSG2],
      `split at ${i}`,
    );
  }
  const { session, ports } = newSession();
  assert.deepEqual(
    await runAll(
      session,
      [...TRANSACTION].map((x) => Buffer.from([x])),
    ),
    EXPECTED,
  );
  assert.equal(ports.committed.length, 2);
});

const SMUGGLE = [
  "\n.\n",
  "\r.\r",
  "\r\n.\r",
  "\n.\r\n",
  "\r\n.\n",
  "\r.\r\n",
  "\n.\r",
  "\r\n\r.\r\n",
  "\n\n.\n\n",
];

test("SMTP smuggling payloads neither end the message nor start a second one", async () => {
  for (const p of SMUGGLE) {
    const body =
      `Subject: a\r\n\r\nhello${p}MAIL FROM:<spoof@bank.test>\r\nRCPT TO:<victim@mx.test>\r\nDATA\r\n` +
      `Subject: spoofed\r\n\r\nspoofed${p}QUIT${p}`;
    const input = b(
      `HELO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\n${body}\r\n.\r\nNOOP\r\n`,
    );
    for (const cut of [
      0,
      input.indexOf(p),
      input.indexOf(p) + 1,
      input.indexOf(p) + 2,
      input.length - 10,
    ]) {
      const { session, ports } = newSession();
      const got = await runAll(session, [input.subarray(0, cut), input.subarray(cut)]);
      assert.deepEqual(
        got.slice(5),
        ["550 5.6.0 Message refused: bare CR or LF in message content", "250 2.0.0 Ok"],
        `${JSON.stringify(p)} cut ${cut}`,
      );
      assert.equal(ports.committed.length, 0);
      assert.deepEqual(ports.aborted, ["00000001"]);
    }
  }
});

test("STARTTLS injection: the pipelined MAIL is discarded, never run", async () => {
  let senders = 0;
  const { session, ports } = newSession({ tls: "starttls" });
  ports.checkSender = async () => {
    senders++;
    return { kind: "ok" };
  };
  const got = await runAll(session, [b("EHLO c.test\r\nSTARTTLS\r\nMAIL FROM:<x@evil.test>\r\n")]);
  assert.deepEqual(got.slice(-2), ["220 2.0.0 Ready to start TLS", "[starttls]"]);
  assert.deepEqual(outputLines(await session.feed(b("RCPT TO:<y@evil.test>\r\n"))), []);
  session.tlsEstablished("TLSv1.3:X:256");
  assert.deepEqual(outputLines(await session.feed(b("MAIL FROM:<x@evil.test>\r\n"))), [
    "503 5.5.1 Invalid command: Polite people say HELO first",
  ]);
  assert.equal(senders, 0);
});

test("oversized message: drained to the end, then 552 5.3.4; the session goes on", async () => {
  const { session, ports } = newSession({ maxMessageBytes: 100 });
  const got = await runAll(session, [
    b("HELO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\n"),
    b("x".repeat(60) + "\r\n" + "MAIL FROM:<x@y.test>\r\n".repeat(5)),
    b(".\r\nNOOP\r\n"),
  ]);
  assert.deepEqual(got.slice(5), ["552 5.3.4 Message too big for system", "250 2.0.0 Ok"]);
  assert.equal(ports.committed.length, 0);
  const exact = newSession({ maxMessageBytes: 100 });
  const ok = await runAll(exact.session, [
    b(
      "HELO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\n" +
        "y".repeat(98) +
        "\r\n.\r\n",
    ),
  ]);
  assert.match(ok[5] ?? "", /^250 2\.0\.0 00000001/);
});

test("BDAT over the size limit: 552 after the chunk, transaction dropped", async () => {
  const { session, ports } = newSession({ maxMessageBytes: 10 });
  const got = await runAll(session, [
    b("HELO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@mx.test>\r\nBDAT 20\r\n"),
    b("0123456789abcdefghij"),
    b("BDAT 1 LAST\r\nx"),
  ]);
  assert.deepEqual(got.slice(4), [
    "552 5.3.4 Message too big for system",
    "503 5.5.1 Invalid command: Need MAIL FROM first",
  ]);
  assert.deepEqual(ports.aborted, ["00000001"]);
});

test("loop, whitespace-first header, bare LF in BDAT", async () => {
  const run = async (content: string, bdat = false): Promise<string | undefined> => {
    const { session } = newSession();
    const cmd = bdat
      ? `BDAT ${Buffer.byteLength(content, "latin1")} LAST\r\n${content}`
      : `DATA\r\n${content}.\r\n`;
    const got = await runAll(session, [
      b(`HELO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@mx.test>\r\n${cmd}`),
    ]);
    return got.at(-1);
  };
  assert.equal(
    await run("Received: x\r\n".repeat(100) + "\r\nbody\r\n"),
    "554 5.4.6 Loop detected",
  );
  assert.match((await run("Received: x\r\n".repeat(99) + "\r\nbody\r\n")) ?? "", /^250 /);
  assert.match((await run(" Subject: x\r\n\r\nbody\r\n")) ?? "", /^550 5\.7\.1 /);
  assert.match((await run("a\nb\r\n", true)) ?? "", /^550 5\.6\.0 /);
  assert.match((await run("a\r\nb\r\n", true)) ?? "", /^250 /);
});

test("local listener: Date, Message-ID and domain appending; Received with TLS and auth", async () => {
  const { session, ports } = newSession(
    { isLocal: true, receivedAuth: true, authMode: "optional", tls: "smtps" },
    {
      isSecure: true,
      tlsInfo: "TLSv1.3:TLS_AES_256_GCM_SHA384:256",
      rdns: null,
      remoteAddress: "2001:db8::1",
    },
  );
  await runAll(session, [
    b(
      "EHLO c.test\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<root>\r\nRCPT TO:<bob>\r\n" +
        "RCPT TO:<carol@mx.test>\r\nDATA\r\nFrom: root\r\nTo: bob, carol@mx.test\r\n\r\nhi\r\n.\r\n",
    ),
  ]);
  const c = ports.committed[0];
  assert.ok(c);
  assert.equal(c.tx.sender.domain, "mx.test");
  const lines = c.data.toString().split("\r\n");
  assert.deepEqual(lines.slice(0, 3), [
    "Received: from c.test (<unknown> [IPv6:2001:db8::1])",
    "\tby mx.test (Facteur) with ESMTPSA id 00000001 (TLSv1.3:TLS_AES_256_GCM_SHA384:256:NO) auth=yes user=alice;",
    `\t${DATE}`,
  ]);
  assert.equal(lines[3], "From: root@mx.test");
  assert.equal(lines[4], "To: bob@mx.test, carol@mx.test");
  assert.match(lines[5] ?? "", /^Date: /);
  assert.match(lines[6] ?? "", /^Message-ID: <[0-9a-f]{16}@mx\.test>$/);
});

test("mask-src leaves out the from part", async () => {
  const { session, ports } = newSession({ maskSrc: true });
  await runAll(session, [
    b("HELO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\nx\r\n.\r\n"),
  ]);
  assert.match(
    ports.committed[0]?.data.toString() ?? "",
    /^Received: by mx\.test \(Facteur\) with SMTP id 00000001\r\n\tfor <b@mx\.test>;/,
  );
});

test("a port that throws: 451 4.3.0 and close, the open message aborted", async () => {
  const { session, ports } = newSession();
  ports.throwOn = "write";
  const got = await runAll(session, [
    b("HELO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\nx\r\n.\r\n"),
  ]);
  assert.deepEqual(got.slice(-2), ["451 4.3.0 Temporary failure", "[close]"]);
  assert.deepEqual(ports.aborted, ["00000001"]);
  const s2 = newSession();
  s2.ports.throwOn = "sender";
  assert.deepEqual(
    (await runAll(s2.session, [b("HELO c.test\r\nMAIL FROM:<a@c.test>\r\nNOOP\r\n")])).slice(2),
    ["451 4.3.0 Temporary failure", "[close]"],
  );
});

test("command line limit: 500 and close; a line just under it is fine", async () => {
  const ok = newSession();
  const under = await runAll(ok.session, [b("NOOP " + "a".repeat(MAX_LINE_OCTETS - 7) + "\r\n")]);
  assert.deepEqual(under.slice(1), ["250 2.0.0 Ok"]);
  const { session } = newSession();
  const got = await runAll(session, [b("NOOP " + "a".repeat(MAX_LINE_OCTETS)), b("\r\nNOOP\r\n")]);
  assert.deepEqual(got.slice(1), ["500 5.5.2 Invalid command: Line too long", "[close]"]);
});

test("bare LF ends command lines; other controls are refused", async () => {
  const { session } = newSession();
  const got = await runAll(session, [b("HELO c.test\nNOOP\r\nNO\rOP\r\n")]);
  assert.deepEqual(got.slice(1), [
    "250 mx.test Hello c.test [192.0.2.1], pleased to meet you",
    "250 2.0.0 Ok",
    "500 5.5.2 Invalid command: Invalid characters in command line",
  ]);
});

test("disconnect during DATA aborts the message", async () => {
  const { session, ports } = newSession();
  await runAll(session, [
    b("HELO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\npartial"),
  ]);
  await session.disconnected();
  assert.deepEqual(ports.aborted, ["00000001"]);
  assert.equal(ports.committed.length, 0);
});

/** mulberry32: small seeded PRNG so fuzz failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FRAGMENTS = [
  "EHLO c.test\r\n",
  "HELO x\r\n",
  "MAIL FROM:<a@b.test>\r\n",
  "MAIL FROM:<> SMTPUTF8 RET=FULL\r\n",
  "RCPT TO:<b@mx.test> NOTIFY=SUCCESS ORCPT=rfc822;x+40y\r\n",
  'RCPT TO:<"q"@[1.2.3.4]>\r\n',
  "DATA\r\n",
  "BDAT 3\r\n",
  "BDAT 0 LAST\r\n",
  "\r\n.\r\n",
  ".\r\n",
  "\n.\n",
  "\r",
  "\n",
  "AUTH PLAIN\r\n",
  "AUTH LOGIN\r\n",
  "*\r\n",
  "STARTTLS\r\n",
  "RSET\r\n",
  "NOOP\r\n",
  "VRFY x\r\n",
  "Bcc: x\r\n",
  " folded\r\n",
  "Received: x\r\n",
  "\0",
  "\xff",
  "QUIT\r\n",
  "BDAT 99999999999\r\n",
  "MAIL FROM:<\xc3\xa9@b>\r\n",
];

test("seeded fuzz: random bytes and fragments never throw; outputs are well-formed", async () => {
  const rnd = prng(0x5eed);
  for (let round = 0; round < 400; round++) {
    const listener = {
      tls: (rnd() < 0.5 ? "starttls" : "smtps") as "starttls" | "smtps",
      authMode: "optional" as const,
      maxMessageBytes: 1 + Math.floor(rnd() * 300),
      maxRcpt: 1 + Math.floor(rnd() * 3),
      isLocal: rnd() < 0.5,
    };
    const { session } = newSession(listener, {
      isSecure: listener.tls === "smtps",
      tlsInfo: "TLSv1.3:X:1",
    });
    let closed = false;
    for (let step = 0; step < 40 && !closed; step++) {
      let chunk: Buffer;
      if (rnd() < 0.3) {
        chunk = Buffer.alloc(Math.floor(rnd() * 64));
        for (let i = 0; i < chunk.length; i++) chunk[i] = Math.floor(rnd() * 256);
      } else {
        let s = "";
        const n = 1 + Math.floor(rnd() * 5);
        for (let i = 0; i < n; i++) s += FRAGMENTS[Math.floor(rnd() * FRAGMENTS.length)];
        chunk = b(s);
      }
      const outs = await session.feed(chunk);
      for (const o of outs) {
        if (o.kind === "starttls" && rnd() < 0.7) session.tlsEstablished("TLSv1.3:X:1");
        if (o.kind === "close") closed = true;
      }
      for (const line of outputLines(outs)) {
        assert.match(line, /^(\d{3}[ -]|\[(close|starttls)\]$)/, line);
        const m = /^([245])\d\d[ -](\d)\.\d+\.\d+ /.exec(line);
        if (m) assert.equal(m[1], m[2], line);
      }
    }
  }
});
