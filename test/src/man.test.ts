// Every man page of the workspace is clean under mandoc's linter (warnings count).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const pages = readdirSync(join(repo, "packages")).flatMap((p) => {
  const dir = join(repo, "packages", p, "man");
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.[1-8]$/.test(f))
        .map((f) => join(dir, f))
    : [];
});
const hasMandoc = spawnSync("mandoc", ["-V"]).error === undefined;

test("the man pages exist", () => {
  for (const want of ["smtpd.8", "smtpd.conf.5", "table.5"])
    assert.ok(
      pages.some((p) => p.endsWith(`/${want}`)),
      want,
    );
});

for (const page of pages) {
  test(`mandoc -Tlint ${page.slice(repo.length)}`, {
    skip: hasMandoc ? false : "mandoc not installed (ci/setup installs it)",
  }, () => {
    const r = spawnSync("mandoc", ["-Tlint", "-W", "warning", page], { encoding: "utf8" });
    assert.equal(r.stdout + r.stderr, "");
    assert.equal(r.status, 0);
  });
}
