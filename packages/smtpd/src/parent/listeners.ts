// The parent binds every listener (it may need root for port 25) and hands the bound
// servers to the dispatcher; the dispatcher never binds anything itself.
import { lookup } from "node:dns/promises";
import { chmodSync, renameSync, rmSync } from "node:fs";
import { createServer, isIP, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import type { ListenerModel } from "../config/model.js";

export interface Bound {
  readonly listener: number;
  readonly server: Server;
  readonly address: string;
}

/** The addresses a `listen on` target stands for: interface, literal, then host name. */
export async function listenerAddresses(l: ListenerModel): Promise<string[]> {
  if (l.ifx === null) return [];
  const fam = l.family === "inet4" ? "IPv4" : l.family === "inet6" ? "IPv6" : null;
  const nic = networkInterfaces()[l.ifx];
  if (nic !== undefined) {
    const out = nic
      .filter((a) => fam === null || a.family === fam)
      .map((a) => (a.family === "IPv6" && a.scopeid ? `${a.address}%${l.ifx}` : a.address));
    if (out.length > 0) return out;
  }
  const ip = isIP(l.ifx);
  if (ip !== 0) return [l.ifx];
  const addrs = await lookup(l.ifx, {
    all: true,
    family: fam === "IPv4" ? 4 : fam === "IPv6" ? 6 : 0,
  });
  return [...new Set(addrs.map((a) => a.address))];
}

function listen(
  server: Server,
  opts: { host?: string; port?: number; path?: string },
): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ ...opts, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * A unix socket for a role: bound under a temporary name, then renamed into place. The parent
 * closes its copy once the role has the handle, and libuv unlinks a pipe's bound name on
 * close; the rename keeps the live socket out of that unlink.
 */
export async function bindUnixSocket(path: string, mode: number): Promise<Server> {
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const server = createServer({ pauseOnConnect: true });
  await listen(server, { path: tmp });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
  return server;
}

export async function bindListener(l: ListenerModel, enqueueSocket: string): Promise<Bound[]> {
  if (l.ifx === null) {
    // Any local user may submit mail through the enqueuer socket, as with OpenSMTPD.
    const server = await bindUnixSocket(enqueueSocket, 0o666);
    return [{ listener: l.index, server, address: enqueueSocket }];
  }
  const out: Bound[] = [];
  for (const host of await listenerAddresses(l)) {
    const server = createServer({ pauseOnConnect: true });
    await listen(server, { host, port: l.port });
    out.push({
      listener: l.index,
      server,
      address: `${isIP(host) === 6 ? `[${host}]` : host}:${l.port}`,
    });
  }
  return out;
}
