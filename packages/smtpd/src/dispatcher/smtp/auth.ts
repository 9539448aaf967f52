// AUTH PLAIN and LOGIN (RFC 4954, RFC 4616) for the inbound session: strict base64, the
// "*" cancel, and the credentials check through the authenticate port.
import {
  authBadBase64,
  authCancelled,
  authFailed,
  authOk,
  authPassword,
  authTempFail,
} from "../../smtp/replies.js";
import type { Reply } from "../../smtp/reply.js";
import type { Session } from "./state.js";
import type { SessionPorts } from "./types.js";

export type AuthStep =
  | { mech: "plain" }
  | { mech: "login-user" }
  | { mech: "login-pass"; user: string };

/** Longest user name accepted (it is written into Received with received-auth). */
export const MAX_AUTH_USER_OCTETS = 255;
export const MAX_AUTH_PASSWORD_OCTETS = 1024;

/** RFC 4648 base64 with padding, nothing else; "=" alone is the empty response (RFC 4954 §4). */
export function decodeBase64Strict(s: string): Buffer | null {
  if (s === "=") return Buffer.alloc(0);
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s))
    return null;
  return Buffer.from(s, "base64");
}

/** RFC 4616: [authzid] NUL authcid NUL passwd. An authzid other than the authcid is refused. */
export function parsePlain(b: Buffer): { user: string; password: string } | null {
  const parts = b.toString("utf8").split("\0");
  if (parts.length !== 3) return null;
  const [authz, user, password] = parts as [string, string, string];
  if (authz !== "" && authz !== user) return null;
  return { user, password };
}

const validUser = (u: string): boolean =>
  u !== "" &&
  Buffer.byteLength(u) <= MAX_AUTH_USER_OCTETS &&
  !/[\x00-\x20\x7f]/.test(u) &&
  !u.includes("\ufffd");

export type AuthOutcome = { reply: Reply; next: AuthStep | null };

/** One client line while an AUTH exchange is in progress. */
export async function authLine(
  step: AuthStep,
  line: string,
  s: Session,
  ports: SessionPorts,
): Promise<AuthOutcome> {
  if (line === "*") return { reply: authCancelled, next: null };
  const b = decodeBase64Strict(line);
  if (b === null) return { reply: authBadBase64, next: null };
  return authResponse(step, b, s, ports);
}

export async function authResponse(
  step: AuthStep,
  b: Buffer,
  s: Session,
  ports: SessionPorts,
): Promise<AuthOutcome> {
  switch (step.mech) {
    case "plain": {
      const p = parsePlain(b);
      if (p === null) return { reply: authFailed, next: null };
      return { reply: await check(p.user, p.password, s, ports), next: null };
    }
    case "login-user":
      return { reply: authPassword, next: { mech: "login-pass", user: b.toString("utf8") } };
    case "login-pass":
      return { reply: await check(step.user, b.toString("utf8"), s, ports), next: null };
  }
}

async function check(
  user: string,
  password: string,
  s: Session,
  ports: SessionPorts,
): Promise<Reply> {
  if (
    !validUser(user) ||
    password.includes("\0") ||
    Buffer.byteLength(password) > MAX_AUTH_PASSWORD_OCTETS
  ) {
    return authFailed;
  }
  const r = await ports.authenticate(user, password);
  if (r === "ok") {
    s.authUser = user;
    return authOk;
  }
  return r === "tempfail" ? authTempFail : authFailed;
}
