// LMTP client (RFC 2033) for `action lmtp DEST [rcpt-to]`: one recipient per session, the
// reply to the final dot decides: 2xx delivered, 4xx temporary, 5xx permanent (OpenSMTPD 7.7).
import { connect, type Socket } from "node:net";
import { dotStuff } from "../smtp/dot.js";
import type { DeliveryResult } from "./deliver.js";

export const LMTP_TIMEOUT_MS = 300_000;

export interface LmtpJob {
  readonly sender: string;
  readonly rcpt: string;
  readonly mailname: string;
  /** CRLF line endings, not dot-stuffed. */
  readonly message: Buffer;
}

/** `host:port`, `[v6]:port` or an absolute socket path. */
export function parseLmtpDestination(
  dest: string,
): { path: string } | { host: string; port: number } | null {
  if (dest.startsWith("/")) return { path: dest };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(dest);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

class ReplyReader {
  #buf = "";
  #waiters: ((r: { code: number; text: string } | null) => void)[] = [];
  #lines: string[] = [];
  #closed = false;

  constructor(sock: Socket) {
    sock.setEncoding("latin1");
    sock.on("data", (d: string) => {
      this.#buf += d;
      if (this.#buf.length > 1 << 20) sock.destroy();
      for (let nl = this.#buf.indexOf("\n"); nl >= 0; nl = this.#buf.indexOf("\n")) {
        const line = this.#buf.slice(0, nl).replace(/\r$/, "");
        this.#buf = this.#buf.slice(nl + 1);
        this.#lines.push(line);
        if (/^\d{3} /.test(line) || !/^\d{3}-/.test(line)) this.#flush();
      }
    });
    const end = () => {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w(null);
    };
    sock.on("close", end);
    sock.on("error", end);
  }

  #ready: { code: number; text: string }[] = [];

  #flush() {
    const lines = this.#lines.splice(0);
    const last = lines[lines.length - 1] ?? "";
    const reply = { code: Number(last.slice(0, 3)) || 0, text: lines.join(" / ") };
    const w = this.#waiters.shift();
    if (w) w(reply);
    else this.#ready.push(reply);
  }

  next(): Promise<{ code: number; text: string } | null> {
    const r = this.#ready.shift();
    if (r !== undefined) return Promise.resolve(r);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((res) => this.#waiters.push(res));
  }
}

export async function lmtpDeliver(destination: string, job: LmtpJob): Promise<DeliveryResult> {
  const d = parseLmtpDestination(destination);
  if (d === null) return { result: "permfail", text: `bad LMTP destination ${destination}` };
  const sock = "path" in d ? connect(d.path) : connect(d.port, d.host);
  sock.setTimeout(LMTP_TIMEOUT_MS, () => sock.destroy());
  const connected = await new Promise<boolean>((res) => {
    sock.once("connect", () => res(true));
    sock.once("error", () => res(false));
  });
  if (!connected) return { result: "tempfail", text: `cannot connect to LMTP ${destination}` };
  const rd = new ReplyReader(sock);
  const fail = (r: { code: number; text: string } | null, step: string): DeliveryResult => {
    sock.destroy();
    if (r === null) return { result: "tempfail", text: `LMTP ${step}: connection lost` };
    return {
      result: r.code >= 500 && r.code < 600 ? "permfail" : "tempfail",
      text: `LMTP ${step}: ${r.text}`,
    };
  };
  const step = async (cmd: string | null, want: number, name: string) => {
    if (cmd !== null) sock.write(`${cmd}\r\n`);
    const r = await rd.next();
    return r !== null && Math.floor(r.code / 100) === want ? null : fail(r, name);
  };
  const clean = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, "");
  let f =
    (await step(null, 2, "greeting")) ??
    (await step(`LHLO ${clean(job.mailname)}`, 2, "LHLO")) ??
    (await step(`MAIL FROM:<${clean(job.sender)}>`, 2, "MAIL FROM")) ??
    (await step(`RCPT TO:<${clean(job.rcpt)}>`, 2, "RCPT TO")) ??
    (await step("DATA", 3, "DATA"));
  if (f !== null) return f;
  const body = dotStuff(job.message);
  const tail = body.length === 0 || body.subarray(-2).toString() === "\r\n" ? "" : "\r\n";
  sock.write(body);
  sock.write(`${tail}.\r\n`);
  f = await step(null, 2, "end of data");
  if (f !== null) return f;
  sock.end("QUIT\r\n");
  return { result: "ok", text: `delivered over LMTP to ${destination}` };
}
