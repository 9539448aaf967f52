// The lookup role: tables, rule matching, sender checks, authentication. Runs as the
// unprivileged smtpd user; the dispatcher asks it for every recipient.
import { readFileSync } from "node:fs";
import type { WireReply } from "../ipc/messages.js";
import type { RoleEnv } from "../ipc/role-boot.js";
import { log } from "../log.js";
import { verifyPassword } from "./auth.js";
import { evaluateRules } from "./rules.js";
import { mailaddrMatches, TableStore } from "./tables.js";

const tempfail = (text: string): WireReply => ({ code: 451, esc: "4.3.0", lines: [text] });

export async function runLookup({ channel, model }: RoleEnv): Promise<void> {
  const tables = new TableStore(model, (p) => readFileSync(p, "utf8"));

  channel.handle("lookup.check-recipient", ({ session, sender, rcpt }) => {
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
    return { kind: "ok", action: r.action, dest: rcpt };
  });

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
