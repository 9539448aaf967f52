import assert from "node:assert/strict";
import { test } from "node:test";
import { makeEnvelope } from "./envelope.js";
import { formatShowQueueLine, sourceKind } from "./show-queue.js";

const base = makeEnvelope({
  id: "1a2b3c4d5e6f7081",
  dispatcher: "relay",
  type: "mta",
  rcpt: "bob@example.org",
  dest: "bob@example.org",
  sender: "alice@example.com",
  sockaddr: "192.0.2.1",
  ctime: 1000,
  ttl: 345600,
  lastTry: 2000,
  retry: 2,
  errorline: "421 4.4.2 timeout\tnow",
  flags: { authenticated: true, bounce: true, internal: false },
});

test("show queue line: fields in smtpctl order", () => {
  assert.equal(
    formatShowQueueLine(base, { state: "pending", delaySec: 120 }),
    "1a2b3c4d5e6f7081|inet4|mta|bounce,auth|alice@example.com|bob@example.org|bob@example.org" +
      "|1000|346600|2000|2|pending|120|421 4.4.2 timeout\\tnow",
  );
  assert.equal(
    formatShowQueueLine(
      {
        ...base,
        sender: "",
        type: "mda",
        sockaddr: "local",
        flags: { authenticated: false, bounce: false, internal: true },
        errorline: "",
      },
      { state: "offline" },
      { suspended: true, held: true },
    ),
    "1a2b3c4d5e6f7081|local|mda|internal,suspend,hold|@|bob@example.org|bob@example.org" +
      "|1000|346600|2000|2|offline||",
  );
  assert.match(formatShowQueueLine(base, { state: "inflight", delaySec: 3.7 }), /\|inflight\|3\|/);
});

test("show queue: source kinds", () => {
  assert.equal(sourceKind("local"), "local");
  assert.equal(sourceKind("10.0.0.1"), "inet4");
  assert.equal(sourceKind("[::1]"), "inet6");
  assert.equal(sourceKind(""), "?");
});
