import assert from "node:assert/strict";
import { test } from "node:test";
import { type PathOptions, parsePath, pathToString } from "./address.js";

const S: PathOptions = { role: "sender", smtputf8: false, defaultDomain: "mx.test" };
const R: PathOptions = { role: "recipient", smtputf8: false, defaultDomain: "mx.test" };
const U: PathOptions = { ...R, smtputf8: true };

const okCases: [string, PathOptions, string, string][] = [
  ["<a@b.test>", S, "a@b.test", ""],
  [" <a@b.test> SIZE=1", S, "a@b.test", "SIZE=1"],
  ["<>", S, "", ""],
  ["<user>", S, "user@mx.test", ""],
  ["<Postmaster>", R, "Postmaster@mx.test", ""],
  ['<"john doe"@b.test>', R, '"john doe"@b.test', ""],
  ['<"john"@b.test>', R, "john@b.test", ""],
  ['<"a\\"b"@b.test>', R, '"a\\"b"@b.test', ""],
  ['<"a@b>c"@b.test>', R, '"a@b>c"@b.test', ""],
  ["<@r1.test,@r2.test:u@b.test>", R, "u@b.test", ""],
  ["<u@[192.0.2.1]>", R, "u@[192.0.2.1]", ""],
  ["<u@[IPv6:::1]>", R, "u@[IPv6:::1]", ""],
  ["<|touch$" + "{IFS}x@b.test>", R, "|touch$" + "{IFS}x@b.test", ""],
  ["<u@sub_domain.test>", R, "u@sub_domain.test", ""],
  ["<jöe@exämple.test>", U, "jöe@exämple.test", ""],
  ["<" + "a".repeat(64) + "@b.test>", R, "a".repeat(64) + "@b.test", ""],
];

test("valid paths", () => {
  for (const [text, o, want, params] of okCases) {
    const r = parsePath(text, o);
    assert.equal(r.kind, "ok", text);
    if (r.kind === "ok") {
      assert.equal(pathToString(r.path), want, text);
      assert.equal(r.params, params, text);
    }
  }
});

const badCases: [string, PathOptions, string][] = [
  ["a@b.test", S, "553 5.1.7"],
  ["<a@b.test", S, "553 5.1.7"],
  ["<>", R, "553 5.1.3"],
  ["<a@>", R, "553 5.1.3"],
  ["<@b.test>", R, "553 5.1.3"],
  ["<.a@b.test>", R, "553 5.1.3"],
  ["<a.@b.test>", R, "553 5.1.3"],
  ["<a b@b.test>", R, "553 5.1.3"],
  ["<;sleep 66;>", S, "553 5.1.7"],
  ["<a@-b.test>", R, "553 5.1.3"],
  ["<a@b..test>", R, "553 5.1.3"],
  ["<a@[1.2.3]>", R, "553 5.1.3"],
  ["<a@[IPv6:zz]>", R, "553 5.1.3"],
  ["<a@[tag:stuff]>", R, "553 5.1.3"],
  ["<a\r@b.test>", R, "553 5.1.3"],
  ["<a\0@b.test>", R, "553 5.1.3"],
  ['<"a\nb"@b.test>', R, "553 5.1.3"],
  ["<" + "a".repeat(65) + "@b.test>", R, "553 5.1.3"],
  ["<a@" + "b".repeat(60) + "." + ("c".repeat(60) + ".").repeat(4) + "test>", R, "553 5.1.3"],
  ["<a@b.test>x", R, "553 5.1.3"],
  ["<a@b<c.test>", R, "553 5.1.3"],
  ["<jöe@b.test>", R, "553 5.6.7"],
  ["<joe@bü.test>", S, "553 5.6.7"],
  ["<@b.test:>", R, "553 5.1.3"],
];

test("invalid paths get a reply, never a fix-up", () => {
  for (const [text, o, want] of badCases) {
    const r = parsePath(text, o);
    assert.equal(r.kind, "error", JSON.stringify(text));
    if (r.kind === "error")
      assert.equal(`${r.reply.code} ${r.reply.esc}`, want, JSON.stringify(text));
  }
});
