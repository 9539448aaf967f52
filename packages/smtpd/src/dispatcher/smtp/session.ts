// The inbound SMTP session core (dispatcher role): I/O-free. The shell feeds raw bytes and
// writes the returned outputs; sockets, TLS and timers live in the shell. Lookups and the queue
// are reached through injected ports. Everything the client sends ends in a reply, never in an
// exception; a port that throws gets "451 4.3.0" and the connection is closed (STYLE §6).

import { pathToString } from "../../smtp/address.js";
import { DotReader, LineEndingChecker } from "../../smtp/dot.js";
import { receivedHeader } from "../../smtp/headers.js";
import {
  authBadBase64,
  badChars,
  badSequence,
  lineTooLong,
  localError,
  pipelinedAfterRefusal,
  timeoutReply,
  tooManyErrors,
  unknownCommand,
} from "../../smtp/replies.js";
import { ok, type Reply } from "../../smtp/reply.js";
import { type AuthStep, authLine } from "./auth.js";
import { COMMANDS, type Ctx } from "./commands.js";
import { banner, SERVER_NAME } from "./greeting.js";
import { IncomingMessage } from "./message.js";
import { Session } from "./state.js";
import type {
  ConnectionFacts,
  ListenerFacts,
  Output,
  SessionPorts,
  SessionView,
  TransactionView,
} from "./types.js";

/**
 * Longest command line, CRLF included. RFC 5321 §4.5.3.1.4 says 512 but lets extensions grow
 * it; RFC 4954 §4 wants 12288 for AUTH responses. OpenSMTPD allows 65535. A longer line gets
 * "500 5.5.2 Line too long" and the connection is closed (the stream cannot be trusted).
 */
export const MAX_LINE_OCTETS = 16384;
/** Protocol errors (5xx syntax, sequence, unknown command, failed AUTH) before 421 and close. */
export const MAX_ERRORS = 20;
/** Reply codes that count as protocol errors; policy refusals (550, 553, 552, 452) do not. */
const ERROR_CODES = new Set([500, 501, 502, 503, 504, 530, 535, 555]);

type Mode =
  | { kind: "command" }
  | { kind: "auth"; step: AuthStep }
  | { kind: "data"; reader: DotReader }
  | { kind: "bdat"; size: number; remaining: number; last: boolean; pending: Reply | null }
  | { kind: "tls" };

const EMPTY = Buffer.alloc(0);
const utf8 = new TextDecoder("utf-8", { fatal: true });

export class SmtpSession {
  readonly #listener: ListenerFacts;
  readonly #conn: ConnectionFacts;
  readonly #ports: SessionPorts;
  readonly #now: () => Date;
  readonly #s: Session;
  readonly #ctx: Ctx;
  #mode: Mode = { kind: "command" };
  #buf: Buffer = EMPTY;
  #closed = false;
  #chain: Promise<unknown> = Promise.resolve();
  /** The command being answered, as logged: printable, AUTH credentials left out. */
  #lastCommand = "";
  #authCommand = "AUTH";

  constructor(
    listener: ListenerFacts,
    conn: ConnectionFacts,
    ports: SessionPorts,
    now: () => Date = () => new Date(),
  ) {
    this.#listener = listener;
    this.#conn = conn;
    this.#ports = ports;
    this.#now = now;
    this.#s = new Session(conn.isSecure, conn.tlsInfo ?? null, conn.tlsVerified ?? false);
    this.#ctx = this.#makeCtx();
  }

