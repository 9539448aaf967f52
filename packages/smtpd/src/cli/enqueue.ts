// The SMTP dialogue of `sendmail` (cli) with smtpd over the enqueue socket, as enqueue.c:
// EHLO localhost, MAIL FROM, one RCPT TO per recipient, DATA, QUIT, each reply awaited
// before the next command (no pipelining). The outcome says which step failed and how.
import { connect, type Socket } from "node:net";

/** How long one reply may take (the server's own timeout is five minutes). */
const REPLY_TIMEOUT_MS = 300_000;

export interface SmtpReply {
  readonly code: number;
  readonly lines: readonly string[];
}

export type Step = "connect" | "banner" | "ehlo" | "mail" | "rcpt" | "data" | "message" | "quit";

export type EnqueueOutcome =
  | { readonly kind: "ok"; readonly reply: SmtpReply }
  /** The socket does not exist or nobody listens: smtpd is not running. */
  | { readonly kind: "down"; readonly error: string }
  | { readonly kind: "refused"; readonly step: Step; readonly reply: SmtpReply }
  | { readonly kind: "failed"; readonly step: Step; readonly error: string };

export interface EnqueueRequest {
  readonly socketPath: string;
  readonly sender: string;
  readonly mailParams: readonly string[];
  readonly rcpts: readonly string[];
  readonly rcptParams: readonly string[];
  /** The message, dot-stuffed and CRLF-terminated, without the final ".". */
  readonly data: Buffer;
  /** Wants the 8BITMIME / SMTPUTF8 parameters when the server offers them. */
  readonly is8bit: boolean;
  readonly isUtf8: boolean;
  /** -v: the dialogue on stdout, as enqueue.c prints it. */
  readonly trace: ((line: string) => void) | null;
}

/** Reads replies off a socket: one complete (multi-line) reply per call. */
class ReplyReader {
  #buf = "";
  #lines: string[] = [];
  #waiting: ((r: SmtpReply | Error) => void) | null = null;
  #error: Error | null = null;
  readonly #trace: ((line: string) => void) | null;

  constructor(sock: Socket, trace: ((line: string) => void) | null) {
    this.#trace = trace;
    sock.setEncoding("latin1");
    sock.on("data", (d: string) => {
      this.#buf += d;
      this.#drain();
    });
    sock.on("error", (e) => this.#fail(e));
    sock.on("close", () => this.#fail(new Error("connection closed by smtpd")));
  }

  #fail(e: Error): void {
    this.#error ??= e;
    const w = this.#waiting;
    this.#waiting = null;
    w?.(this.#error);
  }

  #drain(): void {
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl < 0) return;
      const line = this.#buf.slice(0, nl).replace(/\r$/, "");
      this.#buf = this.#buf.slice(nl + 1);
      this.#trace?.(`<<< ${line}`);
      this.#lines.push(line);
      if (line[3] === "-") continue;
      const lines = this.#lines;
      this.#lines = [];
      const code = Number(line.slice(0, 3));
      const w = this.#waiting;
      this.#waiting = null;
      const r: SmtpReply | Error =
        line.length < 3 || !/^[2-5][0-9][0-9]$/.test(line.slice(0, 3))
          ? new Error(`bad response: ${line}`)
          : { code, lines };
      if (w) w(r);
      else this.#fail(new Error(`unexpected reply: ${line}`));
    }
  }

  next(): Promise<SmtpReply> {
    return new Promise((resolve, reject) => {
      if (this.#error) return reject(this.#error);
      const timer = setTimeout(() => this.#fail(new Error("timed out")), REPLY_TIMEOUT_MS);
      this.#waiting = (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
      this.#drain();
    });
  }
}

function open(path: string): Promise<Socket | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.removeAllListeners("error");
      resolve(s);
    });
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e));
  });
}

export async function enqueue(req: EnqueueRequest): Promise<EnqueueOutcome> {
  const sock = await open(req.socketPath);
  if (sock instanceof Error) {
    const code = sock.code;
    if (code === "ENOENT" || code === "ECONNREFUSED" || code === "ENOTSOCK")
      return { kind: "down", error: sock.message };
    return { kind: "failed", step: "connect", error: sock.message };
  }
  const reader = new ReplyReader(sock, req.trace);
  let step: Step = "banner";
  const send = (line: string) => {
    req.trace?.(`>>> ${line}`);
    sock.write(`${line}\r\n`, "latin1");
  };
  const positive = (c: number) => c >= 200 && c < 400;
  try {
    let r = await reader.next();
    if (!positive(r.code)) return { kind: "refused", step, reply: r };
    step = "ehlo";
    send("EHLO localhost");
    r = await reader.next();
    if (!positive(r.code)) return { kind: "refused", step, reply: r };
    const ext = new Set(r.lines.slice(1).map((l) => l.slice(4).split(" ")[0]!.toUpperCase()));
    const params = [...req.mailParams];
    if (req.is8bit && ext.has("8BITMIME")) params.push("BODY=8BITMIME");
    if (req.isUtf8 && ext.has("SMTPUTF8")) params.push("SMTPUTF8");
    step = "mail";
    send(`MAIL FROM:<${req.sender}>${params.map((p) => ` ${p}`).join("")}`);
    r = await reader.next();
    if (!positive(r.code)) return { kind: "refused", step, reply: r };
    step = "rcpt";
    for (const rcpt of req.rcpts) {
      send(`RCPT TO:<${rcpt}>${req.rcptParams.map((p) => ` ${p}`).join("")}`);
      r = await reader.next();
      if (!positive(r.code)) return { kind: "refused", step, reply: r };
    }
    step = "data";
    send("DATA");
    r = await reader.next();
    if (r.code !== 354) return { kind: "refused", step, reply: r };
    step = "message";
    sock.write(req.data);
    send(".");
    const accepted = await reader.next();
    if (!positive(accepted.code)) return { kind: "refused", step, reply: accepted };
    step = "quit";
    send("QUIT");
    await reader.next().catch(() => null); // the message is queued; QUIT's reply is a courtesy
    return { kind: "ok", reply: accepted };
  } catch (e) {
    return { kind: "failed", step, error: (e as Error).message };
  } finally {
    sock.destroy();
  }
}
