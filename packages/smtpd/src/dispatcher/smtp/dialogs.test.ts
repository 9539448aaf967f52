// Runs every testdata/*.dialog scenario against the session core with fake ports.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runDialog } from "./test-util.js";

// Tests run from dist/; the scenarios stay in src/.
const dir = fileURLToPath(new URL("../../../src/dispatcher/smtp/testdata/", import.meta.url));

for (const name of readdirSync(dir)
  .filter((f) => f.endsWith(".dialog"))
  .sort()) {
  test(`dialog ${name}`, async () => {
    const { problems } = await runDialog(readFileSync(dir + name, "utf8"));
    assert.deepEqual(problems, []);
  });
}
