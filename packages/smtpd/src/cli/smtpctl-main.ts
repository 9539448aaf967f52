// Entry point of the bundled `smtpctl` program.
import { smtpctlMain } from "./smtpctl.js";

smtpctlMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`smtpctl: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
