// Rule matching on configs parsed from text: first match wins, defaults, negation, tables.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildModel } from "../config/model.js";
import { parseConfig } from "../config/parser.js";
import type { SessionFacts } from "../ipc/messages.js";
import { evaluateRules } from "./rules.js";
import { domainMatches, mailaddrMatches, netaddrMatches, TableStore } from "./tables.js";

const files: Record<string, string> = {
  "/t/relays": "192.0.2.0/24\n[2001:db8::1]\n",
  "/t/users": "# @list\nbob\n",
};

function setup(text: string) {
  const r = parseConfig(text, { file: "t.conf" });
  assert.deepEqual(r.diagnostics, []);
  const model = buildModel(r.config, "mx.example.org");
  const tables = new TableStore(model, (p) => {
    const f = files[p];
    if (f === undefined) throw new Error("ENOENT");
    return f;
  });
  return (s: Partial<SessionFacts>, sender: string, rcpt: string) =>
    evaluateRules(model.rules, { ...base, ...s }, { sender, rcpt }, tables);
}

const base: SessionFacts = {
  listener: 0,
  remoteAddress: "203.0.113.9",
  rdns: null,
  helo: "client.example",
  isSecure: false,
  authUser: null,
  tag: null,
  isLocal: false,
  isSocket: false,
};

test("table matching rules per service", () => {
  assert.ok(domainMatches("*.example.org", "a.b.example.org"));
  assert.ok(!domainMatches("*.example.org", "example.org"));
  assert.ok(domainMatches("EXAMPLE.org", "example.ORG"));
  assert.ok(mailaddrMatches("@example.org", "bob@example.org"));
  assert.ok(mailaddrMatches("bob", "Bob@anything"));
  assert.ok(mailaddrMatches("bob@*.example.org", "bob@mx.example.org"));
  assert.ok(!mailaddrMatches("bob@example.org", "alice@example.org"));
  assert.ok(netaddrMatches("192.0.2.0/24", "192.0.2.77"));
  assert.ok(netaddrMatches("[::1]", "::1"));
  assert.ok(!netaddrMatches("192.0.2.0/24", "198.51.100.1"));
  assert.ok(netaddrMatches("local", "local"));
  assert.ok(!netaddrMatches("0.0.0.0/0", "local"));
});

test("the default config relays only for local senders and accepts local recipients", () => {
  const ev = setup(
    'action "local" maildir\naction "relay" relay\nmatch for local action "local"\nmatch from local for any action "relay"\n',
  );
  assert.deepEqual(ev({ remoteAddress: "local", isSocket: true }, "u@x", "root@mx.example.org"), {
    kind: "action",
    action: "local",
    rule: 0,
  });
  assert.deepEqual(ev({ remoteAddress: "127.0.0.1" }, "u@x", "someone@gmail.example"), {
    kind: "action",
    action: "relay",
    rule: 1,
  });
  // A remote client: `match for local` means `from local` too, and relaying is refused.
  assert.deepEqual(ev({}, "u@x", "root@mx.example.org"), { kind: "reject", rule: null });
  assert.deepEqual(ev({}, "u@x", "someone@gmail.example"), { kind: "reject", rule: null });
});

test("negation, tags, auth, tls, regex, file tables, first match wins", () => {
  const ev = setup(
    [
      "table relays file:/t/relays",
      "table users file:/t/users",
      'action "a" relay',
      'action "b" mbox',
      'match from any for domain "example.org" !tls reject',
      'match from src <relays> for any action "a"',
      'match tag MSA from any auth <users> for any action "a"',
      'match from any for domain regex "^ex.*\\.net$" action "b"',
      'match from any for rcpt-to "@example.org" action "b"',
      "",
    ].join("\n"),
  );
  assert.equal(ev({}, "s@x", "u@example.org").kind, "reject");
  assert.deepEqual(ev({ isSecure: true }, "s@x", "u@example.org"), {
    kind: "action",
    action: "b",
    rule: 4,
  });
  assert.deepEqual(ev({ remoteAddress: "192.0.2.5" }, "s@x", "u@far.example"), {
    kind: "action",
    action: "a",
    rule: 1,
  });
  assert.deepEqual(ev({ remoteAddress: "2001:db8::1" }, "s@x", "u@far.example"), {
    kind: "action",
    action: "a",
    rule: 1,
  });
  assert.equal(ev({ tag: "MSA", authUser: "alice" }, "s@x", "u@far.example").kind, "reject");
  assert.deepEqual(ev({ tag: "MSA", authUser: "bob" }, "s@x", "u@far.example"), {
    kind: "action",
    action: "a",
    rule: 2,
  });
  assert.deepEqual(ev({}, "s@x", "u@example.net"), { kind: "action", action: "b", rule: 3 });
});

test("an unreadable table makes the lookup a temporary failure", () => {
  const ev = setup(
    'table gone file:/t/missing\naction "a" relay\nmatch from src <gone> for any action "a"\n',
  );
  const r = ev({}, "s@x", "u@x");
  assert.equal(r.kind, "tempfail");
});
