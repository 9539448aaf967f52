import assert from "node:assert/strict";
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { offlineArgs, scanOffline, smtpctlBeside } from "./offline.js";

const tmp = mkdtempSync(join(tmpdir(), "facteur-offline-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("the smtpctl program beside the daemon's entry point", () => {
  assert.equal(smtpctlBeside("/p/bin/smtpd.cjs"), "/p/bin/smtpctl.cjs");
  assert.equal(smtpctlBeside("/p/bundle/smtpd.cjs"), "/p/bundle/smtpctl.cjs");
  assert.equal(smtpctlBeside("/p/dist/cli/smtpd-main.js"), "/p/dist/cli/smtpctl-main.js");
  assert.equal(smtpctlBeside("/usr/sbin/facteur"), "/usr/sbin/smtpctl");
});

test("argument lines split on |", () => {
  assert.deepEqual(offlineArgs("-t|-f|a@b"), ["-t", "-f", "a@b"]);
  assert.deepEqual(offlineArgs(""), []);
});

test("scan: regular files at depth 1 only; empty files removed", () => {
  const dir = join(tmp, "offline");
  mkdirSync(dir);
  writeFileSync(join(dir, "1.a"), "u\nmsg\n");
  writeFileSync(join(dir, "2.empty"), "");
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "sub", "3.deep"), "u\nmsg\n");
  symlinkSync(join(dir, "1.a"), join(dir, "4.link"));
  writeFileSync(join(tmp, "outside"), "u\nmsg\n");
  linkSync(join(tmp, "outside"), join(dir, "5.hard")); // refused later: two links
  const names = scanOffline(dir).map((c) => c.path.slice(dir.length + 1));
  assert.deepEqual(names.sort(), ["1.a", "5.hard"]);
  assert.ok(!readdirSync(dir).includes("2.empty"));
});
