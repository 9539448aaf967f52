// getpwnam(3) for Node: through `getent passwd` (so NSS sources such as LDAP work), with
// /etc/passwd as the fallback where getent does not exist.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface Passwd {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

export function parsePasswdLine(line: string): Passwd | null {
  const f = line.split(":");
  if (f.length < 7) return null;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
  return { name: f[0]!, uid, gid, home: f[5]!, shell: f[6]! };
}

export function getpwnam(name: string): Passwd | null {
  if (name === "" || name.includes(":") || name.includes("\n")) return null;
  try {
    const out = execFileSync("getent", ["passwd", name], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return parsePasswdLine(out.trim());
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") return null;
  }
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const p = parsePasswdLine(line);
      if (p !== null && p.name === name) return p;
    }
  } catch {
    return null;
  }
  return null;
}
