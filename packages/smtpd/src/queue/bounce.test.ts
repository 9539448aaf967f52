import assert from "node:assert/strict";
import { test } from "node:test";
import { composeDsn } from "./bounce.js";

const original = Buffer.from("Subject: hello\r\nFrom: a@b.test\r\n\r\nbody line\r\n");
const base = {
  reportingMta: "mx.test",
  sender: "a@b.test",
  envid: "ENV-1",
  ret: "" as const,
  arrival: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
  now: new Date(Date.UTC(2026, 0, 2, 4, 0, 0)),
  recipients: [
    {
      rcpt: "x@y.test",
      orcpt: "rfc822;X@Y.test",
      action: "failed" as const,
      status: "5.1.1",
      diagnostic: "550 no such user",
    },
  ],
  original,
  smtputf8: false,
};

function parts(msg: string): string[] {
  const b = /boundary="([^"]+)"/.exec(msg)![1]!;
  return msg.split(`--${b}`);
}

test("a failure report is RFC 3464 multipart/report with every field", () => {
  const m = composeDsn(base).toString();
  assert.match(m, /^From: Mail Delivery System <MAILER-DAEMON@mx\.test>\r\nTo: a@b\.test\r\n/);
  assert.match(m, /\r\nAuto-Submitted: auto-replied\r\n/);
  const p = parts(m);
  assert.equal(p.length, 5); // preamble, 3 parts, epilogue
  assert.match(p[1]!, /An error has occurred while attempting to deliver a message for/);
  assert.match(p[1]!, /x@y\.test: 550 no such user/);
  const report = p[2]!;
  assert.match(
    report,
    /Content-Type: message\/delivery-status\r\n\r\nReporting-MTA: dns; mx\.test\r\n/,
  );
  assert.match(report, /\r\nOriginal-Envelope-Id: ENV-1\r\n/);
  assert.match(report, /\r\nArrival-Date: \w{3}, \d+ Jan 2026 /);
  assert.match(
    report,
    /\r\n\r\nFinal-Recipient: rfc822; x@y\.test\r\nOriginal-Recipient: rfc822;X@Y\.test\r\n/,
  );
  assert.match(
    report,
    /\r\nAction: failed\r\nStatus: 5\.1\.1\r\nDiagnostic-Code: smtp; 550 no such user\r\n/,
  );
  assert.match(
    p[3]!,
    /Content-Type: message\/rfc822\r\n\r\nSubject: hello\r\nFrom: a@b\.test\r\n\r\nbody line\r\n/,
  );
  assert.ok(m.endsWith("--\r\n"));
});

test("RET=HDRS returns the headers only; SMTPUTF8 uses the RFC 6533 types", () => {
  const h = parts(composeDsn({ ...base, ret: "HDRS" }).toString());
  assert.match(
    h[3]!,
    /Content-Type: text\/rfc822-headers\r\n\r\nSubject: hello\r\nFrom: a@b\.test\r\n\r\n$/,
  );
  assert.doesNotMatch(h[3]!, /body line/);
  const u = composeDsn({
    ...base,
    smtputf8: true,
    recipients: [{ ...base.recipients[0]!, rcpt: "josé@exämple.test" }],
  }).toString();
  assert.match(u, /Content-Type: message\/global-delivery-status/);
  assert.match(u, /Final-Recipient: utf-8; josé@exämple\.test/);
  assert.match(u, /Content-Type: message\/global\r\n/);
});

test("no header injection through diagnostics or addresses", () => {
  const m = composeDsn({
    ...base,
    sender: "a@b.test\r\nBcc: victim@x",
    recipients: [{ ...base.recipients[0]!, diagnostic: "oops\r\nX-Evil: 1" }],
  }).toString();
  assert.doesNotMatch(m, /\r\nBcc:/);
  assert.doesNotMatch(m, /\r\nX-Evil:/);
});
