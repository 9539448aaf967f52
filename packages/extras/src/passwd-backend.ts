// The backend of table-passwd(5): a passwd(5)-format file served as credentials, userinfo
// and auth. Behaviour follows OpenSMTPD's table-passwd (see man/table-passwd.5); password
// hashes are checked with @facteur/compat's crypt(3) ($6$, $5$, bcrypt $2a$/$2b$/$2y$).

import { readFile } from "node:fs/promises";
import { describeHash, isSupportedHash, verifyPassword } from "@facteur/compat";
import type { CheckResult, LookupResult, TableService, UpdateResult } from "./table-protocol.js";
import type { TableBackend } from "./table-server.js";

/** One line of the file, split: `name:password:uid:gid:gecos:home[:shell[:extra...]]`. */
export interface PasswdEntry {
  readonly name: string;
  readonly password: string;
  readonly uid: string;
  readonly gid: string;
  readonly home: string;
  /** 1-based line number, for messages. */
  readonly line: number;
}

export type PasswdParse =
  | { readonly kind: "ok"; readonly entries: ReadonlyMap<string, PasswdEntry> }
  | { readonly kind: "error"; readonly line: number; readonly reason: string };

/**
 * Parses a passwd-format table. As OpenSMTPD's table-passwd: `#` starts a comment anywhere
 * on a line, empty lines are skipped, every other line needs a non-empty name and at least
 * the six fields up to the home directory (the shell and anything after it, e.g. Dovecot's
 * extra fields, are ignored), and one bad line rejects the whole file. A name given twice
 * keeps its last line. Fields are checked per service at lookup time, not here.
 */
export function parsePasswdTable(text: string): PasswdParse {
  const entries = new Map<string, PasswdEntry>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const hash = lines[i]!.indexOf("#");
    const raw = hash === -1 ? lines[i]! : lines[i]!.slice(0, hash);
    if (raw.trim() === "") continue;
    const f = raw.split(":");
    const line = i + 1;
    if (f.length < 6)
      return {
        kind: "error",
        line,
        reason: `expected at least 6 ':'-separated fields, got ${f.length}`,
      };
    const [name, password, uid, gid, , home] = f as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (name === "") return { kind: "error", line, reason: "empty user name" };
    entries.set(name, { name, password, uid, gid, home, line });
  }
  return { kind: "ok", entries };
}

/** uid_t/gid_t range: a decimal number that fits 32 bits unsigned. */
const isId = (s: string): boolean => /^[0-9]{1,10}$/.test(s) && Number(s) <= 0xffffffff;

/** The credentials value (`user:hash`), or why the entry cannot give one. */
export function credentialsOf(e: PasswdEntry): LookupResult {
  if (e.password === "")
    return { kind: "error", message: `line ${e.line}: empty password field for ${e.name}` };
  return { kind: "found", value: `${e.name}:${e.password}` };
}

/** The userinfo value (`uid:gid:home`), or why the entry cannot give one. */
export function userinfoOf(e: PasswdEntry): LookupResult {
  if (!isId(e.uid) || !isId(e.gid) || e.home === "") {
    return {
      kind: "error",
      message: `line ${e.line}: ${e.name} needs a numeric uid, gid and a home`,
    };
  }
  return { kind: "found", value: `${Number(e.uid)}:${Number(e.gid)}:${e.home}` };
}

/** Hashed when the user does not exist, so an unknown name costs about what a known one does. */
const DUMMY_HASH =
  "$6$facteurdummy0000$.UMb4IDP1HqVs0ZOKhpSVble/U9IpDPnoRK4ZchjaiagKeh6rovT8MCS4NgRRihO39y4Ps2krvK4UW263LQnc0";

/**
 * The auth check (OpenSMTPD 7.6): key `user:cleartext` (the password may hold `:`). Found when
 * the password matches the entry's crypt(3) hash; not-found for an unknown user, a wrong
 * password, or a locked/empty hash (`*`, `!...`, ``); error for a hash scheme compat cannot
 * compute (DES, MD5 `$1$`, yescrypt `$y$`, ...), so smtpd answers a temporary failure
 * instead of telling a right password it is wrong.
 */
