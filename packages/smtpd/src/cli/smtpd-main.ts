// Entry point of the bundled `smtpd` program.
import { main } from "./smtpd.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`smtpd: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
