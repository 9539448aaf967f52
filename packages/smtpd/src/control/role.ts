// The control role: the smtpctl socket. Reads one request line per connection, asks the
// other roles over IPC, writes the answer in OpenSMTPD's formats and closes.
import type { Server, Socket } from "node:net";
import type { RoleEnv } from "../ipc/role-boot.js";
import { log } from "../log.js";

export interface ControlRequest {
  readonly argv: readonly string[];
  readonly json?: boolean;
}

const MAX_REQUEST_BYTES = 64 * 1024;

function humanUptime(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${d} days, ${h} hours, ${m} minutes, ${s % 60} seconds`;
}

export async function runControl({ channel, start }: RoleEnv): Promise<void> {
  const started = Date.now();

  const answer = async (req: ControlRequest): Promise<{ ok: boolean; text: string }> => {
    const [verb, what, arg] = req.argv;
    if (verb === "show" && what === "status") {
      const st = await channel.request("parent", "parent.status", {});
      return { ok: true, text: `MDA ${st.mda}\nMTA ${st.mta}\nSMTP ${st.smtp}\n` };
    }
    if (verb === "show" && what === "stats") {
      const up = Math.floor((Date.now() - started) / 1000);
      const q = await channel.request("queue", "queue.stats", {});
      const d = await channel.request("dispatcher", "dispatcher.stats", {});
      const counters = { ...d.counters, ...q.counters };
      const lines = [`uptime=${up}`, `uptime.human=${humanUptime(up)}`];
      for (const k of Object.keys(counters).sort()) lines.push(`${k}=${counters[k]}`);
      return { ok: true, text: `${lines.join("\n")}\n` };
    }
    if (verb === "show" && what === "queue") {
      const r = await channel.request(
        "queue",
        "queue.list",
        arg !== undefined ? { msgid: arg } : {},
      );
      return { ok: true, text: r.lines.map((l) => `${l}\n`).join("") };
    }
    if (verb === "show" && what === "envelope" && arg !== undefined) {
      const r = await channel.request("queue", "queue.envelope", { evpid: arg });
      return r.text === null
        ? { ok: false, text: "no such envelope\n" }
        : { ok: true, text: r.text };
    }
    if (verb === "show" && what === "message" && arg !== undefined)
      return channel.request("queue", "queue.control", { op: "show-message", target: arg });
    if (
      (verb === "pause" || verb === "resume") &&
      (what === "mda" || what === "mta" || what === "smtp")
    ) {
      await channel.request("parent", "parent.pause", { what, paused: verb === "pause" });
      return { ok: true, text: "command succeeded\n" };
    }
    if ((verb === "pause" || verb === "resume") && what === "envelope" && arg !== undefined)
      return channel.request("queue", "queue.control", {
        op: verb === "pause" ? "hold" : "release",
        target: arg,
      });
    if ((verb === "schedule" || verb === "remove") && what !== undefined)
      return channel.request("queue", "queue.control", { op: verb, target: what });
    if (verb === "discover" && what !== undefined)
      return channel.request("queue", "queue.control", { op: "discover", target: what });
    if (verb === "update" && what === "table" && arg !== undefined)
      return channel.request("lookup", "lookup.update-table", { name: arg });
    if (verb === "reload") return channel.request("parent", "parent.reload", {}, 60_000);
    if (verb === "log" && (what === "brief" || what === "verbose")) {
      await channel.request("parent", "parent.log", { verbose: what === "verbose" });
      return { ok: true, text: "command succeeded\n" };
    }
    return { ok: false, text: `command not supported: ${req.argv.join(" ")}\n` };
  };

  const serve = (sock: Socket) => {
    let buf = "";
    sock.setEncoding("utf8");
    sock.setTimeout(30_000, () => sock.destroy());
    sock.on("error", () => sock.destroy());
    sock.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES) return sock.destroy();
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      sock.removeAllListeners("data");
      let req: ControlRequest;
      try {
        req = JSON.parse(buf.slice(0, nl)) as ControlRequest;
        if (!Array.isArray(req.argv) || !req.argv.every((a) => typeof a === "string"))
          throw new Error("bad argv");
      } catch {
        sock.end(`${JSON.stringify({ ok: false, text: "malformed request\n" })}\n`);
        return;
      }
      answer(req).then(
        (r) => sock.end(`${JSON.stringify(r)}\n`),
        (e: unknown) =>
          sock.end(`${JSON.stringify({ ok: false, text: `${(e as Error).message}\n` })}\n`),
      );
    });
  };

  const server = await new Promise<Server>((resolve) =>
    channel.onNotice("parent.control", (_b, handle) => resolve(handle as Server)),
  );
  server.on("connection", (s: Socket) => {
    s.resume();
    serve(s);
  });
  log("debug", `control socket ${start.controlSocket}`);
}
