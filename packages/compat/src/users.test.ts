import assert from "node:assert/strict";
import { test } from "node:test";
import { getpwnam, parsePasswdLine } from "./users.js";

test("passwd lines parse; bad ones are refused", () => {
  assert.deepEqual(parsePasswdLine("bob:x:1000:100:Bob:/home/bob:/bin/sh"), {
    name: "bob",
    uid: 1000,
    gid: 100,
    home: "/home/bob",
    shell: "/bin/sh",
  });
  assert.equal(parsePasswdLine("bob:x:abc:100:Bob:/home/bob:/bin/sh"), null);
  assert.equal(parsePasswdLine("short:x"), null);
});

test("getpwnam finds root and not a name that cannot exist", () => {
  const r = getpwnam("root");
  assert.equal(r?.uid, 0);
  assert.equal(getpwnam("no-such-user-facteur-x"), null);
  assert.equal(getpwnam("a:b"), null);
});
