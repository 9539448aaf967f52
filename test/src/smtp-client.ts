// A small SMTP client for end-to-end tests: raw lines over a socket, replies read whole
// (multi-line aware), every wait bounded.
import { connect, type Socket } from "node:net";

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
