import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { checkTable, makemapMain, newaliasesMain, splitTargets } from "./makemap.js";

const tmp = mkdtempSync(join(tmpdir(), "facteur-makemap-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const io = (stdin = "") => {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (s: string) => void out.push(s),
      stderr: (s: string) => void err.push(s),
      readStdin: () => stdin,
    },
  };
};

test("alias targets split on commas outside quotes", () => {
  assert.deepEqual(splitTargets('a, "|cmd x,y", /f'), ["a", "|cmd x,y", "/f"]);
});

test("checkTable: maps, sets, aliases, duplicates", () => {
  assert.deepEqual(checkTable("a b\nc: d\n", "t", "plain"), {
    ok: true,
    entries: [
      ["a", "b"],
      ["c", "d"],
    ],
  });
  assert.deepEqual(checkTable("a\nb\n", "t", "set"), {
    ok: true,
    entries: [
      ["a", null],
      ["b", null],
    ],
  });
  assert.equal(checkTable("a\nb\n", "t", "plain").ok, false);
  assert.deepEqual(checkTable("a b\nA c\n", "t", "plain"), {
    ok: false,
    errors: ["t: duplicate entry for A"],
  });
  assert.deepEqual(checkTable("root: u, , v\npm: |\n", "al", "aliases"), {
    ok: false,
    errors: [
      "al: invalid entry for root: empty target: ",
      "al: invalid entry for pm: empty command: |",
    ],
  });
  assert.equal(
    checkTable('x: u@d, "|/bin/cmd a", /var/f, error:550 no\n', "al", "aliases").ok,
    true,
  );
});

test("makemap checks a file and writes nothing; -U dumps; sendmail's form reads stdin", () => {
  const f = join(tmp, "secrets");
  writeFileSync(f, "# comment\nuser pass\n");
  let r = io();
  assert.equal(makemapMain([f], r.io), 0);
  assert.match(r.err.join(""), /1 entries OK; smtpd reads this file itself/);
  r = io();
  assert.equal(makemapMain(["-U", f], r.io), 0);
  assert.deepEqual(r.out, ["user\tpass\n"]);
  r = io("a b\nc\n");
  assert.equal(makemapMain(["hash", "/etc/mail/x"], r.io), 65);
  assert.match(r.err.join(""), /<stdin>:2: invalid entry/);
  r = io();
  assert.equal(makemapMain(["-d", "cdb", f], r.io), 64);
  assert.equal(makemapMain([join(tmp, "none")], io().io), 66);
});

test("newaliases checks the aliases table of the configuration and asks smtpd to reload", async () => {
  const al = join(tmp, "aliases");
  writeFileSync(al, "root: u\npostmaster: root\n");
  const conf = join(tmp, "smtpd.conf");
  writeFileSync(
    conf,
    `table aliases file:${al}\naction "l" maildir alias <aliases>\nmatch for local action "l"\n`,
  );
  const asked: string[] = [];
  let r = io();
  const ok = {
    update: async (s: string) => {
      asked.push(s);
      return { ok: true, text: "" };
    },
  };
  assert.equal(await newaliasesMain(["--root", tmp, "-f", conf], r.io, ok), 0);
  assert.deepEqual(r.out, [`${al}: 2 aliases\n`]);
  assert.deepEqual(asked, [join(tmp, "smtpd.sock")]);

  r = io();
  const down = {
    update: async () => {
      throw Object.assign(new Error("connect ENOENT"), { code: "ENOENT" });
    },
  };
  assert.equal(await newaliasesMain(["-f", conf], r.io, down), 0);
  r = io();
  const old = {
    update: async () => ({ ok: false, text: "command not supported: update table aliases\n" }),
  };
  assert.equal(await newaliasesMain(["-f", conf], r.io, old), 0);
  assert.match(r.err.join(""), /cannot reload a table yet/);

  writeFileSync(al, "root: u\nroot: v\n");
  r = io();
  assert.equal(await newaliasesMain(["-f", conf], r.io, ok), 65);
  assert.match(r.err.join(""), /duplicate entry for root/);
  assert.equal(await newaliasesMain(["-f", join(tmp, "nope.conf")], io().io, ok), 78);
});
