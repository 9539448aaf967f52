// Runs every compiled test of the workspace in one node:test run, so the suite ends with
// one closing summary. Test files are dist/**/*.test.js of each package and of test/.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const dirs = ["packages/compat", "packages/asr", "packages/smtpd", "packages/extras", "test"]
  .map((d) => `${d}/dist`)
  .filter((d) => existsSync(d));
const extra = process.argv.slice(2);
const r = spawnSync(process.execPath, ["--test", ...extra, ...dirs], { stdio: "inherit" });
process.exit(r.status ?? 1);
