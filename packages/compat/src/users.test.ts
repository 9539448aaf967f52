import assert from "node:assert/strict";
import { test } from "node:test";
import { getlogin, getpwnam, getpwnamAsync, getpwuid, parsePasswdLine } from "./users.js";

test("passwd lines parse; bad ones are refused", () => {
  assert.deepEqual(parsePasswdLine("bob:x:1000:100:Bob:/home/bob:/bin/sh"), {
    name: "bob",
    uid: 1000,
    gid: 100,
    home: "/home/bob",
    shell: "/bin/sh",
    gecos: "Bob",
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

test("getpwuid finds root by uid; a uid nobody has is not found", () => {
  assert.equal(getpwuid(0)?.name, "root");
  assert.equal(getpwuid(2_000_000_123), null);
  assert.equal(getpwuid(-1), null);
});

test("getlogin reads the login uid; none, unset (-1) or garbage give null", () => {
  assert.equal(
    getlogin(() => "0\n"),
    "root",
  );
  assert.equal(
    getlogin(() => "4294967295"),
    null,
  );
  assert.equal(
    getlogin(() => "x"),
    null,
  );
  assert.equal(
    getlogin(() => {
      throw new Error("ENOENT");
    }),
    null,
  );
});

test("getpwnamAsync: found, not found, and one lookup per name while cached", async () => {
  const root = await getpwnamAsync("root");
  assert.equal(root?.uid, 0);
  assert.equal(await getpwnamAsync("no-such-user-facteur-x"), null);
  assert.equal(await getpwnamAsync("a:b"), null);
  const t = Date.now();
  assert.equal(getpwnamAsync("root", t), getpwnamAsync("root", t), "the cached promise");
});
