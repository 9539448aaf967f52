// Per-platform facts: where each distribution's OpenSMTPD package keeps its files and which
// users it runs as, so an admin migrating to Facteur keeps theirs. Used by every role.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export type PlatformName = "debian" | "rpm" | "freebsd" | "openbsd";

export interface PlatformFacts {
  readonly name: PlatformName;
  readonly configPath: string;
  readonly spoolDir: string;
  readonly controlSocket: string;
  /** unix socket of the implicit `listen on socket` SMTP listener (sendmail talks to it) */
  readonly enqueueSocket: string;
  readonly pidFile: string;
  readonly libexecDir: string;
  readonly mailnameFile: string;
  readonly aliasesPath: string;
  readonly emptyDir: string;
  readonly smtpdUser: string;
  readonly smtpqUser: string;
  readonly prefix: string;
}

const shared = {
  spoolDir: "/var/spool/smtpd",
  controlSocket: "/var/run/smtpd.sock",
  enqueueSocket: "/var/run/smtpd-enqueue.sock",
  pidFile: "/var/run/smtpd.pid",
} as const;

export const PLATFORMS: Readonly<Record<PlatformName, PlatformFacts>> = {
  debian: {
    ...shared,
    name: "debian",
    prefix: "/usr",
    configPath: "/etc/smtpd.conf",
    libexecDir: "/usr/libexec/facteur",
    mailnameFile: "/etc/mailname",
    aliasesPath: "/etc/aliases",
    emptyDir: "/var/lib/facteur/empty",
    smtpdUser: "opensmtpd",
    smtpqUser: "opensmtpq",
  },
  rpm: {
    ...shared,
    name: "rpm",
    prefix: "/usr",
    configPath: "/etc/opensmtpd/smtpd.conf",
    libexecDir: "/usr/libexec/facteur",
    mailnameFile: "/etc/mailname",
    aliasesPath: "/etc/aliases",
    emptyDir: "/var/empty/smtpd",
    smtpdUser: "smtpd",
    smtpqUser: "smtpq",
  },
  freebsd: {
    ...shared,
    name: "freebsd",
    prefix: "/usr/local",
    configPath: "/usr/local/etc/mail/smtpd.conf",
    libexecDir: "/usr/local/libexec/facteur",
    mailnameFile: "/usr/local/etc/mail/mailname",
    aliasesPath: "/etc/mail/aliases",
    emptyDir: "/var/empty",
    smtpdUser: "_smtpd",
    smtpqUser: "_smtpq",
  },
  openbsd: {
    ...shared,
    name: "openbsd",
    prefix: "/usr/local",
    configPath: "/etc/mail/smtpd.conf",
    libexecDir: "/usr/local/libexec/facteur",
    mailnameFile: "/etc/mail/mailname",
    aliasesPath: "/etc/mail/aliases",
    emptyDir: "/var/empty",
    smtpdUser: "_smtpd",
    smtpqUser: "_smtpq",
  },
};

export const isPlatformName = (s: string): s is PlatformName => Object.hasOwn(PLATFORMS, s);

/** `FACTEUR_PLATFORM` names no platform: a mistake of the admin's, said in one line. */
export class UnknownPlatformError extends Error {
  readonly value: string;

  constructor(value: string) {
    const names = Object.keys(PLATFORMS);
    super(
      `unknown platform ${JSON.stringify(value)} (FACTEUR_PLATFORM): expected ${names.slice(0, -1).join(", ")} or ${names.at(-1)}`,
    );
    this.name = "UnknownPlatformError";
    this.value = value;
  }
}

/**
 * Which platform this is: `FACTEUR_PLATFORM` wins, then the kernel, then os-release. An
 * unknown `FACTEUR_PLATFORM` throws UnknownPlatformError.
 */
export function detectPlatform(
  env: NodeJS.ProcessEnv = process.env,
  os: NodeJS.Platform = process.platform,
  osRelease: () => string = () => readFileSync("/etc/os-release", "utf8"),
): PlatformName {
  const forced = env.FACTEUR_PLATFORM;
  if (forced !== undefined && forced !== "") {
    if (!isPlatformName(forced)) throw new UnknownPlatformError(forced);
    return forced;
  }
  if (os === "freebsd") return "freebsd";
  if (os === "openbsd") return "openbsd";
  let text = "";
  try {
    text = osRelease();
  } catch {
    return "debian";
  }
  const ids = new Set<string>();
  for (const line of text.split("\n")) {
    const m = /^(ID|ID_LIKE)=(.*)$/.exec(line.trim());
    if (m) for (const id of m[2]!.replace(/["']/g, "").split(/\s+/)) ids.add(id);
  }
  for (const id of ["fedora", "rhel", "centos", "suse", "opensuse", "rocky", "almalinux"]) {
    if (ids.has(id)) return "rpm";
  }
  return "debian";
}

/**
 * The facts in force: the detected platform, with what the daemon writes or serves moved
 * under `root` when one is given (`smtpd --root DIR`), so a normal user runs a whole instance.
 */
export function platformFacts(
  opts: { platform?: PlatformName; root?: string; env?: NodeJS.ProcessEnv } = {},
): PlatformFacts {
  const env = opts.env ?? process.env;
  const base = PLATFORMS[opts.platform ?? detectPlatform(env)];
  const libexec = env.FACTEUR_LIBEXEC;
  const withLibexec = libexec ? { ...base, libexecDir: libexec } : base;
  if (opts.root === undefined) return withLibexec;
  const r = opts.root;
  return {
    ...withLibexec,
    spoolDir: join(r, "spool"),
    controlSocket: join(r, "smtpd.sock"),
    enqueueSocket: join(r, "enqueue.sock"),
    pidFile: join(r, "smtpd.pid"),
    emptyDir: join(r, "empty"),
  };
}
