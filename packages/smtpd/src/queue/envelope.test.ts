import assert from "node:assert/strict";
import { test } from "node:test";
import type { Envelope } from "./envelope.js";
import { makeEnvelope, parseEnvelope, serializeEnvelope } from "./envelope.js";
import { bucketOf, isEvpid, isMsgid, msgidOf, newEvpid, newMsgid } from "./ids.js";

const EVPID = "1a2b3c4d5e6f7081";

function mta(over: Partial<Envelope> = {}): Envelope {
  return makeEnvelope({
    id: EVPID,
    dispatcher: "relay",
    type: "mta",
    rcpt: "bob@example.org",
    dest: "bob@example.org",
    sender: "alice@example.com",
    helo: "client.example.com",
    hostname: "mx.example.com",
    smtpname: "mx.example.com",
    sockaddr: "192.0.2.7",
    ctime: 1700000000,
    ttl: 345600,
    ...over,
  });
}

function unwrap(e: Envelope): string {
  const s = serializeEnvelope(e);
  assert.ok(s.ok, s.ok ? "" : s.error);
  return s.text;
}

test("ids: msgid and evpid shape", () => {
  for (let i = 0; i < 200; i++) {
    const m = newMsgid();
    assert.ok(isMsgid(m), m);
    const e = newEvpid(m);
    assert.ok(isEvpid(e), e);
    assert.equal(msgidOf(e), m);
    assert.notEqual(e.slice(8), "00000000");
    assert.equal(bucketOf(m), m.slice(0, 2));
  }
  assert.equal(isMsgid("00000000"), false);
  assert.equal(isMsgid("ABCDEF01"), false);
  assert.equal(isEvpid("0000000012345678"), false);
  assert.throws(() => newEvpid("xyz"));
});

test("serialize: OpenSMTPD key order, empty values omitted", () => {
  const text = unwrap(mta({ flags: { authenticated: true, bounce: false, internal: true } }));
  assert.equal(
    text,
    [
      "version: 3",
      "dispatcher: relay",
      "type: mta",
      "smtpname: mx.example.com",
      "helo: client.example.com",
      "hostname: mx.example.com",
      "sockaddr: 192.0.2.7",
      "sender: alice@example.com",
      "rcpt: bob@example.org",
      "dest: bob@example.org",
      "ctime: 1700000000",
      "last-try: 0",
      "last-bounce: 0",
      "ttl: 345600",
      "retry: 0",
      "flags: authenticated internal",
      "",
    ].join("\n"),
  );
});

test("round trip: mta, mda, bounce, every field", () => {
  const full = mta({
    tag: "TAG",
    username: "alice",
    errorline: "421 4.7.0 Try again later: a: b",
    sockaddr: "[2001:db8::1]",
    lastTry: 1700000100,
    lastBounce: 1700000200,
    retry: 3,
    flags: { authenticated: true, bounce: true, internal: true },
    dsnNotify: ["SUCCESS", "DELAY"],
    dsnRet: "HDRS",
    dsnEnvid: "QQ314159",
    dsnOrcpt: "rfc822;bob@example.org",
    escClass: 4,
    escCode: 0,
    smtputf8: true,
    requiretls: true,
  });
  const mda = mta({
    type: "mda",
    dispatcher: "local",
    sockaddr: "local",
    sender: "",
    mdaExec: "/usr/bin/procmail -f -",
    mdaSubaddress: "lists",
    mdaUser: "bob",
  });
  const bounce = mta({ type: "bounce", bounceTtl: 100, bounceDelay: 14400, bounceType: "delayed" });
  for (const e of [full, mda, bounce, mta({ sender: "" })]) {
    const text = unwrap(e);
    const p = parseEnvelope(text, EVPID);
    assert.ok(p.ok, p.ok ? "" : p.error);
    assert.deepEqual(p.envelope, e);
    assert.equal(unwrap(p.envelope), text);
  }
  assert.match(unwrap(full), /esc-class: 4\nesc-code: 0\nsmtputf8: yes\nrequiretls: yes\n$/);
  assert.match(
    unwrap(mda),
    /mda-exec: \/usr\/bin\/procmail -f -\nmda-subaddress: lists\nmda-user: bob\n$/,
  );
  assert.match(unwrap(bounce), /bounce-ttl: 100\nbounce-delay: 14400\nbounce-type: delayed\n$/);
});

test("serialize refuses CR, LF and NUL in every string field", () => {
  const fields = [
    "dispatcher",
    "tag",
    "smtpname",
    "helo",
    "hostname",
    "username",
    "errorline",
    "sender",
    "rcpt",
    "dest",
    "dsnEnvid",
    "dsnOrcpt",
  ] as const;
  for (const f of fields) {
    for (const bad of ["a\nmda-exec: /bin/sh", "a\rb", "a\0b"]) {
      const s = serializeEnvelope(mta({ [f]: bad }));
      assert.equal(s.ok, false, `${f} ${JSON.stringify(bad)}`);
    }
  }
  const m = serializeEnvelope(mta({ type: "mda", mdaExec: "/bin/true\nmda-user: root" }));
  assert.equal(m.ok, false);
});

