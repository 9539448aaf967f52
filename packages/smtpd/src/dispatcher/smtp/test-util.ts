// Test helpers for the inbound session core: in-memory ports and a dialog runner for the
// `S:` / `C:` scenario format of STYLE §9 (used by *.test.ts only).
import type { Path } from "../../smtp/address.js";
import { formatReply, permFail, tempFail } from "../../smtp/reply.js";
import { SmtpSession } from "./session.js";
import type {
  ConnectionFacts,
  ListenerFacts,
  Output,
  SessionPorts,
  TransactionView,
} from "./types.js";

export const LISTENER: ListenerFacts = {
  hostname: "mx.test",
  isLocal: false,
  port: 25,
  tls: "none",
  authMode: "none",
  dsn: true,
  maskSrc: false,
  receivedAuth: false,
  tag: null,
  maxMessageBytes: 35 * 1024 * 1024,
  maxRcpt: 1000,
  maxMails: 100,
  subAddrDelim: "+",
};

export const CONN: ConnectionFacts = {
  remoteAddress: "192.0.2.1",
  remotePort: 40000,
  rdns: "client.test",
  localAddress: "192.0.2.25",
  isSecure: false,
};

export interface Committed {
  msgid: string;
  data: Buffer;
  tx: TransactionView;
}

export class FakePorts implements SessionPorts {
  next = 1;
  writes = new Map<string, Buffer[]>();
  committed: Committed[] = [];
  aborted: string[] = [];
  auths: string[] = [];
  throwOn: string | null = null;

  async authenticate(user: string, password: string): Promise<"ok" | "fail" | "tempfail"> {
    this.auths.push(`${user}:${password}`);
    if (user === "temp") return "tempfail";
    return user === "alice" && password === "secret" ? "ok" : "fail";
  }
  async checkSender(_s: unknown, p: Path) {
    if (this.throwOn === "sender") throw new Error("boom");
    if (p.local === "blocked")
      return { kind: "reject" as const, reply: permFail(550, "5.7.1", "Sender refused") };
    return { kind: "ok" as const };
  }
  async checkRecipient(_s: unknown, p: Path) {
    if (p.local === "unknown")
      return { kind: "reject" as const, reply: permFail(550, "5.1.1", "Invalid recipient") };
    if (p.local === "later")
      return { kind: "reject" as const, reply: tempFail(450, "4.2.0", "Try later") };
    return { kind: "ok" as const, action: "local" };
  }
  async openMessage(tx: TransactionView) {
    if (tx.sender.local === "noqueue")
      return { kind: "tempfail" as const, reply: tempFail(451, "4.3.0", "Queue full") };
    const msgid = (this.next++).toString(16).padStart(8, "0");
    this.writes.set(msgid, []);
    return { kind: "ok" as const, msgid };
  }
  async writeMessage(msgid: string, chunk: Buffer): Promise<void> {
    if (this.throwOn === "write") throw new Error("disk");
    const w = this.writes.get(msgid);
    if (!w) throw new Error(`write to unknown message ${msgid}`);
    w.push(Buffer.from(chunk));
  }
  async commitMessage(msgid: string, tx: TransactionView) {
    if (tx.sender.local === "nocommit")
      return { kind: "tempfail" as const, reply: tempFail(451, "4.3.0", "Commit failed") };
    this.committed.push({ msgid, data: Buffer.concat(this.writes.get(msgid) ?? []), tx });
    return { kind: "ok" as const };
  }
  async abortMessage(msgid: string): Promise<void> {
    this.aborted.push(msgid);
  }
}

/** Outputs as text lines: reply lines without CRLF, "[starttls]", "[close]". */
export function outputLines(outs: readonly Output[]): string[] {
  const lines: string[] = [];
  for (const o of outs) {
    if (o.kind === "reply")
      lines.push(
        ...formatReply(o.reply)
          .split("\r\n")
          .filter((l) => l !== ""),
      );
    else lines.push(`[${o.kind}]`);
  }
  return lines;
}

export function newSession(
  listener: Partial<ListenerFacts> = {},
  conn: Partial<ConnectionFacts> = {},
  ports = new FakePorts(),
): { session: SmtpSession; ports: FakePorts } {
  const session = new SmtpSession(
    { ...LISTENER, ...listener },
    { ...CONN, ...conn },
    ports,
    () => new Date(Date.UTC(2025, 10, 25, 7, 15, 0)),
  );
  return { session, ports };
}

