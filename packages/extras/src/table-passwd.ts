// table-passwd: the smtpd-tables(7) program serving a passwd(5)-format file (table-passwd(5)).
// smtpd runs it as `execl(libexec/table-passwd, argv0=<table name>, argv1=<file>)`; through a
// `#!/usr/bin/env node` bundle argv0 is lost, so an explicit `NAME FILE` pair is accepted too.

import { PasswdBackend, parsePasswdArgs } from "./passwd-backend.js";
import { runTableProgram } from "./table-server.js";

const PROGRAM = "table-passwd";

async function main(): Promise<void> {
  const args = parsePasswdArgs(process.argv.slice(2));
  if (args.kind === "usage") {
    process.stderr.write(
      `${PROGRAM}: ${args.reason}\nusage: ${PROGRAM} [tablename] /path/to/passwd\n`,
    );
    process.exit(1);
  }
  const name = args.tableName === undefined ? PROGRAM : `${PROGRAM}[${args.tableName}]`;
  const backend = await PasswdBackend.open(args.path);
  if (!(backend instanceof PasswdBackend)) {
    process.stderr.write(`${name}: error parsing config file: ${backend.reason}\n`);
    process.exit(1);
  }
  await runTableProgram(PROGRAM, backend);
}

main().catch((e: unknown) => {
  process.stderr.write(`${PROGRAM}: fatal: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
