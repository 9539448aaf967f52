// A small SMTP client for end-to-end tests: raw lines over a socket, replies read whole
// (multi-line aware), every wait bounded.
import { connect, type Socket } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";

const CRLF = Buffer.from("\r\n");

export interface SmtpReply {
  readonly code: number;
  readonly lines: readonly string[];
  readonly text: string;
}

export class SmtpClient {
  private buf = "";
  private waiters: (() => void)[] = [];
  private closed = false;
  readonly sock: Socket;

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.setEncoding("latin1");
    sock.on("data", (d: string) => {
      this.buf += d;
      this.wake();
    });
    sock.on("close", () => {
      this.closed = true;
      this.wake();
    });
    sock.on("error", () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** `localAddress` picks the source: 127.0.0.2 is loopback but not one of this host's addresses. */
  static open(port: number, host = "127.0.0.1", localAddress?: string): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, ...(localAddress ? { localAddress } : {}) }, () =>
        resolve(new SmtpClient(s)),
      );
      s.once("error", reject);
    });
  }

  /** SMTPS: TLS from the first byte. `opts` carries servername, client certificate, ... */
  static openTls(port: number, opts: ConnectionOptions = {}): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false, ...opts }, () =>
        resolve(new SmtpClient(s)),
      );
      s.once("error", reject);
    });
  }

  /**
   * The TLS handshake after "220 Ready to start TLS": resolves to a client on the TLS socket.
   * Plaintext the server sent after the 220 would still be in `unread` here.
   */
  startTls(opts: ConnectionOptions = {}, timeoutMs = 10_000): Promise<SmtpClient> {
    const raw = this.sock;
    raw.removeAllListeners("data");
    return new Promise((resolve, reject) => {
      const t = tlsConnect({ socket: raw, rejectUnauthorized: false, ...opts }, () => {
        clearTimeout(timer);
        resolve(new SmtpClient(t));
      });
      const timer = setTimeout(() => {
        t.destroy();
        reject(new Error("TLS handshake timed out"));
      }, timeoutMs);
      t.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** Received bytes not yet returned as a reply. */
  get unread(): string {
    return this.buf;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get tls(): TLSSocket | null {
    return "encrypted" in this.sock ? (this.sock as TLSSocket) : null;
  }

  static openPath(path: string): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ path }, () => resolve(new SmtpClient(s)));
      s.once("error", reject);
    });
  }

  /** The next complete reply, or an error after `timeoutMs`. */
  async reply(timeoutMs = 10_000): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buf.split("\r\n");
      for (let i = 0; i < lines.length - 1; i++) {
        if (/^\d{3} /.test(lines[i]!) || /^\d{3}$/.test(lines[i]!)) {
          const taken = lines.slice(0, i + 1);
          this.buf = lines.slice(i + 1).join("\r\n");
          return { code: Number(taken[i]!.slice(0, 3)), lines: taken, text: taken.join("\n") };
        }
      }
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no reply within ${timeoutMs} ms; unread: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  send(raw: string | Buffer): void {
    this.sock.write(raw);
  }

  async command(line: string, timeoutMs?: number): Promise<SmtpReply> {
    this.send(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  /**
   * MAIL, RCPT for each recipient, DATA and `message` (dot-stuffed here, CRLF added at the end
   * when missing): the reply to the final dot. An unexpected intermediate reply throws.
   */
  async sendMail(
    from: string,
    rcpts: readonly string[],
    message: string | Buffer,
    mailParams = "",
  ): Promise<SmtpReply> {
    const expect = async (line: string, code: number) => {
      const r = await this.command(line);
      if (r.code !== code) throw new Error(`${line}: ${r.text}`);
    };
    await expect(`MAIL FROM:<${from}>${mailParams === "" ? "" : ` ${mailParams}`}`, 250);
    for (const r of rcpts) await expect(`RCPT TO:<${r}>`, 250);
    await expect("DATA", 354);
    let body = Buffer.isBuffer(message) ? message : Buffer.from(message, "utf8");
    if (!body.subarray(-2).equals(Buffer.from("\r\n"))) body = Buffer.concat([body, CRLF]);
    const stuffed = body.toString("latin1").replace(/(^|\r\n)\./g, "$1..");
    this.send(Buffer.concat([Buffer.from(stuffed, "latin1"), Buffer.from(".\r\n")]));
    return this.reply();
  }

  /** True when no complete reply arrives within `ms` (a close counts as silence). */
  async silentFor(ms: number): Promise<boolean> {
    try {
      const r = await this.reply(ms);
      this.buf = `${r.lines.join("\r\n")}\r\n${this.buf}`;
      return false;
    } catch {
      return true;
    }
  }

  /** Wait until the server closes the connection. */
  async closedByPeer(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.closed;
  }

  close(): void {
    this.sock.destroy();
  }
}