  greeting(): Reply {
    return banner(this.#listener.hostname);
  }

  get view(): SessionView {
    const s = this.#s;
    return {
      listener: this.#listener,
      conn: this.#conn,
      helo: s.helo,
      isEsmtp: s.isEsmtp,
      isSecure: s.isSecure,
      tlsInfo: s.tlsInfo,
      authUser: s.authUser,
    };
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Feeds raw bytes; resolves to what to do, in order. Calls are serialised. */
  feed(data: Buffer): Promise<Output[]> {
    const p = this.#chain.then(() => this.#feed(data));
    this.#chain = p.catch(() => undefined);
    return p;
  }

  /**
   * The TLS handshake after STARTTLS succeeded. RFC 3207 §4.2: everything learnt before is
   * forgotten; the client must EHLO again. `info` is "TLSv1.3:CIPHER:bits".
   */
  tlsEstablished(info: string, isVerified = false): void {
    const s = this.#s;
    s.isSecure = true;
    s.tlsInfo = info;
    s.tlsVerified = isVerified;
    s.helo = null;
    s.isEsmtp = false;
    s.tx = null;
    this.#buf = EMPTY;
    if (this.#mode.kind === "tls") this.#mode = { kind: "command" };
  }

  /** The shell's idle timer fired: 421 4.4.2 and close. */
  timeout(): Output[] {
    if (this.#closed) return [];
    this.#closed = true;
    void this.#abortOpen();
    return [{ kind: "reply", reply: timeoutReply }, { kind: "close" }];
  }

  /** The client went away: drops a message being received. */
  async disconnected(): Promise<void> {
    this.#closed = true;
    await this.#chain;
    await this.#abortOpen();
  }

  async #abortOpen(): Promise<void> {
    const msg = this.#s.tx?.message;
    this.#s.tx = null;
    if (msg) await msg.abort().catch(() => undefined);
  }

  async #feed(data: Buffer): Promise<Output[]> {
    const out: Output[] = [];
    if (this.#closed || this.#mode.kind === "tls") return out; // STARTTLS injection: discarded
    this.#buf = this.#buf.length === 0 ? data : Buffer.concat([this.#buf, data]);
    try {
      await this.#run(out);
    } catch (err) {
      this.#ports.log?.(
        "error",
        `smtp session fault: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
      await this.#emit(out, { ...localError, close: true });
    }
    // A timeout or disconnect may have landed while a port was answering (CVE-2020-35680
    // class): whatever that port opened is dropped now.
    if (this.#closed) await this.#abortOpen();
    return out;
  }

  async #emit(out: Output[], reply: Reply): Promise<void> {
    if (this.#closed) return;
    out.push({ kind: "reply", reply });
    if (reply.close) {
      out.push({ kind: "close" });
      this.#closed = true;
      this.#buf = EMPTY;
      await this.#abortOpen();
    }
  }

  /** A reply to a command: protocol errors are counted, too many of them end the session. */
  async #answer(out: Output[], reply: Reply): Promise<void> {
    if (reply.code >= 400) this.#ports.failedCommand?.(this.#lastCommand, reply);
    await this.#emit(out, reply);
    if (!ERROR_CODES.has(reply.code)) return;
    if (++this.#s.errors >= MAX_ERRORS) await this.#emit(out, tooManyErrors);
  }

  async #run(out: Output[]): Promise<void> {
    const buf = this.#buf;
    let pos = 0;
    while (!this.#closed && this.#mode.kind !== "tls") {
      const m = this.#mode;
      if (m.kind === "data") {
        const chunk = m.reader.push(buf, pos);
        pos += chunk.consumed;
        const msg = this.#s.tx?.message;
        if (!msg) throw new Error("DATA without a message");
        await msg.write(chunk.content, m.reader.rawBytes);
        if (m.reader.hasBareCr || m.reader.hasBareLf) msg.flagBareNewline();
        if (!chunk.done) break;
        this.#mode = { kind: "command" };
        await this.#emit(out, await this.#endMessage());
        continue;
      }
      if (m.kind === "bdat") {
        const n = Math.min(m.remaining, buf.length - pos);
        const piece = buf.subarray(pos, pos + n);
        pos += n;
        m.remaining -= n;
        await this.#bdatPiece(m.pending, piece);
        if (m.remaining > 0) break;
        this.#mode = { kind: "command" };
        await this.#answer(out, await this.#endChunk(m.size, m.last, m.pending));
        continue;
      }
      const lf = buf.indexOf(0x0a, pos);
      if (lf < 0 ? buf.length - pos >= MAX_LINE_OCTETS : lf + 1 - pos > MAX_LINE_OCTETS) {
        await this.#emit(out, { ...lineTooLong, close: true });
        break;
      }
      if (lf < 0) break;
      // Command lines end at LF; one CR before it is dropped. A CR anywhere else is refused.
      const end = lf > pos && buf[lf - 1] === 0x0d ? lf - 1 : lf;
      const line = buf.subarray(pos, end);
      pos = lf + 1;
      await this.#line(out, line, pos < buf.length);
    }
    if (this.#closed || this.#mode.kind === "tls") this.#buf = EMPTY;
    else this.#buf = pos >= buf.length ? EMPTY : Buffer.from(buf.subarray(pos));
  }

  async #line(out: Output[], raw: Buffer, moreBuffered: boolean): Promise<void> {
    const text = decodeLine(raw);
    const mode = this.#mode;
    if (mode.kind === "auth") {
      this.#mode = { kind: "command" };
      this.#lastCommand = `${this.#authCommand} (...)`;
      if (text === null) return this.#answer(out, authBadBase64);
      const r = await authLine(mode.step, text, this.#s, this.#ports);
      if (r.next !== null) this.#mode = { kind: "auth", step: r.next };
      return this.#answer(out, r.reply);
    }
    if (text === null) {
      this.#lastCommand = "<unprintable>";
      return this.#answer(out, badChars);
    }
    const line = text.replace(/ +$/, "");
    const sp = line.indexOf(" ");
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const args = sp < 0 ? "" : line.slice(sp + 1).replace(/^ +/, "");
    if (verb === "AUTH") {
      this.#authCommand = `AUTH ${args.split(" ")[0]?.toUpperCase() ?? ""}`.trim();
      this.#lastCommand = args.includes(" ") ? `${this.#authCommand} (...)` : this.#authCommand;
    } else this.#lastCommand = line.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);
    const reply = await this.#command(verb, args);
    if (reply === null) return; // BDAT: answered after its chunk
    await this.#answer(out, reply);
    if (this.#closed) return;
    if (verb === "STARTTLS" && this.#mode.kind === "tls") {
      out.push({ kind: "starttls" });
      this.#buf = EMPTY; // RFC 3207 §4.2 / CVE-2011-0411: plaintext after STARTTLS is dropped
      return;
    }
    // A client that pipelines past a refused DATA (RFC 2920 §3.1 forbids it) would have its
    // message lines run as commands: drop them and close instead.
    if (verb === "DATA" && this.#mode.kind !== "data" && moreBuffered) {
      await this.#emit(out, pipelinedAfterRefusal);
    }
  }

  async #command(verb: string, args: string): Promise<Reply | null> {
    const cmd = COMMANDS.get(verb);
    if (cmd === undefined) return unknownCommand;
    const phase = this.#s.phase;
    if (!cmd.allowedIn.includes(phase)) return cmd.sequenceReply?.(phase) ?? badSequence;
    const parsed = cmd.parse(args, this.#ctx);
    if (!("ok" in parsed)) return parsed;
    return cmd.apply(this.#ctx, parsed.ok, this.#ports);
  }

  async #endMessage(): Promise<Reply> {
    const tx = this.#s.tx;
    const msg = tx?.message;
    if (!tx || !msg) throw new Error("end of message without a message");
    const r = await msg.finish(this.#txView());
    tx.message = null;
    if (this.#s.tx === tx) this.#s.tx = null;
    if (r.isAccepted) this.#s.mails++;
    return r.reply;
  }

  async #bdatPiece(pending: Reply | null, piece: Buffer): Promise<void> {
    const tx = this.#s.tx;
    const msg = tx?.message;
    if (pending !== null || !tx || !msg) return; // refused chunk: read and dropped
    tx.checker ??= new LineEndingChecker();
    tx.checker.push(piece);
    tx.messageBytes += piece.length;
    await msg.write(piece, tx.messageBytes);
  }

  async #endChunk(size: number, last: boolean, pending: Reply | null): Promise<Reply> {
    if (pending !== null) return pending;
    const tx = this.#s.tx;
    const msg = tx?.message;
    if (!tx || !msg) return badSequence;
    if (last) tx.checker?.end();
    if (tx.checker?.hasBareCr || tx.checker?.hasBareLf) msg.flagBareNewline();
    const err = msg.errorReply();
    if (err !== null) {
      // RFC 3030 §2: after a failed chunk the transaction is over.
      await this.#ctx.resetTx();
      return err;
    }
    if (!last) return ok(250, "2.0.0", `${size} octets received`);
    return this.#endMessage();
  }

  #txView(): TransactionView {
    const tx = this.#s.tx;
    if (tx === null) throw new Error("no transaction");
    return {
      session: this.view,
      sender: tx.sender,
      params: tx.params,
      recipients: [...tx.recipients],
      msgid: tx.msgid,
      messageBytes: tx.message?.rawBytes ?? tx.messageBytes,
    };
  }

  #newMessage(msgid: string): IncomingMessage {
    const s = this.#s;
    const tx = s.tx;
    const l = this.#listener;
    const date = this.#now();
    const only = tx?.recipients.length === 1 ? tx.recipients[0] : undefined;
    const received = receivedHeader({
      helo: s.helo ?? "",
      rdns: this.#conn.rdns,
      remoteAddress: this.#conn.remoteAddress,
      maskSrc: l.maskSrc,
      hostname: l.hostname,
      serverName: SERVER_NAME,
      isEsmtp: s.isEsmtp,
      isSecure: s.isSecure,
      tlsInfo: s.tlsInfo,
      tlsVerified: s.tlsVerified,
      receivedAuth: l.receivedAuth,
      authUser: s.authUser,
      msgid,
      singleRcpt: only ? pathToString(only.path) : null,
      date,
    });
    const isSubmission = l.isLocal || l.port === 587;
    return new IncomingMessage(
      msgid,
      this.#ports,
      { hostname: l.hostname, isSubmission, now: date, received },
      l.maxMessageBytes,
    );
  }

  #makeCtx(): Ctx {
    return {
      listener: this.#listener,
      conn: this.#conn,
      session: this.#s,
      view: () => this.view,
      txView: () => this.#txView(),
      resetTx: () => this.#abortOpen(),
      newMessage: (msgid) => this.#newMessage(msgid),
      startTls: () => {
        this.#mode = { kind: "tls" };
      },
      beginAuth: (step) => {
        this.#mode = { kind: "auth", step };
      },
      beginData: () => {
        this.#mode = { kind: "data", reader: new DotReader() };
      },
      beginBdat: (size, last, pending) => {
        this.#mode = { kind: "bdat", size, remaining: size, last, pending };
      },
    };
  }
}

/**
 * A command line as text: UTF-8 (for SMTPUTF8 addresses), no NUL, no CR, no other control
 * character. null when it is not acceptable (answered "500 5.5.2").
 */
function decodeLine(raw: Buffer): string | null {
  for (const b of raw) if (b < 0x20 || b === 0x7f) return null;
  try {
    return utf8.decode(raw);
  } catch {
    return null;
  }
}
