import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAddressList } from "./header-addresses.js";

const addrs = (v: string) => {
  const r = parseAddressList(v);
  return "error" in r ? r : r.addrs;
};

test("bare, angle, display names, comments and quoted strings", () => {
  assert.deepEqual(addrs(" a@x.test, John Doe <j@x.test> (work)"), ["a@x.test", "j@x.test"]);
  assert.deepEqual(addrs('"Doe, John" <john@x.test>, bob'), ["john@x.test", "bob"]);
  assert.deepEqual(addrs("bob (Bob, the builder) , carol@x.test"), ["bob", "carol@x.test"]);
  assert.deepEqual(addrs('"odd local"@x.test'), ['"odd local"@x.test']);
  assert.deepEqual(addrs("<@relay.test:u@x.test>"), ["u@x.test"]);
  assert.deepEqual(addrs("u@[IPv6:::1]"), ["u@[IPv6:::1]"]);
});

test("groups: members are kept, empty groups give nothing", () => {
  assert.deepEqual(addrs("undisclosed-recipients:;"), []);
  assert.deepEqual(addrs("team: a@x.test, b@x.test;, c@x.test"), [
    "a@x.test",
    "b@x.test",
    "c@x.test",
  ]);
});

test("folded values and unterminated syntax", () => {
  assert.deepEqual(addrs(" a@x.test,\n\tb@x.test"), ["a@x.test", "b@x.test"]);
  assert.deepEqual(addrs('"open'), { error: "syntax error in address" });
  assert.deepEqual(addrs("a (open"), { error: "syntax error in address" });
  assert.deepEqual(addrs("<a@x.test"), { error: "syntax error in address" });
});
