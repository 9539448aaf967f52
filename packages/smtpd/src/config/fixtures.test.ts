// smtpd -n --syntax on the project's fixtures: every good/*.conf is accepted, every
// bad/*.conf gives exactly the messages of its .err file, and every accepted config prints
// back to a canonical form that parses to the same tree. Only the full check reads included
// files, so bad/include-*.conf run without --syntax.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { checkConfig, parseArgs, type SmtpdArgs } from "../cli/smtpd.js";
import { parseConfig } from "./parser.js";
import { printConfig } from "./printer.js";
import { stripPos } from "./test-util.js";

const testdata = fileURLToPath(new URL("../../testdata/", import.meta.url));

async function runCheck(
  argv: string[],
  cwd: string,
): Promise<{ code: number; out: string; err: string }> {
  const a = parseArgs(argv);
  assert.ok(!("error" in a) && !("help" in a));
  let out = "";
  let err = "";
  const prev = process.cwd();
  process.chdir(cwd);
  try {
    const code = await checkConfig(
      a as SmtpdArgs,
      (s) => (out += s),
      (s) => (err += s),
    );
    return { code, out, err };
  } finally {
    process.chdir(prev);
  }
}

const confs = (dir: string) =>
  readdirSync(join(testdata, dir))
    .filter((f) => f.endsWith(".conf"))
    .sort();

for (const f of confs("good")) {
  test(`good/${f} is accepted and round-trips`, async () => {
    const r = await runCheck(["-n", "--syntax", "-v", "-f", f], join(testdata, "good"));
    assert.equal(r.err, "configuration OK\n");
    assert.equal(r.code, 0);
    const first = parseConfig(readFileSync(join(testdata, "good", f), "utf8"), { file: f });
    const again = parseConfig(r.out, { file: "printed" });
    assert.deepEqual(again.diagnostics, []);
    assert.deepEqual(stripPos(again.config), stripPos(first.config));
    assert.equal(printConfig(again.config), r.out);
  });
}

for (const f of confs("bad")) {
  test(`bad/${f} gives the messages of its .err file`, async () => {
    const expected = readFileSync(join(testdata, "bad", f.replace(/\.conf$/, ".err")), "utf8");
    const mode = f.startsWith("include-") ? [] : ["--syntax"];
    const r = await runCheck(["-n", ...mode, "-f", f], join(testdata, "bad"));
    assert.equal(r.err, expected);
    assert.equal(r.code, 1);
    assert.equal(r.out, "");
  });
}
