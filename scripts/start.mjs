#!/usr/bin/env node
// `npm start`: runs the built daemon in the foreground on the default configuration, with
// everything it writes (spool, sockets, pid file, mbox dir) under ./run and SMTP on
// localhost port 2525 (FACTEUR_PORT to change it), so no root and no system file is needed.
// Mail for local users is delivered to ~/Maildir; stop with Ctrl-C.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(fileURLToPath(new URL("..", import.meta.url)));
const root = join(repo, "run");
const port = process.env.FACTEUR_PORT ?? "2525";
mkdirSync(root, { recursive: true });
chmodSync(root, 0o711);
const aliases = join(root, "aliases");
if (!existsSync(aliases))
  writeFileSync(
    aliases,
    "# aliases(5) for `npm start`: name: user, user@domain, |command, /file\npostmaster: root\n",
  );
const smtpd = join(repo, "packages/smtpd/bin/smtpd.cjs");
const conf = join(repo, "packages/smtpd/etc/smtpd.conf");
const args = [
  smtpd,
  "-d",
  "--root",
  root,
  "-D",
  `listen_port=${port}`,
  "-D",
  `aliases=file:${aliases}`,
  "-f",
  conf,
];
process.stderr.write(
  `starting: node ${args.join(" ")}\ntry: swaks --server 127.0.0.1:${port} --to "$USER@localhost"\n`,
);
const child = spawn(process.execPath, [...args, ...process.argv.slice(2)], { stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill("SIGTERM"));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
