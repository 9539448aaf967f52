// One program, several names (cli): like OpenSMTPD's smtpctl, the bundle acts by the name it
// was run as: smtpctl, sendmail, send-mail, mailq, newaliases, makemap. The name is argv[0]
// (a single binary run through a link, or the parent's replay of offline mail, which sets
// it), else the script's file name (Node running a link to the bundle).
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { makemapMain, newaliasesMain } from "./makemap.js";
import { processSendmailEnv, sendmailMain } from "./sendmail.js";
import { smtpctlMain } from "./smtpctl.js";
import { EX_USAGE } from "./sysexits.js";

export const PROGRAMS = [
  "smtpctl",
  "sendmail",
  "send-mail",
  "mailq",
  "newaliases",
  "makemap",
] as const;
export type Program = (typeof PROGRAMS)[number];

const known = (path: string | undefined): Program | null => {
  if (path === undefined) return null;
  const name = basename(path).replace(/\.(c|m)?js$/, "");
  return (PROGRAMS as readonly string[]).includes(name) ? (name as Program) : null;
};

/** The program to be: argv[0] when it is one of the names, else the script's name, else smtpctl. */
export function programName(argv0: string, script: string | undefined): Program {
  return known(argv0) ?? known(script) ?? "smtpctl";
}

const io = {
  stdout: (s: string) => void process.stdout.write(s),
  stderr: (s: string) => void process.stderr.write(s),
  readStdin: () => readFileSync(0, "utf8"),
};

/** `mailq` is `smtpctl show queue`. */
function mailq(root: string | null, args: readonly string[]): Promise<number> {
  if (args.length > 0) {
    process.stderr.write("usage: mailq\n");
    return Promise.resolve(EX_USAGE);
  }
  return smtpctlMain([...(root !== null ? ["--root", root] : []), "show", "queue"]);
}

export async function multicallMain(name: Program, args: readonly string[]): Promise<number> {
  switch (name) {
    case "smtpctl":
      return smtpctlMain(args);
    case "mailq": {
      const rest: string[] = [];
      let root: string | null = null;
      for (let i = 0; i < args.length; i++) {
        if (args[i] === "--root") root = args[++i] ?? null;
        else if (args[i]!.startsWith("--root=")) root = args[i]!.slice(7);
        else rest.push(args[i]!);
      }
      return mailq(root, rest);
    }
    case "newaliases":
      return newaliasesMain(args, io);
    case "makemap":
      return makemapMain(args, io);
    case "sendmail":
    case "send-mail":
      return sendmailMain(processSendmailEnv(args), {
        newaliases: (root) => newaliasesMain(root !== null ? ["--root", root] : [], io),
        mailq: (root) => mailq(root, []),
      });
  }
}
