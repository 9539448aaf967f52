// The queue role: the only owner of the spool. Receives messages from the dispatcher, commits
// them durably (fsync + rename) before the dispatcher may answer 250, answers queue queries.
// Runs as the unprivileged smtpq user. The scheduler (delivery) comes with local delivery.

import type { EnvelopeDraft } from "../ipc/messages.js";
import type { RoleEnv } from "../ipc/role-boot.js";
import { log } from "../log.js";
import { attemptDelivery } from "./delivery.js";
import { type Envelope, makeEnvelope, serializeEnvelope } from "./envelope.js";
import { FsQueue, type MessageTx } from "./fs-backend.js";
import { newEvpid } from "./ids.js";
import { nextRetry, RETRY_BASE_MDA, RETRY_BASE_MTA, Scheduler } from "./scheduler.js";
import { formatShowQueueLine } from "./show-queue.js";

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function runQueue(env: RoleEnv): Promise<void> {
  const { channel, start } = env;
  // Deliveries look their action up by name in the current model at each attempt, so an
  // action changed by a reload applies to envelopes already queued (as in OpenSMTPD).
  let model = env.model;
  env.onReload((next) => {
    model = next;
  });
  if (model.queueKey === "stdin")
    throw new Error("queue encryption with a key read from stdin is not supported yet");
  const key = model.queueKey !== null ? Buffer.from(model.queueKey) : undefined;
  const queue = await FsQueue.open(start.spoolDir, {
    compress: model.queueCompression,
    ...(key ? { key } : {}),
  });
  const counters: Record<string, number> = {
    "queue.envelope": 0,
    "queue.message": 0,
    "queue.invalid": 0,
  };
  const scheduler: Scheduler = new Scheduler(
    (evpid): Promise<void> =>
      attemptDelivery({ queue, channel, model, scheduler, counters }, evpid).catch((e: unknown) => {
        // An attempt that failed on its own (IPC timeout, disk error): try again later.
        log("warn", `delivery of ${evpid} failed: ${errText(e)}`);
        scheduler.schedule(evpid, Date.now() / 1000 + RETRY_BASE_MDA);
      }),
  );
  const now = Date.now() / 1000;
  for await (const item of queue.walk()) {
    if (item.ok) {
      counters["queue.envelope"]!++;
      const e = item.envelope;
      const base = e.type === "mta" ? RETRY_BASE_MTA : RETRY_BASE_MDA;
      scheduler.schedule(
        e.id,
        e.lastTry === 0 ? now : nextRetry(e.ctime, e.lastTry, base),
        e.type === "mta" ? "mta" : "mda",
      );
    } else {
      counters["queue.invalid"]!++;
      log("warn", `invalid envelope ${item.path}: ${item.error}`);
    }
  }
  counters["queue.message"] = (await queue.messageIds()).length;
  const txs = new Map<string, MessageTx>();

  channel.handle("queue.message-open", async () => {
    try {
      const tx = await queue.beginMessage();
      txs.set(tx.msgid, tx);
      return { kind: "ok", msgid: tx.msgid };
    } catch (e) {
      log("warn", `queue: cannot create message: ${errText(e)}`);
      return { kind: "tempfail", reason: errText(e) };
    }
  });

  channel.handle("queue.message-write", async ({ msgid, chunk }) => {
    const tx = txs.get(msgid);
    if (tx === undefined) return { kind: "tempfail", reason: "no such message" };
    try {
      await tx.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      return { kind: "ok" };
    } catch (e) {
      return { kind: "tempfail", reason: errText(e) };
    }
  });

  channel.handle("queue.message-commit", async ({ msgid, envelopes }) => {
    const tx = txs.get(msgid);
    if (tx === undefined) return { kind: "tempfail", reason: "no such message" };
    txs.delete(msgid);
    const now = Math.floor(Date.now() / 1000);
    const ids: string[] = [];
    const kinds: ("mda" | "mta")[] = [];
    try {
      for (const d of envelopes) {
        const action = model.actions.get(d.dispatcher);
        const ttl = action?.options.find((o) => o.kind === "ttl");
        const type = action?.method.kind === "relay" ? "mta" : "mda";
        const seconds = ttl?.kind === "ttl" ? ttl.ttl.seconds : model.queueTtlSeconds;
        const e = toEnvelope(msgid, d, type, now, seconds);
        await tx.addEnvelope(e);
        ids.push(e.id);
        kinds.push(type);
      }
      await tx.commit();
      for (const [i, id] of ids.entries()) scheduler.schedule(id, 0, kinds[i]);
    } catch (e) {
      await tx.rollback().catch(() => undefined);
      log("warn", `queue: commit of ${msgid} failed: ${errText(e)}`);
      return { kind: "tempfail", reason: errText(e) };
    }
    counters["queue.message"]!++;
    counters["queue.envelope"]! += envelopes.length;
    return { kind: "ok", evpids: ids };
  });

  channel.handle("queue.message-abort", async ({ msgid }) => {
    const tx = txs.get(msgid);
    txs.delete(msgid);
    await tx?.rollback();
    return { kind: "ok" };
  });

  channel.handle("queue.list", async ({ msgid }) => {
    const lines: string[] = [];
    for await (const item of queue.walk()) {
      if (!item.ok) continue;
      if (msgid !== undefined && item.envelope.msgid !== msgid && item.evpid !== msgid) continue;
      const sch = scheduler.get(item.evpid);
      const delaySec = sch === undefined ? 0 : Math.round(sch.due - Date.now() / 1000);
      lines.push(formatShowQueueLine(item.envelope, { state: "pending", delaySec }));
    }
    return { lines };
  });

  channel.handle("queue.envelope", async ({ evpid }) => ({
    text: await queue.envelopeText(evpid),
  }));
  channel.handle("queue.stats", () => ({ counters: { ...counters } }));
  // Deliveries need the lookup role and the parent: start once every role is up.
  channel.onNotice("parent.ready", () => scheduler.start());

  // smtpctl: schedule, remove, pause/resume envelope, pause/resume mda|mta, show message.
  channel.handle("queue.control", async (req) => {
    if (req.op === "pause" || req.op === "resume") {
      scheduler.pause(req.target as "mda" | "mta", req.op === "pause");
      return { ok: true, text: "command succeeded\n" };
    }
    if (req.op === "discover") {
      // Envelopes copied into queue/ by hand (or left unscheduled): load and schedule them.
      const msgid = req.target.slice(0, 8);
      let n = 0;
      for (const id of await queue.envelopeIds(msgid).catch(() => [] as string[])) {
        if (req.target.length === 16 && id !== req.target) continue;
        if (scheduler.has(id) || scheduler.isRunning(id)) continue;
        const l = await queue.loadEnvelope(id);
        if (!l.ok) continue;
        scheduler.schedule(id, 0, l.envelope.type === "mta" ? "mta" : "mda");
        n++;
      }
      return { ok: true, text: `${n} envelope${n === 1 ? "" : "s"} discovered\n` };
    }
    if (req.op === "show-message") {
      try {
        const chunks: Buffer[] = [];
        for await (const c of await queue.openMessage(req.target)) chunks.push(c as Buffer);
        return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
      } catch {
        return { ok: false, text: "no such message\n" };
      }
    }
    const ids = scheduler.select(req.target);
    if (ids.length === 0 && req.target !== "all")
      return { ok: false, text: `no such envelope or message: ${req.target}\n` };
    let n = 0;
    for (const id of ids) {
      if (req.op === "schedule") {
        scheduler.schedule(id, 0);
        n++;
      } else if (req.op === "hold" || req.op === "release") {
        if (scheduler.hold(id, req.op === "hold")) n++;
      } else if (req.op === "remove") {
        if (scheduler.isRunning(id)) continue;
        scheduler.remove(id);
        if (await queue.removeEnvelope(id)) n++;
      }
    }
    const verb = { schedule: "scheduled", hold: "paused", release: "resumed", remove: "removed" }[
      req.op
    ];
    return { ok: true, text: `${n} envelope${n === 1 ? "" : "s"} ${verb}\n` };
  });
}

function toEnvelope(
  msgid: string,
  d: EnvelopeDraft,
  type: "mda" | "mta",
  now: number,
  ttl: number,
): Envelope {
  const e = makeEnvelope({
    id: newEvpid(msgid),
    dispatcher: d.dispatcher,
    type,
    rcpt: d.rcpt,
    dest: d.dest,
    tag: d.tag,
    smtpname: d.smtpname,
    helo: d.helo,
    hostname: d.hostname,
    username: d.username,
    sockaddr: d.sockaddr,
    sender: d.sender,
    ctime: now,
    ttl,
    flags: { authenticated: d.authenticated, bounce: false, internal: false },
    dsnNotify: d.dsnNotify,
    dsnRet: d.dsnRet,
    dsnEnvid: d.dsnEnvid,
    dsnOrcpt: d.dsnOrcpt,
    smtputf8: d.smtputf8,
    requiretls: d.requiretls,
  });
  const s = serializeEnvelope(e);
  if (!s.ok) throw new Error(`refused envelope for <${d.rcpt}>: ${s.error}`);
  return e;
}
