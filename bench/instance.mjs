// What every benchmarked server shares: the bench directory, system users, unpacking Debian
// packages, one directory and Maildir per instance, starting a server in its own process group
// and stopping its whole tree by PID, and counting delivered mail.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { treePids } from "./proc.mjs";

export { procUsage, treePids } from "./proc.mjs";
// biome-ignore lint/suspicious/noUndeclaredEnvVars: bench-only setting, not a turbo task input
export const BENCH_DIR = process.env.FACTEUR_BENCH_DIR || "/tmp/facteur-bench";
export const TEST_DOMAIN = "bench.test";
export const DELIVERY_USER = "facteurbench";
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function log(...a) {
  console.error("[peers]", ...a);
}

/** Find a free TCP port on 127.0.0.1 by binding port 0. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 120_000, ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr || r.error}`);
  }
  return r.stdout;
}

function hasUser(name) {
  return spawnSync("getent", ["passwd", name]).status === 0;
}
function hasGroup(name) {
  return spawnSync("getent", ["group", name]).status === 0;
}
export function ensureGroup(name) {
  if (!hasGroup(name)) run("groupadd", ["--system", name]);
}
const CREATED = new Set();
export function ensureUser(name, group) {
  if (hasUser(name)) return;
  const args = ["--system", "--no-create-home", "--home-dir", "/nonexistent"];
  args.push("--shell", "/usr/sbin/nologin");
  if (group) args.push("--gid", group);
  else args.push("--user-group");
  run("useradd", [...args, name]);
  CREATED.add(name);
  log(`created system user ${name}`);
}

/**
 * Remove the delivery user if this process created it (the privsep users of the peers and of
 * Facteur stay: ci/setup and the packages expect them). Mail it owned stays under BENCH_DIR
 * and is chowned again at the next start.
 */
export function removeCreatedDeliveryUser() {
  if (!CREATED.has(DELIVERY_USER)) return;
  const r = spawnSync("userdel", [DELIVERY_USER], { encoding: "utf8", timeout: 30_000 });
  if (r.status === 0) {
    CREATED.delete(DELIVERY_USER);
    log(`removed system user ${DELIVERY_USER}`);
  } else log(`userdel ${DELIVERY_USER} failed: ${r.stderr}`);
}
export function ids(name) {
  const uid = Number(run("id", ["-u", name]).trim());
  const gid = Number(run("id", ["-g", name]).trim());
  return { uid, gid };
}

/** apt-get download + dpkg -x into BENCH_DIR/root-<pkg>. Returns {root, version}. */
export function unpackDeb(pkg) {
  const debs = path.join(BENCH_DIR, "debs");
  fs.mkdirSync(debs, { recursive: true });
  const find = () =>
    fs.readdirSync(debs).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  let deb = find();
  if (!deb) {
    let r = spawnSync("apt-get", ["download", pkg], {
      cwd: debs,
      encoding: "utf8",
      timeout: 300_000,
    });
    if (r.status !== 0) {
      log(`apt-get download ${pkg} failed, running apt-get update once`);
      run("apt-get", ["update"], { timeout: 300_000 });
      r = spawnSync("apt-get", ["download", pkg], {
        cwd: debs,
        encoding: "utf8",
        timeout: 300_000,
      });
      if (r.status !== 0) throw new Error(`apt-get download ${pkg}: ${r.stderr}`);
    }
    deb = find();
  }
  const version = run("dpkg-deb", ["-f", path.join(debs, deb), "Version"]).trim();
  const root = path.join(BENCH_DIR, `root-${pkg}`);
  const stamp = path.join(root, ".unpacked-version");
  if (!fs.existsSync(stamp) || fs.readFileSync(stamp, "utf8") !== version) {
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
    run("dpkg", ["-x", path.join(debs, deb), root]);
    fs.writeFileSync(stamp, version);
  }
  return { root, version };
}

/**
 * A copy of /etc/resolv.conf with `lookup file bind`, to bind-mount over /etc/resolv.conf for
 * the servers whose resolver is asr (OpenSMTPD, Facteur): asr asks DNS before /etc/hosts by
 * default, so the reverse lookup of 127.0.0.1 went to the sandbox's DNS server, which sometimes
 * did not answer (a 5 s stall before the greeting). Postfix (glibc, nsswitch "files dns")
 * reads /etc/hosts first; this makes asr do the same.
 */