export async function checkAuth(
  entries: ReadonlyMap<string, PasswdEntry>,
  key: string,
): Promise<CheckResult> {
  const colon = key.indexOf(":");
  if (colon <= 0) return { kind: "error", message: "malformed auth key (expected user:password)" };
  const user = key.slice(0, colon);
  const password = key.slice(colon + 1);
  const e = entries.get(user);
  if (e === undefined) {
    await verifyPassword(password, DUMMY_HASH);
    return { kind: "not-found" };
  }
  const hash = e.password;
  if (hash === "" || hash.startsWith("*") || hash.startsWith("!")) return { kind: "not-found" };
  if (!isSupportedHash(hash)) {
    return {
      kind: "error",
      message: `line ${e.line}: unsupported password hash for ${user}: ${describeHash(hash)}`,
    };
  }
  return (await verifyPassword(password, hash)) ? { kind: "found" } : { kind: "not-found" };
}

/** Reads and parses the file. */
export async function loadPasswdTable(path: string): Promise<PasswdParse> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { kind: "error", line: 0, reason: `${path}: ${err.code ?? err.message}` };
  }
  const parsed = parsePasswdTable(text);
  return parsed.kind === "error"
    ? { ...parsed, reason: `${path}:${parsed.line}: ${parsed.reason}` }
    : parsed;
}

/** What the command line asked for: the file (and a table name, when given). */
export type PasswdArgs =
  | { readonly kind: "run"; readonly path: string; readonly tableName: string | undefined }
  | { readonly kind: "usage"; readonly reason: string };

/** Parses argv after the program: `FILE` or `NAME FILE`; options are refused, as upstream. */
export function parsePasswdArgs(argv: readonly string[]): PasswdArgs {
  let args = [...argv];
  if (args[0] === "--") args = args.slice(1);
  else if (args.some((a) => a.startsWith("-") && a !== "-")) {
    return { kind: "usage", reason: `unknown option ${args.find((a) => a.startsWith("-"))}` };
  }
  if (args.length === 1 && args[0] !== "")
    return { kind: "run", path: args[0]!, tableName: undefined };
  if (args.length === 2 && args[1] !== "")
    return { kind: "run", path: args[1]!, tableName: args[0] };
  return {
    kind: "usage",
    reason: args.length === 0 ? "missing passwd file" : "too many arguments",
  };
}

export const PASSWD_SERVICES: readonly TableService[] = ["credentials", "userinfo", "auth"];

/**
 * The table-passwd backend over one file. Create it with open(), which fails when the file
 * cannot be read or parsed (the program then exits, as OpenSMTPD's does). update() rereads
 * the file; when the new content is bad it answers error and keeps serving the old one.
 */
export class PasswdBackend implements TableBackend {
  readonly services = PASSWD_SERVICES;
  readonly path: string;
  #entries: ReadonlyMap<string, PasswdEntry>;

  private constructor(path: string, entries: ReadonlyMap<string, PasswdEntry>) {
    this.path = path;
    this.#entries = entries;
  }

  static async open(
    path: string,
  ): Promise<PasswdBackend | { readonly kind: "error"; readonly reason: string }> {
    const loaded = await loadPasswdTable(path);
    if (loaded.kind === "error") return { kind: "error", reason: loaded.reason };
    return new PasswdBackend(path, loaded.entries);
  }

  get size(): number {
    return this.#entries.size;
  }

  async update(): Promise<UpdateResult> {
    const loaded = await loadPasswdTable(this.path);
    if (loaded.kind === "error") return { kind: "error", message: loaded.reason };
    this.#entries = loaded.entries;
    return { kind: "ok" };
  }

  lookup(service: TableService, key: string): LookupResult {
    const e = this.#entries.get(key);
    if (service === "credentials")
      return e === undefined ? { kind: "not-found" } : credentialsOf(e);
    if (service === "userinfo") return e === undefined ? { kind: "not-found" } : userinfoOf(e);
    return { kind: "error", message: `lookup not supported for ${service}` };
  }

  async check(service: TableService, key: string): Promise<CheckResult> {
    if (service === "auth") return checkAuth(this.#entries, key);
    // credentials/userinfo: whether a lookup would find a usable value.
    const r = this.lookup(service, key);
    return r.kind === "found" ? { kind: "found" } : r;
  }

  fetch(service: TableService): LookupResult {
    return { kind: "error", message: `fetch not supported for ${service}` };
  }
}
