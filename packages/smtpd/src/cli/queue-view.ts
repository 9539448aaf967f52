// `smtpctl show queue` beyond OpenSMTPD: filters (sender, recipient, domain, age, error) and
// JSON output, applied to the `|` lines whether they come from the daemon or, when it is not
// running, from smtpctl walking the spool itself (as OpenSMTPD's smtpctl does).
import { FsQueue } from "../queue/fs-backend.js";
import { formatShowQueueLine } from "../queue/show-queue.js";

export interface QueueFilter {
  sender?: string;
  rcpt?: string;
  domain?: string;
  /** Seconds: only envelopes older than this. */
  olderThan?: number;
  /** Substring of the last error. */
  error?: string;
  json: boolean;
}

export interface QueueLine {
  readonly evpid: string;
  readonly src: string;
  readonly type: string;
  readonly flags: string[];
  readonly sender: string;
  readonly rcpt: string;
  readonly dest: string;
  readonly ctime: number;
  readonly expire: number;
  readonly lastTry: number;
  readonly retry: number;
  readonly state: string;
  readonly delay: number | null;
  readonly error: string;
}

export function parseQueueLine(line: string): QueueLine | null {
  const f = line.split("|");
  if (f.length < 14) return null;
  const num = (s: string | undefined) => Number(s ?? "0") || 0;
  return {
    evpid: f[0]!,
    src: f[1]!,
    type: f[2]!,
    flags: f[3] === "" ? [] : f[3]!.split(","),
    sender: f[4]! === "@" ? "" : f[4]!,
    rcpt: f[5]!,
    dest: f[6]!,
    ctime: num(f[7]),
    expire: num(f[8]),
    lastTry: num(f[9]),
    retry: num(f[10]),
    state: f[11]!,
    delay: f[12] === "" ? null : num(f[12]),
    error: f.slice(13).join("|"),
  };
}

const SCALE: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses the filter options; returns the rest of the arguments or an error. */
export function parseQueueFilter(
  args: readonly string[],
): { filter: QueueFilter; rest: string[] } | { error: string } {
  const filter: QueueFilter = { json: false };
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => args[++i];
    if (a === "--json") filter.json = true;
    else if (a === "--sender" || a === "--rcpt" || a === "--domain" || a === "--error") {
      const v = value();
      if (v === undefined) return { error: `${a} needs a value` };
      filter[a.slice(2) as "sender" | "rcpt" | "domain" | "error"] = v.toLowerCase();
    } else if (a === "--older-than") {
      const m = /^(\d+)([smhdw]?)$/.exec(value() ?? "");
      if (m === null) return { error: "--older-than needs a duration such as 30m, 4h or 2d" };
      filter.olderThan = Number(m[1]) * SCALE[m[2] || "s"]!;
    } else if (a.startsWith("--")) return { error: `unknown option ${a}` };
    else rest.push(a);
  }
  return { filter, rest };
}

export function filterLines(lines: readonly string[], f: QueueFilter, now: number): QueueLine[] {
  const out: QueueLine[] = [];
  for (const l of lines) {
    const q = parseQueueLine(l);
    if (q === null) continue;
    const dom = (a: string) => a.slice(a.lastIndexOf("@") + 1).toLowerCase();
    if (f.sender !== undefined && !q.sender.toLowerCase().includes(f.sender)) continue;
    if (f.rcpt !== undefined && !q.rcpt.toLowerCase().includes(f.rcpt)) continue;
    if (f.domain !== undefined && dom(q.rcpt) !== f.domain && dom(q.dest) !== f.domain) continue;
    if (f.olderThan !== undefined && now - q.ctime < f.olderThan) continue;
    if (f.error !== undefined && !q.error.toLowerCase().includes(f.error)) continue;
    out.push(q);
  }
  return out;
}

/** The text smtpctl prints: OpenSMTPD's lines, or one JSON array. */
export function renderQueue(lines: readonly string[], f: QueueFilter, now: number): string {
  const kept = filterLines(lines, f, now);
  if (f.json) return `${JSON.stringify(kept)}\n`;
  const keep = new Set(kept.map((q) => q.evpid));
  return lines
    .filter((l) => keep.has(l.split("|")[0]!))
    .map((l) => `${l}\n`)
    .join("");
}

/** The queue as smtpctl sees it without a daemon: every envelope, state "offline". */
export async function offlineQueueLines(spoolDir: string, msgid?: string): Promise<string[]> {
  const queue = await FsQueue.open(spoolDir, { readOnly: true });
  const lines: string[] = [];
  for await (const item of queue.walk()) {
    if (!item.ok) continue;
    if (msgid !== undefined && item.envelope.msgid !== msgid && item.evpid !== msgid) continue;
    lines.push(formatShowQueueLine(item.envelope, { state: "offline" }));
  }
  return lines;
}