test("a sender with a newline cannot produce a second key", () => {
  const s = serializeEnvelope(mta({ sender: "a\nmda-exec: /bin/sh" }));
  assert.equal(s.ok, false);
  assert.ok(!s.ok && /sender/.test(s.error));
  // And a file that does contain such a line is refused on load (mda-exec on an mta envelope).
  const text = unwrap(mta()).replace(
    "sender: alice@example.com\n",
    "sender: a\nmda-exec: /bin/sh\n",
  );
  assert.equal(parseEnvelope(text, EVPID).ok, false);
});

test("serialize refuses inconsistent envelopes", () => {
  const bad: Partial<Envelope>[] = [
    { id: "xyz" },
    { msgid: "ffffffff" },
    { dispatcher: "" },
    { sockaddr: "not-an-address" },
    { ctime: -1 },
    { retry: 1.5 },
    { escClass: 3 },
    { escCode: 7 },
    { dsnNotify: ["NEVER", "SUCCESS"] },
    { mdaExec: "/bin/sh" },
    { bounceType: "failed" },
  ];
  for (const over of bad)
    assert.equal(serializeEnvelope(mta(over)).ok, false, JSON.stringify(over));
  assert.equal(serializeEnvelope(mta({ type: "bounce" })).ok, false); // bounce-type required
});

test("parse is strict", () => {
  const good = unwrap(mta());
  const cases: [string, string][] = [
    [good.replace("version: 3", "version: 2"), "unsupported envelope version"],
    [good.replace("dispatcher: relay\n", ""), 'missing key "dispatcher"'],
    [good.replace("ttl: 345600\n", ""), 'missing key "ttl"'],
    [good + "rcpt: eve@example.net\n", "duplicate"],
    [good + "frobnicate: 1\n", "unknown key"],
    [good + "no colon here\n", "not a"],
    [good.replace("ctime: 1700000000", "ctime: 12x"), "not a number"],
    [good.replace("type: mta", "type: lmtp"), "invalid type"],
    [good.replace("\n", "\r\n"), "CR"],
    [good + "flags: root\n", "unknown flag"],
    [good + "mda-user: root\n", "mda-user on a mta"],
    [good + "esc-code: 10\n", "esc-code without"],
  ];
  for (const [text, msg] of cases) {
    const p = parseEnvelope(text, EVPID);
    assert.ok(!p.ok, msg);
    assert.ok(p.error.includes(msg), `${p.error} ~ ${msg}`);
  }
  assert.equal(parseEnvelope(good, "zzzz").ok, false);
  assert.equal(parseEnvelope(good, "0000000011111111").ok, false);
});

test("parse is tolerant of OpenSMTPD's optional and legacy forms", () => {
  // Minimal file, `enqueued` flag, bare IPv6 (pre-7.3), legacy bounce-type, no final newline.
  const text = [
    "version: 3",
    "dispatcher: d",
    "type: bounce",
    "sockaddr: 2001:db8::2",
    "rcpt: x@y",
    "dest: x@y",
    "ctime: 5",
    "ttl: 6",
    "flags: enqueued,bounce",
    "dsn-notify: failure,delay",
    "bounce-type: error",
  ].join("\n");
  const p = parseEnvelope(text, EVPID);
  assert.ok(p.ok, p.ok ? "" : p.error);
  assert.equal(p.envelope.sockaddr, "[2001:db8::2]");
  assert.deepEqual(p.envelope.flags, { authenticated: false, bounce: true, internal: false });
  assert.deepEqual(p.envelope.dsnNotify, ["FAILURE", "DELAY"]);
  assert.equal(p.envelope.bounceType, "failed");
  assert.equal(p.envelope.sender, "");
  assert.equal(p.envelope.lastTry, 0);
  // Without the file name the id is unknown.
  const q = parseEnvelope(text);
  assert.ok(q.ok && q.envelope.id === "" && q.envelope.msgid === "");
});

test("UTF-8 values round-trip; lone surrogates are refused", () => {
  const e = mta({
    sender: "jörg@bücher.example",
    rcpt: "用户@例子.广告",
    dest: "用户@例子.广告",
    smtputf8: true,
  });
  const p = parseEnvelope(unwrap(e), EVPID);
  assert.ok(p.ok);
  assert.deepEqual(p.envelope, e);
  assert.equal(serializeEnvelope(mta({ sender: "a\uD800b@example.com" })).ok, false);
});
