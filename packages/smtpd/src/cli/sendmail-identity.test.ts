import assert from "node:assert/strict";
import { test } from "node:test";
import type { Passwd } from "@facteur/compat";
import { gecosName, type IdentityPorts, qualify, senderIdentity } from "./sendmail-identity.js";

const pw = (name: string, uid: number, gecos = ""): Passwd => ({
  name,
  uid,
  gid: uid,
  home: `/home/${name}`,
  shell: "/bin/sh",
  gecos,
});
const users = [pw("root", 0), pw("alice", 1000, "Alice Smith,,,"), pw("bob", 1001, "& Builder")];
const ports = (uid: number, login: string | null): IdentityPorts => ({
  uid,
  getlogin: () => login,
  getpwnam: (n) => users.find((u) => u.name === n) ?? null,
  getpwuid: (u) => users.find((x) => x.uid === u) ?? null,
});

test("the login name is used when it is the real uid's or root runs sendmail", () => {
  assert.equal(senderIdentity(false, ports(1000, "alice")).user, "alice");
  assert.equal(senderIdentity(false, ports(0, "alice")).user, "alice"); // su/sudo to root
});

test("a login name that is not the caller's gives way to the real uid", () => {
  assert.equal(senderIdentity(false, ports(1001, "alice")).user, "bob");
  assert.equal(senderIdentity(false, ports(1000, null)).user, "alice");
  assert.equal(senderIdentity(false, ports(1000, "ghost")).user, "alice");
});

test("-S takes the real uid even for root with a login name (the getlogin fix)", () => {
  assert.equal(senderIdentity(true, ports(0, "alice")).user, "root");
  assert.deepEqual(senderIdentity(true, ports(4242, "alice")), { user: "anonymous", pw: null });
  assert.deepEqual(senderIdentity(false, ports(4242, null)), { user: "anonymous", pw: null });
});

test("full names from GECOS, & standing for the capitalized user name", () => {
  assert.equal(gecosName(users[1]!), "Alice Smith");
  assert.equal(gecosName(users[2]!), "Bob Builder");
  assert.equal(gecosName(users[0]!), "");
});

test("qualify adds the mail name to a bare user, never to the null sender", () => {
  assert.equal(qualify("u", "h.test"), "u@h.test");
  assert.equal(qualify("u@x", "h.test"), "u@x");
  assert.equal(qualify("", "h.test"), "");
});
