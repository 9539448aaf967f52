// The lookup role: tables, rule matching, sender checks, authentication. Runs as the
// unprivileged smtpd user; the dispatcher asks it for every recipient.
import { readFileSync } from "node:fs";
import { getpwnam } from "@facteur/compat";
import type { SessionFacts, WireReply } from "../ipc/messages.js";
import type { RoleEnv } from "../ipc/role-boot.js";
import { log } from "../log.js";
import { verifyPassword } from "./auth.js";
import { type ExpandEnv, expandRecipient, type UserInfo } from "./expand.js";
import { evaluateRules } from "./rules.js";
import { mailaddrMatches, TableStore } from "./tables.js";

const tempfail = (text: string): WireReply => ({ code: 451, esc: "4.3.0", lines: [text] });

/** The session of mail the daemon itself sends (bounces) or expands (aliases): from local. */
export const LOCAL_SESSION: SessionFacts = {
  listener: -1,
  remoteAddress: "local",
  rdns: "localhost",
  helo: null,
  isSecure: false,
  authUser: null,
  tag: null,
  isLocal: true,
  isSocket: true,
};

const passwdCache = new Map<string, { at: number; pw: UserInfo | null }>();
function cachedGetpwnam(name: string): UserInfo | null {
  const hit = passwdCache.get(name);
  if (hit !== undefined && Date.now() - hit.at < 60_000) return hit.pw;
  const pw = getpwnam(name);
  if (passwdCache.size > 10_000) passwdCache.clear();
  passwdCache.set(name, { at: Date.now(), pw });
  return pw;
}

export async function runLookup(env: RoleEnv): Promise<void> {
  const { channel, start } = env;
  // Replaced as a whole on reload: requests in flight finish with what they started with.
  let model = env.model;
  let tables = new TableStore(model, (p) => readFileSync(p, "utf8"));
  const makeExpandEnv = (): ExpandEnv => {
    const m = model;
    const t = tables;
    return {
      actions: m.actions,
      tables: t,
      getpwnam: cachedGetpwnam,
      route: (address) => {
        const r = evaluateRules(m.rules, LOCAL_SESSION, { sender: "", rcpt: address }, t);
        if (r.kind === "tempfail") return { tempfail: r.reason };
        if (r.kind === "reject") return { reject: `no rule accepts ${address}` };
        return { action: r.action };
      },
      subAddrDelim: m.subAddrDelim,
      aliasUser: start.smtpdUser,
      forward: async (pw) => {
        const r = await channel.request("parent", "parent.forward", { user: pw.name });
        return r.kind === "ok" ? r.text : { tempfail: r.reason };
      },
    };
  };
  // At RCPT time the recipient must expand to something; ~/.forward is read at delivery.
  const rcptEnv = (): ExpandEnv => ({ ...expandEnv, forward: undefined });
  let expandEnv = makeExpandEnv();
  env.onReload((next) => {
    const t = new TableStore(next, (p) => readFileSync(p, "utf8"));
    model = next;
    tables = t;
    expandEnv = makeExpandEnv();
    log("info", "lookup: configuration and tables reloaded");
  });
  const invalid = (rcpt: string): WireReply => ({
    code: 550,
    esc: "5.1.1",
    lines: [`Invalid recipient: <${rcpt}>`],
  });

  channel.handle("lookup.check-recipient", async ({ session, sender, rcpt }) => {
    const r = evaluateRules(model.rules, session, { sender, rcpt }, tables);
    if (r.kind === "tempfail") {
      log("warn", `lookup: temporary failure for <${rcpt}>: ${r.reason}`);
      return { kind: "reject", reply: tempfail("Temporary failure") };
    }
    if (r.kind === "reject")
      return {
        kind: "reject",
        reply: { code: 550, esc: "5.7.1", lines: [`Invalid recipient: <${rcpt}>`] },
      };
    // Local actions: the recipient must expand to something (unknown users are refused here
    // rather than bounced later).
    const action = model.actions.get(r.action);
    if (action !== undefined && action.method.kind !== "relay") {
      const x = await expandRecipient(rcptEnv(), r.action, rcpt);
      if (x.kind === "tempfail") {
        log("warn", `lookup: expansion of <${rcpt}> failed: ${x.reason}`);
        return { kind: "reject", reply: tempfail("Temporary failure") };
      }
      if (x.kind === "permfail") {
        log("info", `lookup: <${rcpt}> refused: ${x.reason}`);
        return { kind: "reject", reply: invalid(rcpt) };
      }
    }
    return { kind: "ok", action: r.action, dest: rcpt };
  });

  channel.handle("lookup.route", ({ rcpt }) => {
    const r = evaluateRules(model.rules, LOCAL_SESSION, { sender: "", rcpt }, tables);
    if (r.kind === "action") return { kind: "ok", action: r.action };
    return {
      kind: r.kind === "tempfail" ? "tempfail" : "reject",
      reason: r.kind === "tempfail" ? r.reason : "no rule",
    };
  });

  channel.handle("lookup.update-table", ({ name }) => {
    const r = tables.update(name);
    log(r.ok ? "info" : "warn", `lookup: update table ${name}: ${r.text.trim()}`);
    return r;
  });

  channel.handle("lookup.expand", ({ action, rcpt }) => expandRecipient(expandEnv, action, rcpt));

  // `senders <t>`: an authenticated user may only use the addresses its entry lists.
  channel.handle("lookup.check-sender", ({ session, sender }) => {
    const l = model.listeners[session.listener];
    if (l === undefined || l.senders === null || session.authUser === null) return { kind: "ok" };
    const r = tables.lookup(l.senders, session.authUser);
    if (r.kind === "tempfail") return { kind: "reject", reply: tempfail("Temporary failure") };
    const allowed = r.kind === "found" && r.value !== null ? r.value.split(/\s*,\s*/) : [];
    if (allowed.some((a) => mailaddrMatches(a, sender))) return { kind: "ok" };
    return {
      kind: "reject",
      reply: {
        code: 553,
        esc: "5.7.1",
        lines: [`Sender address rejected: Not owned by user ${session.authUser}`],
      },
    };
  });

  channel.handle("lookup.authenticate", async ({ listener, user, password }) => {
    const l = model.listeners[listener];
    if (l === undefined || l.authMode === "none") return { result: "fail" };
    if (l.authTable === null) {
      // No table: system users, as OpenSMTPD does with its auth backend.
      return { result: "tempfail" };
    }
    const r = tables.lookup(l.authTable, user);
    if (r.kind === "tempfail") return { result: "tempfail" };
    if (r.kind === "not-found" || r.value === null) return { result: "fail" };
    return { result: (await verifyPassword(password, r.value)) ? "ok" : "fail" };
  });
}
