// A delivery worker (`smtpd -x deliver`): started by the parent, it takes the recipient's
// credentials before it reads any message (initgroups, setgid, setuid), then runs deliveries
// sent by the parent until it is told to stop or the parent goes away. One worker serves
// many deliveries for the same user, so local delivery does not cost a process per message.
import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type DeliveryRequest, type DeliveryResult, deliver } from "./deliver.js";

const MAX_FORWARD_BYTES = 64 * 1024;

/**
 * ~/.forward as OpenSMTPD accepts it: a regular file (no symlink), owned by the user or root,
 * not writable by group or others. Missing: null. Unsafe: ignored and logged (OpenSMTPD also
 * ignores it; holding mail forever on a user's mistake would be worse).
 */
async function readForward(
  home: string,
  uid: number,
): Promise<{ text: string | null; error?: string }> {
  const path = join(home, ".forward");
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT" || e.code === "ENOTDIR") return null;
    throw e;
  });
  if (st === null) return { text: null };
  const me = process.getuid?.() ?? uid;
  const owner = st.uid === uid || st.uid === 0 || st.uid === me;
  if (!st.isFile() || !owner || (st.mode & 0o022) !== 0)
    return {
      text: null,
      error: `${path}: ignored (not a regular file of the user's, or writable by others)`,
    };
  if (st.size > MAX_FORWARD_BYTES) return { text: null, error: `${path}: too large` };
  return { text: await readFile(path, "utf8") };
}

export type WorkerMessage =
  | {
      readonly t: "init";
      readonly user: string;
      readonly uid: number;
      readonly gid: number;
      readonly extraGroups: readonly number[];
    }
  | { readonly t: "deliver"; readonly id: number; readonly req: DeliveryRequest }
  | { readonly t: "forward"; readonly id: number; readonly home: string; readonly uid: number }
  | { readonly t: "stop" };

export type WorkerReply =
  | { readonly t: "ready" }
  | { readonly t: "result"; readonly id: number; readonly res: DeliveryResult }
  | {
      readonly t: "forward";
      readonly id: number;
      readonly text: string | null;
      readonly error?: string;
    }
  | { readonly t: "fatal"; readonly error: string };

function dropPrivileges(m: Extract<WorkerMessage, { t: "init" }>): void {
  if (process.getuid?.() !== 0) return; // not root: deliveries run as the daemon's user
  if (m.uid === 0) throw new Error("refusing to deliver as root");
  (process as unknown as { initgroups?: (u: string, g: number) => void }).initgroups?.(
    m.user,
    m.gid,
  );
  if (m.extraGroups.length > 0)
    process.setgroups?.([...new Set([...(process.getgroups?.() ?? []), ...m.extraGroups])]);
  process.setgid?.(m.gid);
  process.setuid?.(m.uid);
  if (process.getuid?.() !== m.uid || process.geteuid?.() !== m.uid)
    throw new Error("could not drop privileges");
}

export function runDeliveryWorker(): void {
  let ready = false;
  const send = (r: WorkerReply) => process.send?.(r);
  process.on("message", (m: WorkerMessage) => {
    if (m.t === "init") {
      try {
        dropPrivileges(m);
        ready = true;
        send({ t: "ready" });
      } catch (e) {
        send({ t: "fatal", error: (e as Error).message });
        process.exit(1);
      }
    } else if (m.t === "deliver") {
      if (!ready) {
        send({ t: "result", id: m.id, res: { result: "tempfail", text: "worker not ready" } });
        return;
      }
      deliver(m.req).then(
        (res) => send({ t: "result", id: m.id, res }),
        (e: unknown) =>
          send({ t: "result", id: m.id, res: { result: "tempfail", text: String(e) } }),
      );
    } else if (m.t === "forward") {
      readForward(m.home, m.uid).then(
        (r) => send({ t: "forward", id: m.id, ...r }),
        (e: unknown) => send({ t: "forward", id: m.id, text: null, error: String(e) }),
      );
    } else if (m.t === "stop") process.exit(0);
  });
  process.on("disconnect", () => process.exit(0));
}
