// Who is sending, for `sendmail` (cli), as enqueue.c decides it: the login name unless the
// real uid says otherwise (or -S is given), the full name from GECOS, addresses qualified
// with the mail name.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { getlogin, getpwnam, getpwuid, type Passwd } from "@facteur/compat";

/** getmailname(): the first line of the mailname file, else the host name. */
export function mailname(mailnameFile: string): string {
  try {
    const n = readFileSync(mailnameFile, "utf8").split("\n")[0]!.trim();
    if (n !== "") return n;
  } catch {
    // no mailname file
  }
  return hostname();
}

export interface Identity {
  /** The user name the sender address is made of ("anonymous" when unknown). */
  readonly user: string;
  /** The passwd entry (for the full name and ~/dead.letter), or null. */
  readonly pw: Passwd | null;
}

export interface IdentityPorts {
  readonly uid: number;
  readonly getlogin: () => string | null;
  readonly getpwnam: (name: string) => Passwd | null;
  readonly getpwuid: (uid: number) => Passwd | null;
}

export const systemIdentityPorts = (): IdentityPorts => ({
  uid: process.getuid?.() ?? 0,
  getlogin,
  getpwnam,
  getpwuid,
});

/**
 * enqueue.c: without -S, the login name is trusted when it is root's session or names the
 * real uid; otherwise (su, sudo, a setuid caller) the real uid's entry wins. -S always takes
 * the real uid: this is the "getlogin() fix" for mail that cron or `su` would misattribute.
 */
export function senderIdentity(noGetlogin: boolean, p: IdentityPorts): Identity {
  if (noGetlogin) {
    const pw = p.getpwuid(p.uid);
    return { user: pw?.name ?? "anonymous", pw };
  }
  const login = p.getlogin();
  if (login !== null && login !== "") {
    let pw = p.getpwnam(login);
    if (pw === null || (p.uid !== 0 && p.uid !== pw.uid)) pw = p.getpwuid(p.uid);
    return { user: pw?.name ?? login, pw };
  }
  const pw = p.getpwuid(p.uid);
  return { user: pw?.name ?? "anonymous", pw };
}

/** build_from(): the GECOS full name up to the first comma, `&` standing for the user name. */
export function gecosName(pw: Passwd): string {
  const full = pw.gecos.split(",")[0]!;
  const amp = full.indexOf("&");
  if (amp < 0) return full;
  const name = pw.name.charAt(0).toUpperCase() + pw.name.slice(1);
  return full.slice(0, amp) + name + full.slice(amp + 1);
}

/** qualify_addr(): a bare user name gets `@mailname`; "" stays "" (the null sender). */
export function qualify(addr: string, host: string): string {
  return addr !== "" && !addr.includes("@") ? `${addr}@${host}` : addr;
}
