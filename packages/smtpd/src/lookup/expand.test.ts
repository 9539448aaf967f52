import assert from "node:assert/strict";
import { test } from "node:test";
import { buildModel } from "../config/model.js";
import { parseConfig } from "../config/parser.js";
import { type ExpandEnv, expandRecipient, splitAliasValue, type UserInfo } from "./expand.js";
import { LOCAL_SESSION } from "./role.js";
import { evaluateRules } from "./rules.js";
import { TableStore } from "./tables.js";

const USERS = new Set(["alice", "bob", "carol"]);
const pw = (name: string): UserInfo | null =>
  USERS.has(name) ? { name, uid: 1000, gid: 1000, home: `/home/${name}`, shell: "/bin/sh" } : null;

function env(conf: string, files: Record<string, string> = {}): ExpandEnv {
  const r = parseConfig(conf, { file: "t.conf" });
  assert.ok(r.ok, JSON.stringify(r));
  const model = buildModel(r.config, "mx.test");
  const tables = new TableStore(model, (p) => files[p] ?? "");
  return {
    actions: model.actions,
    tables,
    getpwnam: pw,
    route: (address) => {
      const o = evaluateRules(model.rules, LOCAL_SESSION, { sender: "", rcpt: address }, tables);
      return o.kind === "action"
        ? { action: o.action }
        : o.kind === "reject"
          ? { reject: "no rule" }
          : { tempfail: o.reason };
    },
    subAddrDelim: "+",
    aliasUser: "_smtpd",
    readFile: (p) => {
      const t = files[p];
      if (t === undefined) throw new Error("ENOENT");
      return t;
    },
  };
}

const CONF = `
table aliases { "root" = "alice", "team" = "alice, bob, |/usr/bin/logger, /var/log/team.mbox", "loop1" = "loop2", "loop2" = "loop1", "out" = "someone@remote.test", "inc" = ":include:/etc/inc", "self" = "bob, self" }
table virt { "info@v.test" = "carol", "@v.test" = "bob", "fwd@v.test" = "alice@local.test, x@remote.test" }
action "local" maildir alias <aliases>
action "virt" maildir virtual <virt>
action "relay" relay
action "vmail" maildir "/var/vmail/%{rcpt.domain}" user vmail
match from any for domain "local.test" action "local"
match from any for domain "v.test" action "virt"
match from any for domain "vm.test" action "vmail"
match from any for any action "relay"
`;

test("users, sub-addresses and unknown users", async () => {
  const e = env(CONF);
  assert.deepEqual(await expandRecipient(e, "local", "Bob+news@local.test"), {
    kind: "ok",
    deliveries: [{ kind: "mailbox", action: "local", user: "bob", dest: "Bob+news@local.test" }],
  });
  const r = await expandRecipient(e, "local", "nobody@local.test");
  assert.equal(r.kind, "permfail");
});

test("aliases: users, commands, files, remote addresses, includes, loops", async () => {
  const e = env(CONF, { "/etc/inc": "# members\ncarol\nbob, alice\n" });
  const team = await expandRecipient(e, "local", "team@local.test");
  assert.equal(team.kind, "ok");
  if (team.kind !== "ok") return;
  assert.deepEqual(
    team.deliveries.map((d) => [
      d.kind,
      "user" in d ? d.user : "",
      d.kind === "command" ? d.command : d.kind === "file" ? d.path : "",
    ]),
    [
      ["mailbox", "alice", ""],
      ["mailbox", "bob", ""],
      ["command", "_smtpd", "/usr/bin/logger"],
      ["file", "_smtpd", "/var/log/team.mbox"],
    ],
  );
  const root = await expandRecipient(e, "local", "root@local.test");
  assert.ok(
    root.kind === "ok" && root.deliveries.length === 1 && root.deliveries[0]!.kind === "mailbox",
  );
  const out = await expandRecipient(e, "local", "out@local.test");
  assert.deepEqual(out, {
    kind: "ok",
    deliveries: [{ kind: "relay", action: "relay", dest: "someone@remote.test" }],
  });
  const inc = await expandRecipient(e, "local", "inc@local.test");
  assert.ok(inc.kind === "ok");
  assert.deepEqual(inc.deliveries.map((d) => ("user" in d ? d.user : "")).sort(), [
    "alice",
    "bob",
    "carol",
  ]);
  const self = await expandRecipient(e, "local", "self@local.test");
  assert.ok(self.kind === "ok");
  assert.equal(self.deliveries.length, 1); // bob; "self" names itself and is not a user
  assert.equal((await expandRecipient(e, "local", "loop1@local.test")).kind, "permfail");
});

