// A delivery worker (`smtpd -x deliver`): started by the parent, it takes the recipient's
// credentials before it reads any message (initgroups, setgid, setuid), then runs deliveries
// sent by the parent until it is told to stop or the parent goes away. One worker serves
// many deliveries for the same user, so local delivery does not cost a process per message.
import { type DeliveryRequest, type DeliveryResult, deliver } from "./deliver.js";

export type WorkerMessage =
  | {
      readonly t: "init";
      readonly user: string;
      readonly uid: number;
      readonly gid: number;
      readonly extraGroups: readonly number[];
    }
  | { readonly t: "deliver"; readonly id: number; readonly req: DeliveryRequest }
  | { readonly t: "stop" };

export type WorkerReply =
  | { readonly t: "ready" }
  | { readonly t: "result"; readonly id: number; readonly res: DeliveryResult }
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
    } else if (m.t === "stop") process.exit(0);
  });
  process.on("disconnect", () => process.exit(0));
}