/** Runs a whole client input and returns every output line, greeting first. */
export async function runAll(session: SmtpSession, chunks: readonly Buffer[]): Promise<string[]> {
  const lines = outputLines([{ kind: "reply", reply: session.greeting() }]);
  for (const c of chunks) lines.push(...outputLines(await session.feed(c)));
  return lines;
}

const wild = (pattern: string): RegExp =>
  new RegExp(
    "^" +
      pattern
        .split("*")
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*") +
      "$",
    "s",
  );

export const unescapeDialog = (s: string): string =>
  s.replace(/\\(r|n|t|0|\\|x([0-9a-fA-F]{2}))/g, (_m, c: string, hex?: string) =>
    hex !== undefined
      ? String.fromCharCode(parseInt(hex, 16))
      : c === "r"
        ? "\r"
        : c === "n"
          ? "\n"
          : c === "t"
            ? "\t"
            : c === "0"
              ? "\0"
              : "\\",
  );

function parseFacts(words: string[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const w of words) {
    const eq = w.indexOf("=");
    const k = eq < 0 ? w : w.slice(0, eq);
    const v = eq < 0 ? "true" : w.slice(eq + 1);
    o[k] = v === "true" ? true : v === "false" ? false : /^[0-9]+$/.test(v) ? Number(v) : v;
  }
  return o;
}

/**
 * Runs a .dialog scenario. `C: text` sends text + CRLF, `R: text` sends text with \r \n \t \0
 * \xHH escapes and no CRLF; `S: pattern` (with * wildcards) matches the next output line;
 * `! listener k=v ...`, `! conn k=v ...` set facts before the greeting; `! tls-established`
 * and `! timeout` drive the shell side. Returns the problems found (empty: pass).
 */
export async function runDialog(text: string): Promise<{ problems: string[]; ports: FakePorts }> {
  const problems: string[] = [];
  let listener: Partial<ListenerFacts> = {};
  let conn: Partial<ConnectionFacts> = {};
  let started: { session: SmtpSession; ports: FakePorts } | null = null;
  const pending: string[] = [];
  const start = (): { session: SmtpSession; ports: FakePorts } => {
    if (started === null) {
      started = newSession(listener, conn);
      pending.push(...outputLines([{ kind: "reply", reply: started.session.greeting() }]));
    }
    return started;
  };
  let n = 0;
  for (const raw of text.split("\n")) {
    n++;
    const line = raw.replace(/\r$/, "");
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("! ")) {
      const [what, ...rest] = line.slice(2).split(" ");
      if (what === "listener")
        listener = { ...listener, ...parseFacts(rest) } as Partial<ListenerFacts>;
      else if (what === "conn") conn = { ...conn, ...parseFacts(rest) } as Partial<ConnectionFacts>;
      else if (what === "tls-established")
        start().session.tlsEstablished(rest[0] ?? "TLSv1.3:TLS_AES_256_GCM_SHA384:256");
      else if (what === "timeout") pending.push(...outputLines(start().session.timeout()));
      else problems.push(`line ${n}: unknown directive ${what}`);
      continue;
    }
    const s = start();
    if (line === "C:" || line === "C: ")
      pending.push(...outputLines(await s.session.feed(Buffer.from("\r\n"))));
    else if (line.startsWith("C: "))
      pending.push(...outputLines(await s.session.feed(Buffer.from(line.slice(3) + "\r\n"))));
    else if (line.startsWith("R: "))
      pending.push(
        ...outputLines(await s.session.feed(Buffer.from(unescapeDialog(line.slice(3)), "latin1"))),
      );
    else if (line.startsWith("S: ")) {
      const got = pending.shift();
      if (got === undefined) problems.push(`line ${n}: expected "${line.slice(3)}", got nothing`);
      else if (!wild(line.slice(3)).test(got))
        problems.push(`line ${n}: expected "${line.slice(3)}", got "${got}"`);
    } else problems.push(`line ${n}: cannot read "${line}"`);
  }
  const s = start();
  if (pending.length > 0) problems.push(`unexpected output: ${JSON.stringify(pending)}`);
  return { problems, ports: s.ports };
}
