import assert from "node:assert/strict";
import { test } from "node:test";
import { expandFormat, type FormatFacts, sanitize } from "./format.js";

const f: FormatFacts = {
  sender: "Alice@Example.ORG",
  rcpt: "bob+lists@example.net",
  dest: "bob@example.net",
  username: "bob",
  directory: "/home/bob",
  mboxFrom: "Alice@Example.ORG",
  subAddrDelim: "+",
};
const ok = (fmt: string) => {
  const r = expandFormat(fmt, f);
  assert.ok(r.ok, fmt);
  return r.value;
};

test("tokens, parts and the home shortcut", () => {
  assert.equal(ok("~/Maildir"), "/home/bob/Maildir");
  assert.equal(ok("%{user.directory}/Mail/%{rcpt.domain}"), "/home/bob/Mail/example.net");
  assert.equal(
    ok("%{sender.user}|%{dest.user}|%{user.username}"),
    "Alice:bob:bob".replace(/:/g, "|"),
  );
  assert.equal(ok("100%%"), "100%");
});

test("modifiers and substrings", () => {
  assert.equal(ok("%{sender:lowercase}"), "alice@example.org");
  assert.equal(ok("%{sender.domain:uppercase}"), "EXAMPLE.ORG");
  assert.equal(ok("%{rcpt:strip}"), "bob@example.net");
  assert.equal(ok("%{rcpt.user:strip}"), "bob");
  assert.equal(ok("%{rcpt.domain[0]}"), "e");
  assert.equal(ok("%{rcpt.domain[7:]}"), ":net"); // never a leading dot
  assert.equal(ok("%{rcpt.domain[7:]:raw}"), ".net");
  assert.equal(ok("%{rcpt.domain[-3:]}"), "net");
  assert.equal(ok("%{rcpt.domain[0:6]}"), "example");
});

test("addresses are sanitised unless raw; user facts are not", () => {
  const evil = { ...f, rcpt: "a`id`$(x);b/../c@h" };
  const r = expandFormat("/var/mail/%{rcpt.user}", evil);
  assert.ok(r.ok);
  assert.equal(r.value, "/var/mail/a:id:::x::b:..:c");
  const raw = expandFormat("%{rcpt.user:raw}", evil);
  assert.ok(raw.ok);
  assert.equal(raw.value, "a`id`$(x);b/../c");
  assert.equal(sanitize(".."), ":.");
  assert.equal(sanitize("jo.é@x"), "jo.é@x");
});

test("bad specifiers are errors, never passed through", () => {
  for (const bad of ["%{nope}", "%{rcpt", "%{rcpt:shout}", "%{rcpt[x]}", "%x", "%{user.shell}"])
    assert.equal(expandFormat(bad, f).ok, false, bad);
});
