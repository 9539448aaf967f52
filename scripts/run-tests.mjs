// Runs the compiled tests (dist/**/*.test.js) of the workspace, or of the packages named on
// the command line, in one node:test run, so a run ends with one closing summary.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
const all = ["packages/compat", "packages/asr", "packages/smtpd", "packages/extras", "test"];
const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith("--"));
const named = args.filter((a) => !a.startsWith("--"));
const pkgs = named.length > 0 ? named.map((p) => resolve(p)) : all.map((p) => join(root, p));

function walk(dir, out) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const files = pkgs
  .flatMap((p) => (existsSync(join(p, "dist")) ? walk(join(p, "dist"), []) : []))
  .sort();
if (files.length === 0) {
  console.error("run-tests: no compiled tests found; run `npm run build` first");
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--test", ...flags, ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
