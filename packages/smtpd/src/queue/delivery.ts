// One delivery attempt of a due envelope (queue role): expiry, expansion of local recipients
// (lookup role), the delivery itself (parent, in a worker holding the user's credentials),
// then remove, reschedule or bounce. Every outcome is written durably before the next step,
// so a crash repeats an attempt at worst (a duplicate), never loses mail.
import type { ActionModel, Model } from "../config/model.js";
import type { Channel } from "../ipc/channel.js";
import type { DeliveryMethodSpec } from "../ipc/messages.js";
import { log } from "../log.js";
import type { Delivery } from "../lookup/expand.js";
import { composeDsn, type DsnAction } from "./bounce.js";
import { type Envelope, makeEnvelope } from "./envelope.js";
import type { FsQueue } from "./fs-backend.js";
import { newEvpid } from "./ids.js";
import { nextRetry, RETRY_BASE_MDA, RETRY_BASE_MTA, type Scheduler } from "./scheduler.js";

export interface DeliveryEnv {
  readonly queue: FsQueue;
  readonly channel: Channel;
  readonly model: Model;
  readonly scheduler: Scheduler;
  readonly counters: Record<string, number>;
  readonly now?: () => number;
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const seconds = (env: DeliveryEnv) => Math.floor(env.now?.() ?? Date.now() / 1000);
const baseOf = (e: Envelope) => (e.type === "mta" ? RETRY_BASE_MTA : RETRY_BASE_MDA);
/** Bounces live for seven days whatever the queue ttl (OpenSMTPD). */
const BOUNCE_TTL = 7 * 86400;

async function readMessage(queue: FsQueue, msgid: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await queue.openMessage(msgid)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function methodFor(
  action: ActionModel,
  d: Delivery,
  wrappers: ReadonlyMap<string, string>,
): DeliveryMethodSpec | null {
  if (d.kind === "command") return { kind: "mda", command: d.command };
  if (d.kind === "file") return { kind: "file", path: d.path };
  const m = action.method;
  switch (m.kind) {
    case "mbox":
      return { kind: "mbox" };
    case "maildir":
      return { kind: "maildir", path: m.path, junk: m.junk };
    case "mda": {
      const w = action.options.find((o) => o.kind === "wrapper");
      const wrapper = w !== undefined && "value" in w ? wrappers.get(w.value) : undefined;
      return { kind: "mda", command: m.command, ...(wrapper !== undefined ? { wrapper } : {}) };
    }
    case "lmtp":
      return { kind: "lmtp", destination: m.destination, rcptTo: m.rcptTo };
    default:
      return null;
  }
}

/** What an expanded envelope remembers of its expansion (so it is not expanded again). */
function deliveryOf(e: Envelope): Delivery | null {
  if (e.mdaUser === "") return null;
  if (e.mdaExec.startsWith("|"))
    return {
      kind: "command",
      action: e.dispatcher,
      user: e.mdaUser,
      dest: e.dest,
      command: e.mdaExec.slice(1),
    };
  if (e.mdaExec.startsWith("/"))
    return { kind: "file", action: e.dispatcher, user: e.mdaUser, dest: e.dest, path: e.mdaExec };
  return { kind: "mailbox", action: e.dispatcher, user: e.mdaUser, dest: e.dest };
}

export async function attemptDelivery(env: DeliveryEnv, evpid: string): Promise<void> {
  const { queue, scheduler } = env;
  const loaded = await queue.loadEnvelope(evpid);
  if (!loaded.ok) {
    scheduler.remove(evpid);
    if (!loaded.missing) log("warn", `delivery: ${loaded.error}`);
    return;
  }
  const e = loaded.envelope;
  const now = seconds(env);
  if (now >= e.ctime + e.ttl) return fail(env, e, "5.4.7", "Envelope expired");
  const action = env.model.actions.get(e.dispatcher);
  if (action === undefined)
    return retry(env, e, `action "${e.dispatcher}" no longer exists: mail held`);
  if (action.method.kind === "relay")
    return retry(env, e, "relaying is not available in this version of Facteur");

  let d = deliveryOf(e);
  if (d === null) {
    const x = await env.channel.request("lookup", "lookup.expand", {
      action: e.dispatcher,
      rcpt: e.dest,
    });
    if (x.kind !== "ok")
      return x.kind === "tempfail"
        ? retry(env, e, `expansion failed: ${x.reason}`)
        : fail(env, e, "5.1.1", x.reason);
    const only = x.deliveries.length === 1 ? x.deliveries[0]! : null;
    if (only === null || only.kind === "relay" || only.action !== e.dispatcher)
      return split(env, e, x.deliveries);
    d = only;
  }
  await deliverOne(env, e, action, d);
}

async function deliverOne(
  env: DeliveryEnv,
  e: Envelope,
  action: ActionModel,
  d: Delivery,
): Promise<void> {
  const { queue, scheduler } = env;
  const method = methodFor(action, d, env.model.wrappers);
  if (method === null) return fail(env, e, "5.3.0", `action ${action.name} cannot deliver locally`);
  const message = await readMessage(queue, e.msgid);
  const r = await env.channel.request(
    "parent",
    "parent.deliver",
    {
      user: "user" in d ? d.user : "",
      method,
      sender: e.sender,
      rcpt: e.rcpt,
      dest: d.dest,
      origRcpt: e.dsnOrcpt !== "" ? e.dsnOrcpt.replace(/^[^;]*;/, "") : e.rcpt,
      message,
    },
    20 * 60_000,
  );
  if (r.result === "ok") {
    log("info", deliveryLine(e, seconds(env), "Ok", r.text, "user" in d ? d.user : "", d.dest));
    env.counters["scheduler.delivery.ok"] = (env.counters["scheduler.delivery.ok"] ?? 0) + 1;
    if (e.dsnNotify.includes("SUCCESS")) await bounce(env, e, "delivered", "2.0.0", r.text);
    scheduler.remove(e.id);
    await queue.removeEnvelope(e.id);
    return;
  }
  if (r.result === "tempfail") return retry(env, e, r.text);
  return fail(env, e, "5.0.0", r.text);
}

/** One envelope per expanded delivery, written before the original goes. */
async function split(env: DeliveryEnv, e: Envelope, ds: readonly Delivery[]): Promise<void> {
  const made: Envelope[] = [];
  for (const d of ds) {
    const action = env.model.actions.get(d.action);
    const child: Envelope = {
      ...e,
      id: newEvpid(e.msgid),
      dispatcher: d.action,
      type: action?.method.kind === "relay" ? "mta" : "mda",
      dest: d.dest,
      mdaUser: d.kind === "relay" ? "" : d.user,
      mdaExec: d.kind === "command" ? `|${d.command}` : d.kind === "file" ? d.path : "",
      retry: 0,
      lastTry: 0,
      errorline: "",
    };
    if (!(await env.queue.createEnvelope(child))) return;
    made.push(child);
  }
  env.scheduler.remove(e.id);
  await env.queue.removeEnvelope(e.id);
  for (const c of made) env.scheduler.schedule(c.id, 0, c.type === "mta" ? "mta" : "mda");
  log("info", `delivery: ${e.id} for <${e.rcpt}> expanded to ${made.length} envelope(s)`);
}

/**
 * OpenSMTPD's delivery log line, which log watchers parse:
 * `<evpid> mda delivery evpid=<id> from=<s> to=<r> rcpt=<r> user=<u> delay=<d> result=Ok stat=...`
 */
export function deliveryLine(
  e: Envelope,
  now: number,
  result: "Ok" | "TempFail" | "PermFail",
  stat: string,
  user = e.mdaUser,
  dest = e.dest,
): string {
  const clean = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, "?");
  return `${e.id} ${e.type === "mta" ? "mta" : "mda"} delivery evpid=${e.id} from=<${clean(e.sender)}> to=<${clean(dest)}> rcpt=<${clean(e.rcpt)}> user=${clean(user)} delay=${humanDelay(now - e.ctime)} result=${result} stat=${clean(stat)}`;
}

/** OpenSMTPD's duration_to_text: "1d2h3m4s", "0s". */
export function humanDelay(sec: number): string {
  let s = Math.max(0, Math.floor(sec));
  let out = "";
  for (const [n, u] of [
    [86400, "d"],
    [3600, "h"],
    [60, "m"],
  ] as const) {
    if (s >= n) {
      out += `${Math.floor(s / n)}${u}`;
      s %= n;
    }
  }
  return out === "" || s > 0 ? `${out}${s}s` : out;
}

function esc(status: string): { escClass: number; escCode: number } {
  const [c, s, d] = status.split(".").map(Number);
  return { escClass: c ?? 0, escCode: Math.min(255, (s ?? 0) * 10 + (d ?? 0)) };
}

async function retry(env: DeliveryEnv, e: Envelope, why: string): Promise<void> {
  const now = seconds(env);
  const next = nextRetry(e.ctime, now, baseOf(e));
  const updated: Envelope = {
    ...e,
    lastBounce: e.lastBounce,
    retry: e.retry + 1,
    lastTry: now,
    errorline: why.replace(/[\r\n\0]/g, " ").slice(0, 1000),
    ...esc("4.0.0"),
  };
  // `bounce warn-interval`: one delay notice per interval passed, unless NOTIFY excludes it.
  const age = now - e.ctime;
  const due = env.model.bounceWarnSeconds.filter((w) => age >= w && e.lastBounce < e.ctime + w);
  const notify = e.dsnNotify;
  if (due.length > 0 && (notify.length === 0 || notify.includes("DELAY"))) {
    if (await bounce(env, e, "delayed", "4.0.0", why)) updated.lastBounce = now;
  }
  if (!(await env.queue.updateEnvelope(updated))) {
    env.scheduler.remove(e.id);
    return;
  }
  log("info", deliveryLine(e, now, "TempFail", `${why} (next try in ${next - now}s)`));
  env.counters["scheduler.delivery.tempfail"] =
    (env.counters["scheduler.delivery.tempfail"] ?? 0) + 1;
  env.scheduler.schedule(e.id, Math.min(next, e.ctime + e.ttl), e.type === "mta" ? "mta" : "mda");
}

async function fail(env: DeliveryEnv, e: Envelope, status: string, why: string): Promise<void> {
  log("info", deliveryLine(e, seconds(env), "PermFail", why));
  env.counters["scheduler.delivery.permfail"] =
    (env.counters["scheduler.delivery.permfail"] ?? 0) + 1;
  const notify = e.dsnNotify;
  const wants = notify.length === 0 || notify.includes("FAILURE");
  if (wants && !notify.includes("NEVER")) {
    if (!(await bounce(env, e, "failed", status, why)))
      return retry(env, e, `${why} (bounce not possible yet)`);
  }
  env.scheduler.remove(e.id);
  await env.queue.removeEnvelope(e.id);
}

/**
 * Queues a DSN to the envelope's sender; true when it is durable (or not to be sent: null
 * sender, or the envelope is itself a bounce — no bounce of a bounce).
 */
async function bounce(
  env: DeliveryEnv,
  e: Envelope,
  action: DsnAction,
  status: string,
  why: string,
): Promise<boolean> {
  if (e.sender === "" || e.flags.bounce) return true;
  const route = await env.channel.request("lookup", "lookup.route", { rcpt: e.sender });
  if (route.kind !== "ok") {
    if (route.kind === "tempfail") return false;
    log("warn", `delivery: no rule to bounce ${e.id} to <${e.sender}>: dropped`);
    return true;
  }
  let original: Buffer;
  try {
    original = await readMessage(env.queue, e.msgid);
  } catch (err) {
    log("warn", `delivery: cannot read ${e.msgid} for a bounce: ${errText(err)}`);
    return false;
  }
  const now = seconds(env);
  const dsn = composeDsn({
    reportingMta: env.model.hostname,
    sender: e.sender,
    envid: e.dsnEnvid,
    ret: e.dsnRet,
    arrival: new Date(e.ctime * 1000),
    now: new Date(now * 1000),
    recipients: [{ rcpt: e.rcpt, orcpt: e.dsnOrcpt, action, status, diagnostic: why }],
    original,
    smtputf8: e.smtputf8,
  });
  const target = env.model.actions.get(route.action);
  const tx = await env.queue.beginMessage();
  try {
    await tx.write(dsn);
    const b = makeEnvelope({
      id: newEvpid(tx.msgid),
      dispatcher: route.action,
      type: target?.method.kind === "relay" ? "mta" : "mda",
      rcpt: e.sender,
      dest: e.sender,
      smtpname: e.smtpname,
      hostname: env.model.hostname,
      sockaddr: "local",
      sender: "",
      ctime: now,
      ttl: BOUNCE_TTL,
      flags: { authenticated: false, bounce: true, internal: true },
      smtputf8: e.smtputf8,
    });
    await tx.addEnvelope(b);
    await tx.commit();
    env.scheduler.schedule(b.id, 0, b.type === "mta" ? "mta" : "mda");
    log("info", `delivery: ${action} DSN ${tx.msgid} for ${e.id} queued to <${e.sender}>`);
    return true;
  } catch (err) {
    await tx.rollback().catch(() => undefined);
    log("warn", `delivery: cannot queue a bounce for ${e.id}: ${errText(err)}`);
    return false;
  }
}
