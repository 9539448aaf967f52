// Entry point of the `asr` command (bundled to CommonJS by esbuild: no import.meta here).
// Arguments and output are handled in cli-main.ts.

import { main } from "./cli-main.js";

main(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`asr: internal error: ${String(e)}\n`);
    process.exitCode = 70;
  },
);
