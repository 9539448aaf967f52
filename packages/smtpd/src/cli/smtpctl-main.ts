// Entry point of the bundled `smtpctl` program, which is also sendmail, send-mail, mailq,
// newaliases and makemap, by the name it is run as (multicall.ts).
import { multicallMain, programName } from "./multicall.js";

const name = programName(process.argv0, process.argv[1]);
multicallMain(name, process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${name}: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = name === "smtpctl" ? 1 : 70;
  },
);
