// One message being received by the queue role (an FsQueue transaction): message bytes go to
// temporary/<msgid>, envelopes to incoming/<msgid>/; commit() hands both to FsQueue's durable
// commit sequence. Until commit() resolves, nothing of it survives a restart.
import type { MessageSink } from "./codec.js";
import type { Envelope } from "./envelope.js";
import type { FsQueue } from "./fs-backend.js";
import { msgidOf } from "./ids.js";

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** One message being received. Nothing of it survives a restart until commit() resolves. */
export interface MessageTx {
  readonly msgid: string;
  /** Appends message bytes (encoded on the way when compression/encryption is on). */
  write(chunk: Buffer): Promise<void>;
  /** Writes one envelope into incoming/<msgid>/<evpid> (O_EXCL); `e.msgid` must be ours. */
  addEnvelope(e: Envelope): Promise<void>;
  /** fsyncs message, envelopes and directories, then moves the message into queue/. */
  commit(): Promise<void>;
  /** Drops everything; a no-op after commit or a previous rollback. */
  rollback(): Promise<void>;
}

type TxState = "open" | "committing" | "committed" | "rolledback" | "failed";

export class FsMessageTx implements MessageTx {
  readonly msgid: string;
  #queue: FsQueue;
  #sink: MessageSink | undefined;
  #evpids: string[] = [];
  #writes = new Set<Promise<void>>();
  /** Message writes run one after another even if the caller does not await each. */
  #chain: Promise<void> = Promise.resolve();
  #state: TxState = "open";

  constructor(queue: FsQueue, msgid: string, sink: MessageSink) {
    this.#queue = queue;
    this.msgid = msgid;
    this.#sink = sink;
  }

  #checkOpen(what: string): void {
    if (this.#state !== "open")
      throw new Error(`${what}: transaction ${this.msgid} is ${this.#state}`);
  }

  async write(chunk: Buffer): Promise<void> {
    this.#checkOpen("write");
    const sink = this.#sink as MessageSink;
    const w = this.#chain.then(() => sink.write(chunk));
    this.#chain = w.catch(() => {});
    this.#writes.add(w);
    try {
      await w;
    } catch (err) {
      this.#state = "failed";
      throw err;
    } finally {
      this.#writes.delete(w);
    }
  }

  async addEnvelope(e: Envelope): Promise<void> {
    this.#checkOpen("addEnvelope");
    if (e.msgid !== this.msgid || msgidOf(e.id) !== this.msgid) {
      throw new Error(`addEnvelope: envelope ${e.id} is not for message ${this.msgid}`);
    }
    if (this.#evpids.includes(e.id)) throw new Error(`addEnvelope: duplicate evpid ${e.id}`);
    const data = this.#queue.encodeEnvelope(e); // a refused envelope leaves the tx usable
    this.#evpids.push(e.id);
    const w = this.#queue.writeIncomingEnvelope(e, data);
    this.#writes.add(w);
    try {
      await w;
    } catch (err) {
      this.#state = "failed"; // a partial file may exist: this transaction cannot commit
      throw err;
    } finally {
      this.#writes.delete(w);
    }
  }

  async commit(): Promise<void> {
    this.#checkOpen("commit");
    if (this.#evpids.length === 0)
      throw new Error(`commit: message ${this.msgid} has no envelopes`);
    this.#state = "committing"; // from here on, write/addEnvelope/commit/rollback are refused
    const sink = this.#sink as MessageSink;
    try {
      await Promise.all(this.#writes); // in-flight writes must land (and succeed) first
      await this.#queue.commitIncoming(this.msgid, this.#evpids, sink);
      this.#state = "committed";
    } catch (err) {
      // Before the final rename nothing is in queue/; after it, the message may stay there
      // (a duplicate at worst once the client retries). Either way, the caller tempfails.
      this.#state = "failed";
      await this.#queue.rollbackIncoming(this.msgid, sink).catch(() => {});
      throw new Error(`commit of ${this.msgid} failed: ${errText(err)}`, { cause: err });
    } finally {
      this.#sink = undefined;
    }
  }

  async rollback(): Promise<void> {
    if (this.#state !== "open" && this.#state !== "failed") return;
    if (this.#state === "failed" && this.#sink === undefined) return; // commit cleaned up
    this.#state = "rolledback";
    await Promise.allSettled(this.#writes);
    const sink = this.#sink;
    this.#sink = undefined;
    await this.#queue.rollbackIncoming(this.msgid, sink);
  }
}
