import assert from "node:assert/strict";
import { test } from "node:test";
import {
  LINESPLIT,
  messageLines,
  type ParsedMessage,
  parseMessage,
  phrase,
  quotedPrintable,
} from "./sendmail-message.js";

const parse = (s: string): ParsedMessage => {
  const m = parseMessage(s);
  if ("error" in m) throw new Error(m.error);
  return m;
};
const now = new Date(Date.UTC(2026, 10, 25, 8, 0, 0));
const add = { from: "u@h.test", fromName: null, host: "h.test", now };
/** The lines, with the generated Date and Message-ID masked. */
const lines = (m: ParsedMessage, a = add) =>
  messageLines(m, a).map((l) =>
    l.replace(/^Date: .*/, "Date: *").replace(/^Message-ID: <[^@]+@/, "Message-ID: <*@"),
  );

test("a body alone gets From, Date, Message-ID and the empty line", () => {
  const m = parse("hello\r\nworld\n");
  assert.equal(m.noHeader, true);
  assert.deepEqual(lines(m), [
    "From: <u@h.test>",
    "Date: *",
    "Message-ID: <*@h.test>",
    "",
    "hello",
    "world",
  ]);
});

test("a first line that merely looks like a field stays in the body (enqueue.c keywords)", () => {
  const m = parse("Warning: disk full\nmore\n");
  assert.equal(m.noHeader, true);
  assert.deepEqual(lines(m).slice(3), ["", "Warning: disk full", "more"]);
});

test("Bcc (with its continuation) is removed; To, Cc, Bcc addresses are collected", () => {
  const m = parse(
    "To: a@x.test\nCc: B <b@x.test>\nBcc: c@x.test,\n d@x.test\nSubject: s\n\nbody\n",
  );
  assert.deepEqual(m.headerRcpts, ["a@x.test", "b@x.test", "c@x.test", "d@x.test"]);
  assert.deepEqual(lines(m), [
    "From: <u@h.test>",
    "Date: *",
    "Message-ID: <*@h.test>",
    "To: a@x.test",
    "Cc: B <b@x.test>",
    "Subject: s",
    "",
    "body",
  ]);
});

test("present From, Date and Message-ID are kept; From gives the sender address", () => {
  const m = parse(
    "From: Someone <s@x.test>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <1@x>\n\nb\n",
  );
  assert.equal(m.headerFrom, "s@x.test");
  assert.deepEqual(messageLines(m, add), [
    "From: Someone <s@x.test>",
    "Date: Mon, 1 Jan 2024 00:00:00 +0000",
    "Message-ID: <1@x>",
    "",
    "b",
  ]);
});

test("mbox From lines and Return-Path are dropped from the header only", () => {
  const m = parse(
    "From x@y Mon Jan  1 00:00:00 2024\nReturn-Path: <a@b>\nSubject: s\n\nFrom here\n",
  );
  assert.deepEqual(lines(m).slice(3), ["Subject: s", "", "From here"]);
});

test("a header without an empty line before the body gets one", () => {
  const m = parse("Subject: hi\nbody text\n");
  assert.deepEqual(lines(m).slice(3), ["Subject: hi", "", "body text"]);
});

test("the full name is a phrase: atoms, quoted, or RFC 2047", () => {
  assert.equal(phrase("John Doe"), "John Doe");
  assert.equal(phrase("Doe, John"), '"Doe, John"');
  assert.equal(phrase('a"b'), '"a\\"b"');
  assert.equal(phrase("José"), "=?UTF-8?B?Sm9zw6k=?=");
  const m = parse("x\n");
  assert.equal(
    messageLines(m, { ...add, fromName: "Doe, John" })[0],
    'From: "Doe, John" <u@h.test>',
  );
});

test("quoted-printable: soft breaks within 76, trailing space, = and 8-bit encoded", () => {
  assert.deepEqual(quotedPrintable("a=b \u00e9 "), ["a=3Db =E9=20"]);
  const long = "x".repeat(200);
  const q = quotedPrintable(long);
  assert.ok(q.every((l) => l.length <= 76));
  assert.equal(q.map((l) => l.replace(/=$/, "")).join(""), long);
  assert.deepEqual(quotedPrintable(""), [""]);
  assert.deepEqual(quotedPrintable("\t"), ["=09"]);
});

test("a long line makes the body quoted-printable with MIME headers (as enqueue.c)", () => {
  const long = `${"y".repeat(LINESPLIT)} end`;
  const m = parse(`Subject: long\n\n${long}\nshort\n`);
  assert.equal(m.needsEncoding, true);
  const out = lines(m);
  assert.deepEqual(out.slice(0, 8), [
    "From: <u@h.test>",
    "Date: *",
    "Message-ID: <*@h.test>",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=unknown-8bit",
    "Content-Disposition: inline",
    "Content-Transfer-Encoding: quoted-printable",
    "Subject: long",
  ]);
  const body = out.slice(9);
  assert.ok(body.every((l) => l.length <= 76));
  assert.equal(body.join("\n").replace(/=\n/g, ""), `${long}\nshort`);
});

test("a long line in a message without header is encoded too (enqueue.c sent it raw)", () => {
  const m = parse(`${"z".repeat(1200)}\n`);
  const out = lines(m);
  assert.ok(out.includes("Content-Transfer-Encoding: quoted-printable"));
  assert.ok(out.every((l) => l.length <= 76));
});

test("a message with its own encoding, or multipart, is sent as it is", () => {
  const long = "w".repeat(1500);
  const own = parse(`Content-Transfer-Encoding: 8bit\n\n${long}\n`);
  assert.ok(lines(own).includes(long));
  const multi = parse(`Content-Type: multipart/mixed; boundary=b\n\n--b\n\n${long}\n--b--\n`);
  assert.ok(lines(multi).includes(long));
});

test("a bare CR: encoded as =0D in quoted-printable, else a line break", () => {
  const qp = parse("Subject: s\n\nprogress 10%\rprogress 20%\n");
  assert.ok(lines(qp).includes("progress 10%=0Dprogress 20%"));
  const raw = parse("Content-Transfer-Encoding: 8bit\n\n10%\r20%\n");
  assert.deepEqual(lines(raw).slice(-2), ["10%", "20%"]);
});

test("address syntax errors in From/To/Cc/Bcc are reported", () => {
  assert.deepEqual(parseMessage('To: "unterminated\n\nb\n'), {
    error: 'syntax error in address: To: "unterminated',
  });
});

test("8-bit header text passes unchanged (latin1 in, latin1 out); addresses decode as UTF-8", () => {
  const raw = Buffer.from("Subject: café\nTo: josé@x.test\n\nb\n", "utf8").toString("latin1");
  const m = parse(raw);
  assert.deepEqual(m.headerRcpts, ["josé@x.test"]);
  assert.ok(lines(m).includes(Buffer.from("Subject: café", "utf8").toString("latin1")));
});
