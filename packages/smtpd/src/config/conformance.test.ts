// The real-world conformance corpus through the built program (`smtpd -n --syntax -f FILE`),
// with the verdicts OpenSMTPD 7.8 and 6.8 give (testdata/conformance/README.md).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const pkg = fileURLToPath(new URL("../../", import.meta.url));
const dir = join(pkg, "testdata/conformance");
const smtpd = join(pkg, "bin/smtpd.cjs");

function run(file: string, ...extra: string[]) {
  const r = spawnSync(process.execPath, [smtpd, "-n", "--syntax", ...extra, "-f", file], {
    cwd: dir,
    encoding: "utf8",
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const accepted = readdirSync(dir).filter((f) => f.endsWith(".conf") && !f.includes("REJECT"));

test("the corpus is all there", () => {
  assert.equal(accepted.length, 10);
});

for (const f of accepted) {
  test(`${f}: configuration OK`, () => {
    const r = run(f);
    assert.equal(r.err, "configuration OK\n");
    assert.equal(r.code, 0);
  });
}

test("19-macros: -D overrides the file's macros", () => {
  const r = run(
    "19-macros-postgres-lmtp.conf",
    "-D",
    "ip4=192.0.2.1",
    "-D",
    "ip6=2001:db8::1",
    "-v",
  );
  assert.equal(r.code, 0);
  assert.match(
    r.out,
    /^listen on "192\.0\.2\.1" port 25 tls pki "waltuh\.cyou" auth-optional mask-src senders <users>/m,
  );
  assert.match(
    r.out,
    /^listen on "2001:db8::1" port 587 tls-require pki "waltuh\.cyou" auth <creds>/m,
  );
  assert.doesNotMatch(r.out, /178\.xx/);
});

test("28: a duplicate table name is fatal", () => {
  const r = run("28-REJECT-duplicate-table.conf");
  assert.equal(r.code, 1);
  assert.equal(r.err, '28-REJECT-duplicate-table.conf:10: table "aliases" already defined\n');
});

test("29: pre-6.4 grammar fails on lines 2 and 10, naming the replacements, then no rules", () => {
  const r = run("29-REJECT-legacy-accept-grammar.conf");
  assert.equal(r.code, 1);
  const lines = r.err.trimEnd().split("\n");
  assert.equal(lines.length, 3);
  assert.match(
    lines[0]!,
    /^29-REJECT-legacy-accept-grammar\.conf:2: syntax error: .*"certificate".*cert/,
  );
  assert.match(
    lines[1]!,
    /^29-REJECT-legacy-accept-grammar\.conf:10: syntax error: .*"expire".*queue ttl/,
  );
  assert.equal(lines[2], "29-REJECT-legacy-accept-grammar.conf: no rules, nothing to do");
});