export function hostsFirstResolvConf(dir) {
  let resolv = "";
  try {
    resolv = fs.readFileSync("/etc/resolv.conf", "utf8").replace(/^lookup.*$/gm, "");
  } catch {}
  const file = path.join(dir, "resolv.conf");
  fs.writeFileSync(file, `${resolv.trimEnd()}\nlookup file bind\n`);
  fs.chmodSync(file, 0o644);
  return file;
}

/** Make a fresh per-instance directory with a Maildir owned by the delivery user. */
export function instanceDir(name) {
  ensureUser(DELIVERY_USER);
  const dir = path.join(BENCH_DIR, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const { uid, gid } = ids(DELIVERY_USER);
  const maildir = path.join(dir, "Maildir");
  for (const sub of ["", "new", "cur", "tmp"]) {
    const p = path.join(maildir, sub);
    fs.mkdirSync(p, { recursive: true, mode: 0o700 });
    fs.chownSync(p, uid, gid);
  }
  return { dir, maildir, uid, gid };
}

// ---------------------------------------------------------------- helpers

/** Wait until something on host:port sends a 220 greeting. */
export async function waitForGreeting(
  port,
  { host = "127.0.0.1", timeoutMs = 20_000, alive } = {},
) {
  const deadline = Date.now() + timeoutMs;
  let lastErr = "";
  for (let i = 0; i < 400 && Date.now() < deadline; i++) {
    if (alive && !alive()) throw new Error(`server exited before greeting (${lastErr})`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host, port });
      let buf = "";
      const t = setTimeout(() => {
        s.destroy();
        resolve(false);
      }, 2000);
      s.on("data", (d) => {
        buf += d;
        if (buf.includes("\n")) {
          clearTimeout(t);
          s.end("QUIT\r\n");
          s.destroy();
          resolve(buf.startsWith("220"));
        }
      });
      s.on("error", (e) => {
        lastErr = e.message;
        clearTimeout(t);
        resolve(false);
      });
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`no SMTP greeting on ${host}:${port} after ${timeoutMs} ms (${lastErr})`);
}

// Servers started by this module that are still running; killed if this process exits.
const LIVE = new Set();
process.on("exit", () => {
  for (const pid of LIVE) {
    for (const p of treePids([pid])) {
      try {
        process.kill(p, "SIGKILL");
      } catch {}
    }
  }
});

export function spawnServer(name, cmd, args, opts) {
  const logFile = path.join(opts.dir, `${name}.log`);
  const fd = fs.openSync(logFile, "a");
  // detached: own process group (Postfix master signals its group on shutdown).
  const child = spawn(cmd, args, { stdio: ["ignore", fd, fd], detached: true, ...opts.spawn });
  LIVE.add(child.pid);
  fs.closeSync(fd);
  let exited = false;
  child.on("exit", () => {
    exited = true;
    LIVE.delete(child.pid);
  });
  return { child, logFile, alive: () => !exited };
}

export async function stopTree(rootPid, alive, extraStop) {
  if (extraStop) {
    try {
      extraStop();
    } catch {}
  }
  const pids = treePids([rootPid]);
  try {
    process.kill(rootPid, "SIGTERM");
  } catch {}
  for (let i = 0; i < 100 && alive(); i++) await sleep(100);
  // Kill anything left over in the tree, by PID (only processes we started).
  for (const p of pids) {
    try {
      if (fs.existsSync(`/proc/${p}`)) process.kill(p, "SIGKILL");
    } catch {}
  }
}

export function wrapInstance({
  name,
  version,
  port,
  child,
  alive,
  logFile,
  dir,
  maildir,
  extraStop,
}) {
  return {
    name,
    version,
    port,
    dir,
    maildir,
    logFile,
    rootPid: child.pid,
    get pids() {
      return treePids([child.pid]);
    },
    listPids: () => treePids([child.pid]),
    alive,
    stop: () => stopTree(child.pid, alive, extraStop),
  };
}

export function countMaildir(maildir) {
  let n = 0;
  for (const sub of ["new", "cur"]) {
    try {
      n += fs.readdirSync(path.join(maildir, sub)).length;
    } catch {}
  }
  return n;
}

/** Empty Maildir/new and Maildir/cur (between runs). */
export function clearMaildir(maildir) {
  for (const sub of ["new", "cur"]) {
    const d = path.join(maildir, sub);
    let names = [];
    try {
      names = fs.readdirSync(d);
    } catch {}
    for (const f of names) fs.rmSync(path.join(d, f), { force: true });
  }
}
