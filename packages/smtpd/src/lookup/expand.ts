// Recipient expansion for local actions (the lookup role): `alias` and `virtual` tables,
// the userbase (getpwnam through compat, or a `userbase` table), sub-addresses, and the alias
// targets OpenSMTPD allows (users, addresses, `|command`, `/file`, `:include:/file`).
// An expanded address goes through the rules again, as in OpenSMTPD. Expansion runs at RCPT
// time (to refuse unknown users) and again when the envelope is delivered.
import { readFileSync } from "node:fs";
import type { ActionModel } from "../config/model.js";
import type { TableStore } from "./tables.js";

export interface UserInfo {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

export type Delivery =
  | { kind: "mailbox"; action: string; user: string; dest: string }
  | { kind: "command"; action: string; user: string; dest: string; command: string }
  | { kind: "file"; action: string; user: string; dest: string; path: string }
  | { kind: "relay"; action: string; dest: string };

export type ExpandResult =
  | { kind: "ok"; deliveries: Delivery[] }
  | { kind: "permfail"; reason: string }
  | { kind: "tempfail"; reason: string };

export interface ExpandEnv {
  readonly actions: ReadonlyMap<string, ActionModel>;
  readonly tables: TableStore;
  readonly getpwnam: (name: string) => UserInfo | null;
  /** Re-runs the rules for an address found in an alias (from local). */
  readonly route: (
    address: string,
  ) => { action: string } | { reject: string } | { tempfail: string };
  readonly subAddrDelim: string;
  /** The user that alias pipes and files run as when the action names none. */
  readonly aliasUser: string;
  readonly readFile?: (path: string) => string;
  /**
   * The user's ~/.forward, read with the user's rights (by the parent, through the user's
   * delivery worker): its text, null when there is none, or a tempfail reason.
   */
  readonly forward?: (user: UserInfo) => Promise<string | null | { tempfail: string }>;
}

/** OpenSMTPD's EXPAND_DEPTH. */
export const MAX_EXPAND_DEPTH = 10;
const MAX_DELIVERIES = 1000;

const splitAddr = (a: string): { local: string; domain: string } => {
  const at = a.lastIndexOf("@");
  return at < 0 ? { local: a, domain: "" } : { local: a.slice(0, at), domain: a.slice(at + 1) };
};

export function stripSubaddress(local: string, delim: string): string {
  const i = local.indexOf(delim);
  return i > 0 ? local.slice(0, i) : local;
}

/**
 * Alias targets: comma-separated, each trimmed, commas inside double quotes (`"|cmd a,b"`)
 * kept, quotes around a whole target removed. Empty targets are kept (makemap reports them).
 */
export function splitAliasTargets(v: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote = false;
  for (const c of v) {
    if (c === '"') quote = !quote;
    if (c === "," && !quote) {
      out.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  out.push(cur.trim());
  return out.map((x) =>
    x.startsWith('"') && x.endsWith('"') && x.length >= 2 ? x.slice(1, -1) : x,
  );
}

/** Alias targets for expansion: empty ones dropped. */
export const splitAliasValue = (v: string): string[] =>
  splitAliasTargets(v).filter((x) => x !== "");

const opt = (a: ActionModel, k: string) => a.options.find((o) => o.kind === k);

export async function expandRecipient(
  env: ExpandEnv,
  actionName: string,
  rcpt: string,
): Promise<ExpandResult> {
  const out: Delivery[] = [];
  const seen = new Set<string>();
  let error: ExpandResult | null = null;

  const fail = (r: ExpandResult): undefined => {
    if (error === null || (error.kind === "permfail" && r.kind === "tempfail")) error = r;
  };

  const userDelivery = async (
    action: ActionModel,
    username: string,
    dest: string,
    depth = 0,
    noForward = false,
  ): Promise<undefined> => {
    const forced = opt(action, "user");
    const runAs = forced !== undefined && "value" in forced ? forced.value : username;
    const ub = opt(action, "userbase");
    let pw: UserInfo | null;
    if (ub !== undefined && "table" in ub) {
      const r = env.tables.lookup(ub.table, username);
      if (r.kind === "tempfail") return fail({ kind: "tempfail", reason: r.reason });
      if (r.kind === "not-found" || r.value === null) pw = null;
      else {
        const [uid, gid, home] = r.value.split(":");
        pw = { name: username, uid: Number(uid), gid: Number(gid), home: home ?? "/", shell: "" };
      }
    } else
      pw =
        forced !== undefined
          ? { name: runAs, uid: -1, gid: -1, home: "", shell: "" }
          : env.getpwnam(username);
    if (pw === null) return fail({ kind: "permfail", reason: `unknown user ${username}` });
    // ~/.forward (not with `user`, which delivers everything as one user, as OpenSMTPD).
    const fkey = `forward:${username}`;
    if (forced === undefined && !noForward && env.forward !== undefined && !seen.has(fkey)) {
      seen.add(fkey);
      const text = await env.forward(pw);
      if (text !== null && typeof text === "object")
        return fail({ kind: "tempfail", reason: text.tempfail });
      const items =
        text === null
          ? []
          : text.split("\n").flatMap((l) => splitAliasValue(l.replace(/^#.*/, "")));
      if (items.length > 0) {
        for (const it of items) {
          const bare = it.startsWith("\\") ? it.slice(1) : it;
          // `\user` or the user's own name: the mailbox itself, no further forwarding.
          if (it.startsWith("\\") || bare.toLowerCase() === username)
            await userDelivery(action, bare.toLowerCase(), dest, depth + 1, true);
          else await expandItem(action, it, depth + 1, dest, username);
        }
        return;
      }
    }
    const key = `mailbox:${action.name}:${runAs}:${dest}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ kind: "mailbox", action: action.name, user: runAs, dest });
  };

  const expandItem = async (
    action: ActionModel,
    item: string,
    depth: number,
    dest: string,
    owner?: string,
  ): Promise<undefined> => {
    if (out.length >= MAX_DELIVERIES)
      return fail({ kind: "permfail", reason: "too many recipients" });
    if (depth > MAX_EXPAND_DEPTH) return fail({ kind: "permfail", reason: "alias loop" });
    const forced = opt(action, "user");
    // Commands and files from a user's .forward run as that user; from aliases, as the
    // action's user or the daemon's unprivileged user.
    const runAs =
      forced !== undefined && "value" in forced ? forced.value : (owner ?? env.aliasUser);
    if (item.startsWith("|")) {
      const key = `command:${item}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push({
          kind: "command",
          action: action.name,
          user: runAs,
          dest,
          command: item.slice(1).trim(),
        });
      }
      return;
    }
    if (item.startsWith("/")) {
      const key = `file:${item}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push({ kind: "file", action: action.name, user: runAs, dest, path: item });
      }
      return;
    }
    if (item.toLowerCase().startsWith(":include:")) {
      const path = item.slice(9).trim();
      let text: string;
      try {
        text = (env.readFile ?? ((p) => readFileSync(p, "utf8")))(path);
      } catch (e) {
        return fail({ kind: "tempfail", reason: `${path}: ${(e as Error).message}` });
      }
      for (const line of text.split("\n")) {
        const l = line.replace(/#.*/, "").trim();
        for (const it of splitAliasValue(l)) await expandItem(action, it, depth + 1, dest, owner);
      }
      return;
    }
    if (item.includes("@")) {
      const key = `address:${item.toLowerCase()}`;
      if (seen.has(key)) return;
      seen.add(key);
      const r = env.route(item);
      if ("reject" in r) return fail({ kind: "permfail", reason: r.reject });
      if ("tempfail" in r) return fail({ kind: "tempfail", reason: r.tempfail });
      return await expandAddress(r.action, item, depth + 1);
    }
    // A bare name: an alias key again, or a user.
    const key = `name:${action.name}:${item.toLowerCase()}`;
    if (seen.has(key)) return;
    seen.add(key);
    return await expandLocal(action, item.toLowerCase(), dest, depth + 1);
  };

  const expandLocal = async (
    action: ActionModel,
    local: string,
    dest: string,
    depth: number,
  ): Promise<undefined> => {
    const alias = opt(action, "alias");
    if (alias !== undefined && "table" in alias) {
      const r = env.tables.lookup(alias.table, local);
      if (r.kind === "tempfail") return fail({ kind: "tempfail", reason: r.reason });
      if (r.kind === "found" && r.value !== null) {
        const items = splitAliasValue(r.value);
        for (const it of items) {
          // `root: root, |cmd`: the key itself as a value ends the recursion at the mailbox.
          if (it.toLowerCase() === local) await userDelivery(action, local, dest, depth, true);
          else await expandItem(action, it, depth, dest);
        }
        return;
      }
    }
    await userDelivery(action, local, dest, depth);
  };

  const expandAddress = async (
    actionName2: string,
    address: string,
    depth: number,
  ): Promise<undefined> => {
    const action = env.actions.get(actionName2);
    if (action === undefined) return fail({ kind: "tempfail", reason: `no action ${actionName2}` });
    if (action.method.kind === "relay") {
      out.push({ kind: "relay", action: action.name, dest: address });
      return;
    }
    const { local, domain } = splitAddr(address);
    const lower = local.toLowerCase();
    const stripped = stripSubaddress(lower, env.subAddrDelim);
    const virtual = opt(action, "virtual");
    if (virtual !== undefined && "table" in virtual) {
      const d = domain.toLowerCase();
      const keys = [`${lower}@${d}`, `${stripped}@${d}`, lower, stripped, `@${d}`, "@"];
      for (const k of [...new Set(keys)]) {
        const r = env.tables.lookup(virtual.table, k);
        if (r.kind === "tempfail") return fail({ kind: "tempfail", reason: r.reason });
        if (r.kind === "found" && r.value !== null) {
          for (const it of splitAliasValue(r.value)) {
            if (it.includes("@") && it.toLowerCase() === address.toLowerCase()) {
              // mapping an address to itself: deliver to the mailbox named by its local part
              await userDelivery(action, stripped, address, depth);
            } else if (!it.includes("@") && !it.startsWith("|") && !it.startsWith("/"))
              await userDelivery(action, it.toLowerCase(), address, depth);
            else await expandItem(action, it, depth, address);
          }
          return;
        }
      }
      return fail({ kind: "permfail", reason: `no virtual mapping for ${address}` });
    }
    await expandLocal(action, stripped, address, depth);
  };

  await expandAddress(actionName, rcpt, 0);
  const first = env.actions.get(actionName);
  const method = first?.method.kind;
  if ((method === "forward-only" || method === "expand-only") && error === null) {
    // These actions deliver nothing themselves: the recipient must expand elsewhere.
    const own = out.filter((d) => d.kind === "mailbox" && d.action === actionName);
    if (method === "forward-only" && out.some((d) => d.kind !== "relay"))
      return { kind: "permfail", reason: `${rcpt} is not forwarded to remote addresses only` };
    if (method === "expand-only" && (out.length === 0 || own.length > 0))
      return { kind: "permfail", reason: `${rcpt} does not expand through aliases or .forward` };
  }
  if (out.length > 0 && (error === null || (error as ExpandResult).kind === "permfail"))
    return { kind: "ok", deliveries: out };
  return error ?? { kind: "permfail", reason: "no delivery" };
}
