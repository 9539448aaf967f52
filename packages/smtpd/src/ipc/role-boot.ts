// Start of every role process (`smtpd -x ROLE`): say hello with the IPC version, receive the
// configuration from the parent, build the model, hand over to the role's entry point.
import { buildModel, type Model } from "../config/model.js";
import { parseConfig } from "../config/parser.js";
import { log, setLogPrefix, setLogVerbose } from "../log.js";
import { Channel, parentPort } from "./channel.js";
import { IPC_VERSION, type Notices, type RoleName } from "./messages.js";

export type ReloadHandler = (model: Model, update: Notices["parent.reload"]) => void;

export interface RoleEnv {
  readonly channel: Channel;
  readonly model: Model;
  readonly start: Notices["parent.start"];
  /** Registers what the role does with a reloaded configuration (new work uses it). */
  readonly onReload: (h: ReloadHandler) => void;
}

export type RoleMain = (env: RoleEnv) => Promise<void>;

export function bootRole(role: RoleName, main: RoleMain): void {
  setLogPrefix(role);
  const channel = new Channel(role, parentPort());
  channel.onNotice("parent.start", (start) => {
    setLogVerbose(start.verbose);
    const r = parseConfig(start.configText, { file: start.configFile, defines: start.defines });
    if (!r.ok) {
      log("crit", `${role}: configuration refused after the parent accepted it`);
      process.exit(1);
    }
    const model = buildModel(r.config, start.hostname);
    const reloaders: ReloadHandler[] = [];
    channel.onNotice("parent.reload", (update) => {
      const n = parseConfig(update.configText, { file: start.configFile, defines: start.defines });
      if (!n.ok) {
        log("warn", `${role}: reloaded configuration refused; keeping the running one`);
        return;
      }
      const next = buildModel(n.config, start.hostname);
      for (const h of reloaders) {
        try {
          h(next, update);
        } catch (e) {
          log("warn", `${role}: reload: ${(e as Error).message}`);
        }
      }
    });
    channel.onNotice("parent.log-level", ({ verbose }) => setLogVerbose(verbose));
    main({ channel, model, start, onReload: (h) => reloaders.push(h) }).then(
      () => channel.notify("parent", "role.ready", { role }),
      (e: unknown) => {
        log("crit", `${role}: ${(e as Error).stack ?? String(e)}`);
        process.exit(1);
      },
    );
  });
  channel.onNotice("parent.stop", () => process.exit(0));
  // The parent going away means the daemon is stopping: never linger as an orphan.
  process.on("disconnect", () => process.exit(0));
  channel.notify("parent", "role.hello", { role, version: IPC_VERSION, pid: process.pid });
}
