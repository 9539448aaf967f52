// One message being received by an inbound session (DATA or BDAT): size on raw input, content
// checks, header rewriting, then writes and the commit through the session's ports.
import { type HeaderError, type HeaderOptions, HeaderRewriter } from "../../smtp/headers.js";
import {
  bareNewline,
  headerTooLarge,
  headerWhitespace,
  loopDetected,
  sizeExceeded,
} from "../../smtp/replies.js";
import { ok, type Reply } from "../../smtp/reply.js";
import type { SessionPorts, TransactionView } from "./types.js";

export type MessageError = "too-big" | "bare-newline" | HeaderError;

const ERROR_REPLY: Record<MessageError, Reply> = {
  "too-big": sizeExceeded,
  "bare-newline": bareNewline,
  whitespace: headerWhitespace,
  loop: loopDetected,
  "too-large": headerTooLarge,
};

export const accepted = (msgid: string): Reply =>
  ok(250, "2.0.0", `${msgid} Message accepted for delivery`);

export class IncomingMessage {
  readonly msgid: string;
  readonly #ports: SessionPorts;
  readonly #rewriter: HeaderRewriter;
  readonly #maxBytes: number;
  rawBytes = 0;
  error: MessageError | null = null;
  #closed = false;

  constructor(msgid: string, ports: SessionPorts, headers: HeaderOptions, maxBytes: number) {
    this.msgid = msgid;
    this.#ports = ports;
    this.#rewriter = new HeaderRewriter(headers);
    this.#maxBytes = maxBytes;
  }

  /** Takes content; `rawTotal` is the raw octet count so far (limits apply to raw input). */
  async write(content: Buffer, rawTotal: number): Promise<void> {
    this.rawBytes = rawTotal;
    if (rawTotal > this.#maxBytes) this.#fail("too-big");
    if (this.error !== null || content.length === 0) return;
    const out = this.#rewriter.push(content);
    if (this.#rewriter.error !== null) return this.#fail(this.#rewriter.error);
    if (out.length > 0) await this.#ports.writeMessage(this.msgid, out);
  }

  flagBareNewline(): void {
    this.#fail("bare-newline");
  }

  #fail(e: MessageError): void {
    if (this.error === null) this.error = e;
  }

  /** Pending error as a reply (the message is then aborted), or null. */
  errorReply(): Reply | null {
    return this.error === null ? null : ERROR_REPLY[this.error];
  }

  /** End of message: the accepted reply after the queue committed, or why not. */
  async finish(tx: TransactionView): Promise<{ reply: Reply; isAccepted: boolean }> {
    if (this.error === null) {
      const tail = this.#rewriter.end();
      if (this.#rewriter.error !== null) this.#fail(this.#rewriter.error);
      else if (tail.length > 0) await this.#ports.writeMessage(this.msgid, tail);
    }
    const err = this.errorReply();
    if (err !== null) {
      await this.abort();
      return { reply: err, isAccepted: false };
    }
    this.#closed = true;
    const r = await this.#ports.commitMessage(this.msgid, tx);
    if (r.kind === "ok") return { reply: accepted(this.msgid), isAccepted: true };
    await this.#ports.abortMessage(this.msgid); // a no-op for a queue that already rolled back
    return { reply: r.reply, isAccepted: false };
  }

  async abort(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#ports.abortMessage(this.msgid);
  }
}
