// `smtpctl show queue` lines (reference §2), as smtpctl.c show_queue_envelope() prints them:
// evpid|src|agent|flags|sender|rcpt|dest|ctime|expire|lasttry|retry|runstate|delay|errorline
// Used by the queue role (online) and by smtpctl walking the spool itself (offline).
import type { Envelope } from "./envelope.js";

/** What the scheduler knows about an envelope; `offline` when smtpctl reads the spool. */
export type RunState =
  | { state: "pending" /** seconds until the next try (may be negative) */; delaySec: number }
  | { state: "inflight" /** seconds since the try started */; delaySec: number }
  | { state: "offline" }
  | { state: "invalid" };

export interface SchedulerFlags {
  suspended?: boolean;
  held?: boolean;
}

/** "local", "inet4", "inet6" or "?" from the envelope's sockaddr. */
export function sourceKind(sockaddr: string): string {
  if (sockaddr === "local") return "local";
  if (sockaddr.startsWith("[") || sockaddr.includes(":")) return "inet6";
  if (/^[0-9.]+$/.test(sockaddr) && sockaddr !== "") return "inet4";
  return "?";
}

// smtpctl prints mailaddr as `%s@%s` (user, domain): the null sender shows as "@", a bare
// local user as "user@".
function addr(s: string): string {
  return s.includes("@") ? s : `${s}@`;
}

// strnvis(VIS_SAFE | VIS_CSTYLE)-like, as smtpctl does for the error line: control bytes
// never reach the terminal. `|` is printed as is (OpenSMTPD does; errorline is the last field).
export function visSafe(s: string): string {
  return s.replace(/[\x00-\x1f\x7f\\]/g, (c) => {
    switch (c) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      case "\\":
        return "\\\\";
      default:
        return `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`;
    }
  });
}

function runstateText(r: RunState): string {
  switch (r.state) {
    case "pending":
      return `pending|${Math.trunc(r.delaySec)}`;
    case "inflight":
      return `inflight|${Math.trunc(r.delaySec)}`;
    case "offline":
      return "offline|";
    case "invalid":
      return "invalid|";
  }
}

/** One `show queue` line, without the trailing newline. */
export function formatShowQueueLine(
  e: Envelope,
  run: RunState,
  sched: SchedulerFlags = {},
): string {
  const flags: string[] = [];
  if (e.flags.bounce) flags.push("bounce");
  if (e.flags.authenticated) flags.push("auth");
  if (e.flags.internal) flags.push("internal");
  if (sched.suspended === true) flags.push("suspend");
  if (sched.held === true) flags.push("hold");
  return [
    e.id,
    sourceKind(e.sockaddr),
    e.type,
    flags.join(","),
    visSafe(addr(e.sender)),
    visSafe(addr(e.rcpt)),
    visSafe(addr(e.dest)),
    String(e.ctime),
    String(e.ctime + e.ttl),
    String(e.lastTry),
    String(e.retry),
    runstateText(run),
    visSafe(e.errorline),
  ].join("|");
}
