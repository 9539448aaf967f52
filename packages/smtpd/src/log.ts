// Log lines in OpenSMTPD's format ("info: ...", "warn: ...", "smtp-in: ..."), to stderr
// (with -d, and under systemd where stderr is the journal). Every process logs this way.
export type Level = "debug" | "info" | "warn" | "crit";

let verbose = false;
let prefix = "";

export function setLogVerbose(v: boolean): void {
  verbose = v;
}

/** Role processes put their name in front (`queue: warn: ...`) only in verbose mode. */
export function setLogPrefix(p: string): void {
  prefix = p;
}

// Control characters never reach the log: a client cannot forge log lines.
const clean = (s: string) =>
  s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

export function log(level: Level, msg: string): void {
  if (level === "debug" && !verbose) return;
  const head = verbose && prefix !== "" ? `${prefix}: ` : "";
  const lvl =
    level === "info"
      ? "info: "
      : level === "warn"
        ? "warn: "
        : level === "crit"
          ? "fatal: "
          : "debug: ";
  process.stderr.write(`${head}${lvl}${clean(msg)}\n`);
}

/** A line of an event stream (`smtp-in: ...`), without a level, as OpenSMTPD writes them. */
export function logEvent(msg: string): void {
  const head = verbose && prefix !== "" ? `${prefix}: ` : "";
  process.stderr.write(`${head}${clean(msg)}\n`);
}
