// The `smtpctl` program: talks to the control role over its unix socket. Commands may be
// abbreviated to any unambiguous prefix (`sh q`), as with OpenSMTPD's smtpctl.
import { connect } from "node:net";
import { hashPassword, platformFacts } from "@facteur/compat";
import { offlineQueueLines, parseQueueFilter, renderQueue } from "./queue-view.js";

/** The command words smtpctl knows today, as full argument patterns. */
const COMMANDS: readonly (readonly string[])[] = [
  ["encrypt"],
  ["show", "status"],
  ["show", "stats"],
  ["show", "queue"],
  ["show", "envelope"],
  ["show", "message"],
  ["pause", "mda"],
  ["pause", "mta"],
  ["pause", "smtp"],
  ["pause", "envelope"],
  ["resume", "mda"],
  ["resume", "mta"],
  ["resume", "smtp"],
  ["resume", "envelope"],
  ["schedule"],
  ["remove"],
  ["reload"],
  ["update", "table"],
  ["discover"],
  ["log", "brief"],
  ["log", "verbose"],
];

/** Expand unambiguous prefixes: `sh q` -> `show queue`. Extra words are arguments. */
export function expandCommand(argv: readonly string[]): string[] | { error: string } {
  let candidates = COMMANDS;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const pos = i;
    const atThisPos = candidates.filter((c) => c.length > pos);
    if (atThisPos.length === 0) return [...out, ...argv.slice(i)];
    const exact = atThisPos.filter((c) => c[pos] === word);
    const matching = exact.length > 0 ? exact : atThisPos.filter((c) => c[pos]!.startsWith(word));
    const words = new Set(matching.map((c) => c[pos]!));
    if (words.size === 0) return { error: `invalid command: ${argv.join(" ")}` };
    if (words.size > 1) return { error: `ambiguous command: ${argv.slice(0, i + 1).join(" ")}` };
    const w = [...words][0]!;
    out.push(w);
    candidates = matching.filter((c) => c[pos] === w);
  }
  if (!candidates.some((c) => c.length === out.length))
    return { error: `incomplete command: ${argv.join(" ")}` };
  return out;
}

export function request(
  socketPath: string,
  argv: readonly string[],
  timeoutMs = 10_000,
): Promise<{ ok: boolean; text: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let buf = "";
    sock.setEncoding("utf8");
    sock.setTimeout(timeoutMs, () => {
      sock.destroy();
      reject(new Error("timed out"));
    });
    sock.on("connect", () => sock.write(`${JSON.stringify({ argv })}\n`));
    sock.on("data", (d: string) => {
      buf += d;
    });
    sock.on("error", reject);
    sock.on("end", () => {
      try {
        resolve(JSON.parse(buf) as { ok: boolean; text: string });
      } catch {
        reject(new Error("malformed answer from smtpd"));
      }
    });
  });
}

export async function smtpctlMain(argv: readonly string[]): Promise<number> {
  let root: string | null = null;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--root") root = argv[++i] ?? null;
    else if (a.startsWith("--root=")) root = a.slice(7);
    else rest.push(a);
  }
  const cmd = expandCommand(rest);
  if ("error" in cmd) {
    process.stderr.write(`smtpctl: ${cmd.error}\n`);
    return 1;
  }
  if (cmd.length === 0) {
    process.stderr.write("usage: smtpctl [--root dir] command [argument ...]\n");
    return 1;
  }
  if (cmd[0] === "encrypt") return encrypt(cmd.slice(1));
  let facts: ReturnType<typeof platformFacts>;
  try {
    facts = platformFacts(root !== null ? { root } : {});
  } catch (e) {
    process.stderr.write(`smtpctl: ${(e as Error).message}\n`);
    return 1;
  }
  if (cmd[0] === "show" && cmd[1] === "queue")
    return showQueue(facts.controlSocket, facts.spoolDir, cmd.slice(2));
  try {
    const json = cmd[0] === "show" && cmd.includes("--json");
    const r = await request(
      facts.controlSocket,
      cmd.filter((w) => w !== "--json"),
    );
    (r.ok ? process.stdout : process.stderr).write(
      r.ok && json ? `${JSON.stringify(showAsJson(cmd[1] ?? "", r.text))}\n` : r.text,
    );
    return r.ok ? 0 : 1;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" || code === "ECONNREFUSED"
        ? "smtpd doesn't seem to be running"
        : (e as Error).message;
    process.stderr.write(`smtpctl: ${why}\n`);
    return 1;
  }
}

/**
 * `--json` for the other show commands (beyond OpenSMTPD): `show status` as
 * {"mda":"running",…}, `show stats` as {"key":value,…} (numbers where they are numbers),
 * `show envelope` as {"key":"value",…}; anything else as {"text": …}.
 */
export function showAsJson(what: string, text: string): unknown {
  const lines = text.split("\n").filter((l) => l !== "");
  if (what === "status")
    return Object.fromEntries(
      lines.map((l) => {
        const [k, v] = l.split(" ");
        return [k!.toLowerCase(), v ?? ""];
      }),
    );
  const pairs = (sep: string) =>
    lines.map((l) => {
      const i = l.indexOf(sep);
      return i < 0 ? [l, ""] : [l.slice(0, i), l.slice(i + sep.length)];
    });
  if (what === "stats")
    return Object.fromEntries(pairs("=").map(([k, v]) => [k, /^-?\d+$/.test(v!) ? Number(v) : v]));
  if (what === "envelope") return Object.fromEntries(pairs(": "));
  return { text };
}

const notRunning = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ECONNREFUSED";
};

/**
 * `show queue [msgid] [--sender S] [--rcpt R] [--domain D] [--older-than AGE] [--error E]
 * [--json]`: from the daemon, or from the spool when the daemon is not running.
 */
async function showQueue(
  socket: string,
  spoolDir: string,
  args: readonly string[],
): Promise<number> {
  const p = parseQueueFilter(args);
  if ("error" in p) {
    process.stderr.write(`smtpctl: ${p.error}\n`);
    return 1;
  }
  const [msgid] = p.rest;
  let lines: string[];
  try {
    const r = await request(socket, ["show", "queue", ...(msgid !== undefined ? [msgid] : [])]);
    if (!r.ok) {
      process.stderr.write(r.text);
      return 1;
    }
    lines = r.text.split("\n").filter((l) => l !== "");
  } catch (e) {
    if (!notRunning(e)) {
      process.stderr.write(`smtpctl: ${(e as Error).message}\n`);
      return 1;
    }
    try {
      lines = await offlineQueueLines(spoolDir, msgid);
    } catch (err) {
      process.stderr.write(
        `smtpctl: cannot read the queue in ${spoolDir}: ${(err as Error).message}\n`,
      );
      return 1;
    }
  }
  process.stdout.write(renderQueue(lines, p.filter, Math.floor(Date.now() / 1000)));
  return 0;
}

/** `smtpctl encrypt [password]`: a crypt(3) SHA-512 hash for credentials tables. */
async function encrypt(args: readonly string[]): Promise<number> {
  let pw = args[0];
  if (pw === undefined) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    pw = Buffer.concat(chunks)
      .toString("utf8")
      .replace(/\r?\n$/, "");
  }
  process.stdout.write(`${await hashPassword(pw)}\n`);
  return 0;
}
