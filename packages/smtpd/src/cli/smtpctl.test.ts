import assert from "node:assert/strict";
import { test } from "node:test";
import { expandCommand } from "./smtpctl.js";

test("commands expand from unambiguous prefixes, as OpenSMTPD's smtpctl", () => {
  assert.deepEqual(expandCommand(["sh", "q"]), ["show", "queue"]);
  assert.deepEqual(expandCommand(["show", "status"]), ["show", "status"]);
  assert.deepEqual(expandCommand(["s", "e", "0123456789abcdef"]), [
    "show",
    "envelope",
    "0123456789abcdef",
  ]);
  assert.deepEqual(expandCommand(["show", "st"]), { error: "ambiguous command: show st" });
  assert.deepEqual(expandCommand(["frobnicate"]), { error: "invalid command: frobnicate" });
  assert.deepEqual(expandCommand(["show"]), { error: "incomplete command: show" });
});