test("virtual: OpenSMTPD's lookup order and forwarding", async () => {
  const e = env(CONF);
  const info = await expandRecipient(e, "virt", "info@v.test");
  assert.ok(
    info.kind === "ok" && "user" in info.deliveries[0]! && info.deliveries[0].user === "carol",
  );
  const any = await expandRecipient(e, "virt", "whoever@v.test");
  assert.ok(any.kind === "ok" && "user" in any.deliveries[0]! && any.deliveries[0].user === "bob");
  const fwd = await expandRecipient(e, "virt", "fwd@v.test");
  assert.ok(fwd.kind === "ok");
  assert.deepEqual(
    fwd.deliveries.map((d) => [d.kind, d.action]),
    [
      ["mailbox", "local"],
      ["relay", "relay"],
    ],
  );
});

test("`user` on the action: any local part, delivered as that user", async () => {
  const e = env(CONF);
  assert.deepEqual(await expandRecipient(e, "vmail", "anyone@vm.test"), {
    kind: "ok",
    deliveries: [{ kind: "mailbox", action: "vmail", user: "vmail", dest: "anyone@vm.test" }],
  });
});

test("~/.forward: forwarding, keeping a copy with \\user, commands run as the user", async () => {
  const e = env(CONF);
  const forwards: Record<string, string> = {
    alice: "# mine\n\\alice, bob\n|/usr/bin/vacation alice\n",
    bob: "bob@elsewhere.test",
  };
  const withForward: ExpandEnv = { ...e, forward: async (pw) => forwards[pw.name] ?? null };
  const r = await expandRecipient(withForward, "local", "alice@local.test");
  assert.ok(r.kind === "ok", JSON.stringify(r));
  assert.deepEqual(
    r.deliveries.map((d) => [d.kind, "user" in d ? d.user : d.dest]),
    [
      ["mailbox", "alice"],
      ["relay", "bob@elsewhere.test"],
      ["command", "alice"],
    ],
  );
  const temp = await expandRecipient(
    { ...e, forward: async () => ({ tempfail: "io" }) },
    "local",
    "carol@local.test",
  );
  assert.equal(temp.kind, "tempfail");
});

test("forward-only and expand-only accept only what expands away from them", async () => {
  const e = env(`
table fw { "out" = "x@remote.test", "mix" = "x@remote.test, bob", "pipe" = "|/bin/true" }
action "relay" relay
action "fo" forward-only alias <fw>
action "eo" expand-only alias <fw>
match from any for domain "fo.test" action "fo"
match from any for domain "eo.test" action "eo"
match from any for any action "relay"
`);
  assert.equal((await expandRecipient(e, "fo", "out@fo.test")).kind, "ok");
  assert.equal((await expandRecipient(e, "fo", "mix@fo.test")).kind, "permfail");
  assert.equal((await expandRecipient(e, "fo", "bob@fo.test")).kind, "permfail");
  assert.equal((await expandRecipient(e, "eo", "pipe@eo.test")).kind, "ok");
  assert.equal((await expandRecipient(e, "eo", "out@eo.test")).kind, "ok");
  assert.equal((await expandRecipient(e, "eo", "bob@eo.test")).kind, "permfail");
});

test("alias values split on commas outside quotes", async () => {
  assert.deepEqual(splitAliasValue(' a, "|cmd a,b" ,  /f ,'), ["a", "|cmd a,b", "/f"]);
});
