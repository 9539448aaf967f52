// getpwnam(3), getpwuid(3) and getlogin(3) for Node: through `getent passwd` (so NSS sources
// such as LDAP work), with /etc/passwd as the fallback where getent does not exist.
import { execFile, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface Passwd {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
  /** The GECOS field: full name, then comma-separated office details. */
  readonly gecos: string;
}

export function parsePasswdLine(line: string): Passwd | null {
  const f = line.split(":");
  if (f.length < 7) return null;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
  return { name: f[0]!, uid, gid, home: f[5]!, shell: f[6]!, gecos: f[4]! };
}

/** One `getent passwd KEY` entry that `want` accepts, else the first such /etc/passwd line. */
function lookupPasswd(key: string, want: (p: Passwd) => boolean): Passwd | null {
  try {
    const out = execFileSync("getent", ["passwd", key], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const p = parsePasswdLine(out.trim());
    return p !== null && want(p) ? p : null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") return null;
  }
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const p = parsePasswdLine(line);
      if (p !== null && want(p)) return p;
    }
  } catch {
    return null;
  }
  return null;
}

export function getpwnam(name: string): Passwd | null {
  if (name === "" || name.includes(":") || name.includes("\n")) return null;
  return lookupPasswd(name, (p) => p.name === name);
}

const CACHE_MS = 30_000;
const CACHE_MAX = 10_000;
const cache = new Map<string, { at: number; pw: Promise<Passwd | null> }>();

/**
 * getpwnam for a daemon's event loop: `getent` run asynchronously, answers (found or not)
 * kept for 30 s, concurrent lookups of one name shared. A user added or removed is seen
 * after at most that long.
 */
export function getpwnamAsync(name: string, now = Date.now()): Promise<Passwd | null> {
  if (name === "" || name.includes(":") || name.includes("\n")) return Promise.resolve(null);
  const hit = cache.get(name);
  if (hit !== undefined && now - hit.at < CACHE_MS) return hit.pw;
  if (cache.size >= CACHE_MAX) cache.clear();
  const pw = new Promise<Passwd | null>((resolve) => {
    execFile("getent", ["passwd", name], { encoding: "utf8" }, (err, out) => {
      if (err === null) {
        const p = parsePasswdLine(out.trim());
        resolve(p !== null && p.name === name ? p : null);
      } else if ((err as NodeJS.ErrnoException).code === "ENOENT") resolve(getpwnam(name));
      else resolve(null); // getent exits 2: no such user
    });
  });
  cache.set(name, { at: now, pw });
  return pw;
}

export function getpwuid(uid: number): Passwd | null {
  if (!Number.isInteger(uid) || uid < 0) return null;
  return lookupPasswd(String(uid), (p) => p.uid === uid);
}

/** Linux's "no login uid" value in /proc/self/loginuid ((uid_t)-1). */
const NO_LOGIN_UID = 4294967295;

/**
 * The login name of the session, as glibc's getlogin(3) finds it on Linux: the audit login
 * uid of the process (/proc/self/loginuid, kept across su and sudo, set for cron jobs). Null
 * where there is none or on other systems; callers then fall back to the real uid.
 */
export function getlogin(
  readLoginUid: () => string = () => readFileSync("/proc/self/loginuid", "utf8"),
): string | null {
  let text: string;
  try {
    text = readLoginUid().trim();
  } catch {
    return null;
  }
  const uid = Number(text);
  if (text === "" || !Number.isInteger(uid) || uid < 0 || uid === NO_LOGIN_UID) return null;
  return getpwuid(uid)?.name ?? null;
}
