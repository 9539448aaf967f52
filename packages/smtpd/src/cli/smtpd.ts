// The `smtpd` program: the configuration check (`smtpd -n`), the daemon's parent, and with
// `-x ROLE` one of its roles.
// smtpd [-dFhnv] [-D name=value] [-f file] [-P mda|mta|smtp] [-T trace] [--syntax] [--root DIR]
import { detectPlatform, platformFacts, UnknownPlatformError } from "@facteur/compat";
import { formatDiagnostic, printConfig } from "../config/index.js";
import { loadConfig } from "../config/load.js";
import { runControl } from "../control/role.js";
import { runDispatcher } from "../dispatcher/role.js";
import type { RoleName } from "../ipc/messages.js";
import { bootRole, type RoleMain } from "../ipc/role-boot.js";
import { runLookup } from "../lookup/role.js";
import { runDeliveryWorker } from "../mda/worker.js";
import { runParent } from "../parent/parent.js";
import { runQueue } from "../queue/role.js";

export interface SmtpdArgs {
  readonly check: boolean;
  readonly syntaxOnly: boolean;
  readonly verbose: boolean;
  readonly foreground: boolean;
  readonly file: string | null;
  readonly defines: Readonly<Record<string, string>>;
  readonly root: string | null;
  /** `-P mda|mta|smtp`: start with that part paused (smtpctl resume undoes it). */
  readonly paused: readonly ("mda" | "mta" | "smtp")[];
  /** `-x ROLE`: run as one of the daemon's roles (started by the parent only) */
  readonly role: string | null;
}

const ROLE_MAINS: Record<string, RoleMain> = {
  control: runControl,
  dispatcher: runDispatcher,
  lookup: runLookup,
  queue: runQueue,
};

const USAGE =
  "usage: smtpd [-dFhnv] [-D macro=value] [-f file] [-P system] [-T trace] [--syntax] [--root dir]";

export function parseArgs(argv: readonly string[]): SmtpdArgs | { error: string } | { help: true } {
  const defines: Record<string, string> = {};
  let check = false;
  let syntaxOnly = false;
  let verbose = false;
  let foreground = false;
  let file: string | null = null;
  let root: string | null = null;
  let role: string | null = null;
  const paused: ("mda" | "mta" | "smtp")[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (flag: string): string => {
      const v = a.length > flag.length ? a.slice(flag.length) : argv[++i];
      if (v === undefined)
        throw new Error(`option requires an argument -- ${flag.replace(/^-+/, "")}`);
      return v;
    };
    try {
      if (a === "--syntax") syntaxOnly = true;
      else if (a === "--root" || a.startsWith("--root="))
        root = a.includes("=") ? a.slice(7) : value("--root");
      else if (a.startsWith("-D")) {
        const d = value("-D");
        const eq = d.lastIndexOf("=");
        if (eq <= 0) return { error: `could not parse macro definition ${d}` };
        defines[d.slice(0, eq)] = d.slice(eq + 1);
      } else if (a.startsWith("-f")) file = value("-f");
      else if (a.startsWith("-x")) role = value("-x");
      else if (a.startsWith("-P")) {
        const v = value("-P");
        if (v !== "mda" && v !== "mta" && v !== "smtp")
          return { error: `invalid system specified for -P: ${v} (mda, mta or smtp)` };
        paused.push(v);
      } else if (a.startsWith("-T") || a.startsWith("-B")) value(a.slice(0, 2));
      else if (/^-[dFhnv]+$/.test(a)) {
        for (const c of a.slice(1)) {
          if (c === "h") return { help: true };
          if (c === "n") check = true;
          if (c === "v") verbose = true;
          if (c === "d" || c === "F") foreground = true;
        }
      } else return { error: `unknown option ${a}` };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }
  // --syntax only changes what -n checks; alone it would start the daemon unasked
  if (syntaxOnly && !check) return { error: "--syntax is only valid with -n" };
  return { check, syntaxOnly, verbose, foreground, file, defines, root, role, paused };
}

/** A FACTEUR_PLATFORM that names no platform, as one line; null when it is fine. */
function platformError(): string | null {
  try {
    detectPlatform();
    return null;
  } catch (e) {
    if (e instanceof UnknownPlatformError) return e.message;
    throw e;
  }
}

/** Runs `smtpd -n`; returns the exit status. Output goes through the given writers. */
export async function checkConfig(
  args: SmtpdArgs,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const facts = platformFacts(args.root !== null ? { root: args.root } : {});
  const loaded = await loadConfig(args.file ?? facts.configPath, {
    defines: args.defines,
    syntaxOnly: args.syntaxOnly,
    libexecDir: facts.libexecDir,
  });
  if ("error" in loaded) {
    err(`smtpd: ${loaded.error}\n`);
    return 1;
  }
  const r = loaded.result;
  for (const d of loaded.diagnostics) err(`${formatDiagnostic(d)}\n`);
  if (args.verbose) for (const m of r.unusedMacros) err(`warning: macro '${m}' not used\n`);
  if (!loaded.ok) return 1;
  if (args.verbose) out(printConfig(r.config));
  err("configuration OK\n");
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  const a = parseArgs(argv);
  if ("help" in a) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if ("error" in a) {
    process.stderr.write(`smtpd: ${a.error}\n${USAGE}\n`);
    return 1;
  }
  const platform = platformError();
  if (platform !== null) {
    process.stderr.write(`smtpd: ${platform}\n`);
    return 1;
  }
  if (a.check) {
    return checkConfig(
      a,
      (s) => process.stdout.write(s),
      (s) => process.stderr.write(s),
    );
  }
  if (a.role === "deliver") {
    runDeliveryWorker();
    return new Promise<number>(() => undefined); // runs until the parent stops it
  }
  if (a.role !== null) {
    const roleMain = ROLE_MAINS[a.role];
    if (roleMain === undefined) {
      process.stderr.write(`smtpd: unknown role ${a.role}\n`);
      return 1;
    }
    bootRole(a.role as RoleName, roleMain);
    return new Promise<number>(() => undefined); // runs until the parent stops it
  }
  return runParent(a);
}
