import assert from "node:assert/strict";
import { test } from "node:test";
import { programName } from "./multicall.js";

test("the program is argv[0] when it names one, else the script's name, else smtpctl", () => {
  assert.equal(programName("sendmail", "/usr/lib/facteur/smtpctl.cjs"), "sendmail");
  assert.equal(programName("/usr/sbin/newaliases", "/usr/sbin/smtpctl"), "newaliases");
  assert.equal(programName("node", "/usr/local/bin/mailq"), "mailq");
  assert.equal(programName("node", "/x/node_modules/.bin/send-mail"), "send-mail");
  assert.equal(programName("node", "/x/bin/makemap.cjs"), "makemap");
  assert.equal(programName("node", "/x/bundle/smtpctl.cjs"), "smtpctl");
  assert.equal(programName("node", "/x/dist/cli/smtpctl-main.js"), "smtpctl");
  assert.equal(programName("node", undefined), "smtpctl");
});
