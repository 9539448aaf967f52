import assert from "node:assert/strict";
import { test } from "node:test";
import { deliveryLine, humanDelay } from "./delivery.js";
import { makeEnvelope } from "./envelope.js";

test("delays print as OpenSMTPD's duration_to_text", () => {
  assert.equal(humanDelay(0), "0s");
  assert.equal(humanDelay(59), "59s");
  assert.equal(humanDelay(60), "1m");
  assert.equal(humanDelay(3723), "1h2m3s");
  assert.equal(humanDelay(86400 * 2 + 5), "2d5s");
});

test("the delivery line carries every field log watchers read, and no control byte", () => {
  const e = makeEnvelope({
    id: "0123456789abcdef",
    dispatcher: "local",
    type: "mda",
    rcpt: "bob@example.org",
    dest: "bob@example.org",
    sender: "alice@example.net",
    ctime: 1000,
    mdaUser: "bob",
  });
  assert.equal(
    deliveryLine(e, 1065, "Ok", "delivered to maildir /home/bob/Maildir"),
    "0123456789abcdef mda delivery evpid=0123456789abcdef from=<alice@example.net> to=<bob@example.org> rcpt=<bob@example.org> user=bob delay=1m5s result=Ok stat=delivered to maildir /home/bob/Maildir",
  );
  assert.doesNotMatch(deliveryLine(e, 1000, "PermFail", "bad\nline"), /\n/);
});
