import assert from "node:assert/strict";
import { test } from "node:test";
import { expandCommand, showAsJson } from "./smtpctl.js";

test("commands expand from unambiguous prefixes, as OpenSMTPD's smtpctl", () => {
  assert.deepEqual(expandCommand(["sh", "q"]), ["show", "queue"]);
  assert.deepEqual(expandCommand(["show", "status"]), ["show", "status"]);
  assert.deepEqual(expandCommand(["sh", "e", "0123456789abcdef"]), [
    "show",
    "envelope",
    "0123456789abcdef",
  ]);
  // `s` is show or schedule, as in OpenSMTPD.
  assert.deepEqual(expandCommand(["s", "q"]), { error: "ambiguous command: s" });
  assert.deepEqual(expandCommand(["sch", "all"]), ["schedule", "all"]);
  assert.deepEqual(expandCommand(["p", "e", "all"]), ["pause", "envelope", "all"]);
  assert.deepEqual(expandCommand(["res", "smtp"]), ["resume", "smtp"]);
  assert.deepEqual(expandCommand(["show", "st"]), { error: "ambiguous command: show st" });
  assert.deepEqual(expandCommand(["frobnicate"]), { error: "invalid command: frobnicate" });
  assert.deepEqual(expandCommand(["show"]), { error: "incomplete command: show" });
});

test("--json for show status, stats and envelope", () => {
  assert.deepEqual(showAsJson("status", "MDA running\nMTA paused\nSMTP running\n"), {
    mda: "running",
    mta: "paused",
    smtp: "running",
  });
  assert.deepEqual(showAsJson("stats", "uptime=5\nuptime.human=0 days\nqueue.envelope=2\n"), {
    uptime: 5,
    "uptime.human": "0 days",
    "queue.envelope": 2,
  });
  assert.deepEqual(showAsJson("envelope", "version: 3\nsender: a@b\n"), {
    version: "3",
    sender: "a@b",
  });
});
