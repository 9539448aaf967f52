import assert from "node:assert/strict";
import { test } from "node:test";
import {
  asctimeDate,
  type HeaderOptions,
  HeaderRewriter,
  MAX_RECEIVED,
  qualifyAddresses,
  receivedHeader,
  rfc5322Date,
} from "./headers.js";

const O: HeaderOptions = {
  hostname: "mx.test",
  isSubmission: false,
  now: new Date(0),
  received: "Received: x\r\n",
};

function rewrite(
  text: string,
  o: HeaderOptions = O,
  split = 0,
): { out: string; error: string | null } {
  const h = new HeaderRewriter(o);
  const b = Buffer.from(text, "latin1");
  const parts = split > 0 ? [b.subarray(0, split), b.subarray(split)] : [b];
  const out = Buffer.concat([...parts.map((p) => h.push(p)), h.end()]).toString("latin1");
  return { out, error: h.error };
}

test("Received prepended, Bcc stripped with its continuation lines", () => {
  const msg = "From: a@b\r\nBcc: x@y,\r\n z@w\r\nTo: c@d\r\nbcc: q\r\n\r\nBcc: body\r\n";
  const want = "Received: x\r\nFrom: a@b\r\nTo: c@d\r\n\r\nBcc: body\r\n";
  for (let i = 0; i <= msg.length; i++)
    assert.deepEqual(rewrite(msg, O, i), { out: want, error: null }, `split ${i}`);
});

test("header block starting with whitespace is refused", () => {
  assert.equal(rewrite(" From: a\r\n\r\nx").error, "whitespace");
  assert.equal(rewrite("\tx\r\n").error, "whitespace");
  assert.equal(rewrite("From: a\r\n b\r\n\r\n c").error, null);
});

test("loop detection at 100 Received headers", () => {
  assert.equal(rewrite("Received: a\r\n".repeat(MAX_RECEIVED - 1) + "\r\nx").error, null);
  assert.equal(rewrite("Received: a\r\n".repeat(MAX_RECEIVED) + "\r\nx").error, "loop");
});

test("submission: Date and Message-ID added, bare addresses qualified", () => {
  const o = { ...O, isSubmission: true, now: new Date(Date.UTC(2025, 0, 2, 3, 4, 5)) };
  const r = rewrite(
    "From: root\r\nTo: Bob <bob>, carol@x.test\r\nCc: dave (Dave)\r\n\r\nbody\r\n",
    o,
  );
  const lines = r.out.split("\r\n");
  assert.equal(lines[1], "From: root@mx.test");
  assert.equal(lines[2], "To: Bob <bob@mx.test>, carol@x.test");
  assert.equal(lines[3], "Cc: dave@mx.test (Dave)");
  assert.match(lines[4] ?? "", /^Date: \w{3}, \d{1,2} \w{3} 2025 \d\d:\d\d:\d\d [+-]\d{4}$/);
  assert.match(lines[5] ?? "", /^Message-ID: <[0-9a-f]{16}@mx\.test>$/);
  assert.equal(lines[6], "");
  const kept = rewrite("Date: x\r\nMessage-ID: <a@b>\r\nTo: bob\r\n\r\n", {
    ...O,
    isSubmission: false,
  });
  assert.equal(kept.out, "Received: x\r\nDate: x\r\nMessage-ID: <a@b>\r\nTo: bob\r\n\r\n");
  assert.equal(rewrite("Subject: s", o).out.split("\r\n")[1], "Subject: s");
});

test("qualifyAddresses", () => {
  const q = (v: string): string => qualifyAddresses(v, "h");
  assert.equal(q(" a"), " a@h");
  assert.equal(q(" a@b"), " a@b");
  assert.equal(q(' "A, B" <a>, c'), ' "A, B" <a@h>, c@h');
  assert.equal(q(" friends: a, b@c;"), " friends: a@h, b@c;");
  assert.equal(q(" undisclosed-recipients:;"), " undisclosed-recipients:;");
  assert.equal(q(" John Smith"), " John Smith");
  assert.equal(q(" <@r:a@b>"), " <@r:a@b>");
  assert.equal(q(" a (x, y)\r\n\t, b"), " a@h (x, y)\r\n\t, b@h");
  assert.equal(q(" <>"), " <>");
});

test("Received format (OpenSMTPD smtp_message_begin)", () => {
  const base = {
    helo: "client.test",
    rdns: "client.test",
    remoteAddress: "192.0.2.1",
    maskSrc: false,
    hostname: "mx.test",
    serverName: "Facteur",
    isEsmtp: true,
    isSecure: false,
    tlsInfo: null,
    tlsVerified: false,
    receivedAuth: false,
    authUser: null,
    msgid: "0000abcd",
    singleRcpt: "b@mx.test",
    date: new Date(0),
  };
  const d = rfc5322Date(new Date(0));
  assert.equal(
    receivedHeader(base),
    `Received: from client.test (client.test [192.0.2.1])\r\n\tby mx.test (Facteur) with ESMTP id 0000abcd\r\n\tfor <b@mx.test>;\r\n\t${d}\r\n`,
  );
  assert.equal(
    receivedHeader({ ...base, maskSrc: true, singleRcpt: null, rdns: null, isEsmtp: false }),
    `Received: by mx.test (Facteur) with SMTP id 0000abcd;\r\n\t${d}\r\n`,
  );
  assert.equal(
    receivedHeader({
      ...base,
      rdns: null,
      remoteAddress: "2001:db8::1",
      singleRcpt: null,
      isSecure: true,
      tlsInfo: "TLSv1.3:TLS_AES_256_GCM_SHA384:256",
      receivedAuth: true,
      authUser: "alice",
    }),
    `Received: from client.test (<unknown> [IPv6:2001:db8::1])\r\n\tby mx.test (Facteur) with ESMTPSA id 0000abcd` +
      ` (TLSv1.3:TLS_AES_256_GCM_SHA384:256:NO) auth=yes user=alice;\r\n\t${d}\r\n`,
  );
});

test("asctime dates for mbox From lines", () => {
  const d = new Date(2026, 0, 5, 7, 8, 9);
  assert.match(asctimeDate(d), /^\w{3} Jan {2}5 07:08:09 2026$/);
});
