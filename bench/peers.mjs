// Peer MTAs for the benchmarks: OpenSMTPD and Postfix unpacked from Debian packages
// (apt-get download + dpkg -x, never installed), plus the Facteur daemon itself.
// Each server gets its own config, spool/queue, Maildir and a free loopback port.
//
// Everything lives under /tmp/facteur-bench (override with FACTEUR_BENCH_DIR).
// Needs root: OpenSMTPD and Postfix drop privileges to their own users, which are
// created with `useradd --system` when missing (opensmtpd, opensmtpq, postfix + group
// postdrop, and facteurbench, the owner of the delivered mail).
//
// OpenSMTPD has its spool (/var/spool/smtpd), chroot (/var/lib/opensmtpd/empty), control
// socket (/var/run/smtpd.sock) and helpers (/usr/libexec/opensmtpd) compiled in. It is run in
// a private mount namespace (`unshare --mount`) where temp directories are bind-mounted over
// /var/spool, /var/lib, /run and /usr/libexec, so nothing on the host is touched.
// Postfix takes every path from main.cf, so it runs directly (`master -c CONFDIR`), with
// LD_LIBRARY_PATH pointing at the unpacked /usr/lib/postfix.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

// biome-ignore lint/suspicious/noUndeclaredEnvVars: bench-only setting, not a turbo task input
export const BENCH_DIR = process.env.FACTEUR_BENCH_DIR || "/tmp/facteur-bench";
export const TEST_DOMAIN = "bench.test";
export const DELIVERY_USER = "facteurbench";
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function log(...a) {
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

function run(cmd, args, opts = {}) {
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
function ensureGroup(name) {
  if (!hasGroup(name)) run("groupadd", ["--system", name]);
}
function ensureUser(name, group) {
  if (hasUser(name)) return;
  const args = ["--system", "--no-create-home", "--home-dir", "/nonexistent"];
  args.push("--shell", "/usr/sbin/nologin");
  if (group) args.push("--gid", group);
  else args.push("--user-group");
  run("useradd", [...args, name]);
  log(`created system user ${name}`);
}
function ids(name) {
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

/** Make a fresh per-instance directory with a Maildir owned by the delivery user. */
function instanceDir(name) {
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

// ---------------------------------------------------------------- /proc accounting

function readProc(pid, file) {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return null;
  }
}

function statOf(pid) {
  const s = readProc(pid, "stat");
  if (!s) return null;
  const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); field n is rest[n-3]
  return {
    state: rest[0],
    ppid: Number(rest[1]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
    cutime: Number(rest[13]),
    cstime: Number(rest[14]),
  };
}

/** All live PIDs in the process trees rooted at the given PIDs (roots included). */
export function treePids(roots) {
  const children = new Map();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const st = statOf(d);
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(Number(d));
  }
  const out = [];
  const stack = roots.filter((p) => p && fs.existsSync(`/proc/${p}`));
  const seen = new Set();
  while (stack.length && out.length < 100_000) {
    const p = stack.pop();
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(p);
    for (const c of children.get(p) || []) stack.push(c);
  }
  return out;
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) is 100 on Linux/x86_64 and arm64

/**
 * Memory and CPU of a set of processes, from /proc:
 * cpuSec = Σ (utime+stime+cutime+cstime) / CLK_TCK (cutime/cstime cover reaped children),
 * rssKB = Σ VmRSS, hwmKB = Σ VmHWM, pssKB = Σ Pss (smaps_rollup).
 */
export function procUsage(pids) {
  let ticks = 0;
  let rssKB = 0;
  let hwmKB = 0;
  let pssKB = 0;
  let n = 0;
  for (const pid of pids) {
    const st = statOf(pid);
    if (!st || st.state === "Z") continue;
    n++;
    ticks += st.utime + st.stime + st.cutime + st.cstime;
    const status = readProc(pid, "status") || "";
    rssKB += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] || 0);
    hwmKB += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] || 0);
    const roll = readProc(pid, "smaps_rollup") || "";
    pssKB += Number(/^Pss:\s+(\d+)/m.exec(roll)?.[1] || 0);
  }
  return { procs: n, cpuSec: ticks / CLK_TCK, rssKB, hwmKB, pssKB };
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

function spawnServer(name, cmd, args, opts) {
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

async function stopTree(rootPid, alive, extraStop) {
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

function wrapInstance({ name, version, port, child, alive, logFile, dir, maildir, extraStop }) {
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

// ---------------------------------------------------------------- OpenSMTPD

export async function startOpenSMTPD({ port } = {}) {
  if (process.getuid() !== 0) throw new Error("OpenSMTPD needs root (privsep, chroot)");
  const { root, version } = unpackDeb("opensmtpd");
  ensureUser("opensmtpd");
  ensureUser("opensmtpq");
  const { dir, maildir } = instanceDir("opensmtpd");
  port ||= await freePort();

  // Directories bind-mounted over the compiled-in paths inside a private mount namespace.
  const ns = {
    "/var/spool": path.join(dir, "var-spool"),
    "/var/lib": path.join(dir, "var-lib"),
    "/run": path.join(dir, "run"),
    "/usr/libexec": path.join(root, "usr/libexec"),
  };
  fs.mkdirSync(path.join(ns["/var/spool"], "smtpd"), { recursive: true });
  fs.chmodSync(path.join(ns["/var/spool"], "smtpd"), 0o711);
  fs.mkdirSync(path.join(ns["/var/lib"], "opensmtpd/empty"), { recursive: true });
  fs.mkdirSync(ns["/run"], { recursive: true });
  // OpenSMTPD's resolver (asr) asks DNS before /etc/hosts unless told otherwise, so the
  // reverse lookup of 127.0.0.1 went to the sandbox's DNS server and sometimes stalled for 5 s.
  // Postfix (glibc, nsswitch "files dns") reads /etc/hosts first; make asr do the same.
  let resolv = "";
  try {
    resolv = fs.readFileSync("/etc/resolv.conf", "utf8").replace(/^lookup.*$/gm, "");
  } catch {}
  const resolvFile = path.join(dir, "resolv.conf");
  fs.writeFileSync(resolvFile, `${resolv.trimEnd()}\nlookup file bind\n`);
  ns["/etc/resolv.conf"] = resolvFile;

  fs.writeFileSync(path.join(dir, "vusers"), `@ ${DELIVERY_USER}\n`);
  const conf = path.join(dir, "smtpd.conf");
  fs.writeFileSync(
    conf,
    [
      `table vusers file:${dir}/vusers`,
      `listen on 127.0.0.1 port ${port} hostname bench.local`,
      `action "local" maildir "${maildir}" virtual <vusers>`,
      `match from any for domain "${TEST_DOMAIN}" action "local"`,
      "",
    ].join("\n"),
  );
  fs.chmodSync(conf, 0o644);

  const mounts = Object.entries(ns)
    .map(([target, src]) => `mount --bind '${src}' '${target}'`)
    .join(" && ");
  const smtpd = path.join(root, "usr/sbin/smtpd");
  const script = `${mounts} && exec '${smtpd}' -d -f '${conf}'`;
  const { child, alive, logFile } = spawnServer(
    "opensmtpd",
    "unshare",
    ["--mount", "--propagation", "private", "--", "sh", "-c", script],
    { dir },
  );
  try {
    await waitForGreeting(port, { alive });
  } catch (e) {
    await stopTree(child.pid, alive);
    const tail = fs.readFileSync(logFile, "utf8").slice(-2000);
    throw new Error(`OpenSMTPD did not start: ${e.message}\n${tail}`);
  }
  log(`OpenSMTPD ${version} on 127.0.0.1:${port} (pid ${child.pid})`);
  return wrapInstance({ name: "OpenSMTPD", version, port, child, alive, logFile, dir, maildir });
}

// ---------------------------------------------------------------- Postfix

/**
 * Postfix with defaults except: paths into the unpacked tree, loopback only, no chroot,
 * virtual(8) delivery of every address in bench.test to one Maildir, and
 * `smtpdMaxproc` smtpd processes (default 100 = Postfix's default_process_limit).
 */
export async function startPostfix({ port, smtpdMaxproc = 100 } = {}) {
  if (process.getuid() !== 0) throw new Error("Postfix master needs root");
  const { root, version } = unpackDeb("postfix");
  ensureGroup("postdrop");
  ensureUser("postfix");
  const { dir, maildir, uid, gid } = instanceDir("postfix");
  port ||= await freePort();
  const conf = path.join(dir, "conf");
  const queue = path.join(dir, "queue");
  const data = path.join(dir, "data");
  const pf = ids("postfix");
  const postdrop = Number(run("getent", ["group", "postdrop"]).split(":")[2]);
  fs.mkdirSync(conf, { recursive: true });
  fs.mkdirSync(queue, { recursive: true, mode: 0o755 });
  fs.mkdirSync(data, { recursive: true, mode: 0o700 });
  fs.chownSync(data, pf.uid, pf.gid);
  const qdirs = {
    active: [0o700, pf.gid],
    bounce: [0o700, pf.gid],
    corrupt: [0o700, pf.gid],
    defer: [0o700, pf.gid],
    deferred: [0o700, pf.gid],
    flush: [0o700, pf.gid],
    hold: [0o700, pf.gid],
    incoming: [0o700, pf.gid],
    private: [0o700, pf.gid],
    saved: [0o700, pf.gid],
    trace: [0o700, pf.gid],
    maildrop: [0o730, postdrop],
    public: [0o710, postdrop],
  };
  for (const [d, [mode, g]] of Object.entries(qdirs)) {
    const p = path.join(queue, d);
    fs.mkdirSync(p, { recursive: true });
    fs.chownSync(p, pf.uid, g);
    fs.chmodSync(p, mode);
  }
  fs.mkdirSync(path.join(queue, "pid"), { recursive: true, mode: 0o755 });

  const lib = path.join(root, "usr/lib/postfix");
  fs.writeFileSync(
    path.join(conf, "main.cf"),
    `# generated by bench/peers.mjs
compatibility_level = 3.6
queue_directory = ${queue}
data_directory = ${data}
command_directory = ${root}/usr/sbin
daemon_directory = ${lib}/sbin
shlib_directory = ${lib}
meta_directory = ${root}/etc/postfix
sendmail_path = ${root}/usr/sbin/sendmail
newaliases_path = ${root}/usr/bin/newaliases
mailq_path = ${root}/usr/bin/mailq
manpage_directory = ${root}/usr/share/man
html_directory = no
readme_directory = no
mail_owner = postfix
setgid_group = postdrop
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH=${lib}
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
myhostname = bench.local
mydomain = bench.local
myorigin = bench.local
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtpd_banner = $myhostname ESMTP
virtual_mailbox_domains = ${TEST_DOMAIN}
virtual_mailbox_base = ${dir}
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:${uid}
virtual_gid_maps = static:${gid}
virtual_minimum_uid = 1
`,
  );
  // Debian's master.cf services with chroot=n (we have no chroot tree), smtpd on our port.
  const svc = (name, type, priv, unpriv, wakeup, maxproc, cmd) =>
    `${name}\t${type}\t${priv}\t${unpriv}\tn\t${wakeup}\t${maxproc}\t${cmd}`;
  fs.writeFileSync(
    path.join(conf, "master.cf"),
    [
      "# generated by bench/peers.mjs",
      svc(String(port), "inet", "n", "-", "-", smtpdMaxproc, "smtpd"),
      svc("pickup", "unix", "n", "-", "60", "1", "pickup"),
      svc("cleanup", "unix", "n", "-", "-", "0", "cleanup"),
      svc("qmgr", "unix", "n", "-", "300", "1", "qmgr"),
      svc("tlsmgr", "unix", "-", "-", "1000?", "1", "tlsmgr"),
      svc("rewrite", "unix", "-", "-", "-", "-", "trivial-rewrite"),
      svc("bounce", "unix", "-", "-", "-", "0", "bounce"),
      svc("defer", "unix", "-", "-", "-", "0", "bounce"),
      svc("trace", "unix", "-", "-", "-", "0", "bounce"),
      svc("verify", "unix", "-", "-", "-", "1", "verify"),
      svc("flush", "unix", "n", "-", "1000?", "0", "flush"),
      svc("proxymap", "unix", "-", "-", "-", "-", "proxymap"),
      svc("proxywrite", "unix", "-", "-", "-", "1", "proxymap"),
      svc("smtp", "unix", "-", "-", "-", "-", "smtp"),
      svc("relay", "unix", "-", "-", "-", "-", "smtp"),
      svc("showq", "unix", "n", "-", "-", "-", "showq"),
      svc("error", "unix", "-", "-", "-", "-", "error"),
      svc("retry", "unix", "-", "-", "-", "-", "error"),
      svc("discard", "unix", "-", "-", "-", "-", "discard"),
      svc("local", "unix", "-", "n", "-", "-", "local"),
      svc("virtual", "unix", "-", "n", "-", "-", "virtual"),
      svc("lmtp", "unix", "-", "-", "-", "-", "lmtp"),
      svc("anvil", "unix", "-", "-", "-", "1", "anvil"),
      svc("scache", "unix", "-", "-", "-", "1", "scache"),
      svc("postlog", "unix-dgram", "n", "-", "-", "1", "postlogd"),
      "",
    ].join("\n"),
  );
  const env = {
    ...process.env,
    LD_LIBRARY_PATH: lib,
    MAIL_CONFIG: conf,
    POSTLOG_SERVICE: "postlog",
    POSTLOG_HOSTNAME: "bench.local",
  };
  const { child, alive, logFile } = spawnServer(
    "postfix",
    path.join(lib, "sbin/master"),
    ["-c", conf, "-d"],
    { dir, spawn: { env } },
  );
  try {
    await waitForGreeting(port, { alive });
  } catch (e) {
    await stopTree(child.pid, alive);
    const tail = [logFile, path.join(dir, "maillog")]
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f, "utf8").slice(-1500))
      .join("\n");
    throw new Error(`Postfix did not start: ${e.message}\n${tail}`);
  }
  log(`Postfix ${version} on 127.0.0.1:${port} (pid ${child.pid})`);
  return wrapInstance({ name: "Postfix", version, port, child, alive, logFile, dir, maildir });
}

// ---------------------------------------------------------------- Facteur

/**
 * Start the Facteur daemon in the foreground and wait for `smtpd ready` in its log,
 * then for an SMTP greeting. Throws when it cannot (the caller reports "not available").
 */
export async function startFacteur({ port, readyTimeoutMs = 20_000 } = {}) {
  const bin = path.join(REPO, "packages/smtpd/bin/smtpd.cjs");
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found (run npm run build)`);
  const { dir, maildir } = instanceDir("facteur");
  const rootDir = path.join(dir, "root");
  fs.mkdirSync(rootDir, { recursive: true });
  port ||= await freePort();
  const conf = path.join(dir, "smtpd.conf");
  fs.writeFileSync(
    conf,
    [
      `listen on 127.0.0.1 port ${port}`,
      `action "local" maildir "${maildir}"`,
      `match from any for domain "${TEST_DOMAIN}" action "local"`,
      "",
    ].join("\n"),
  );
  let version = "?";
  try {
    version = JSON.parse(fs.readFileSync(path.join(REPO, "packages/smtpd/package.json"))).version;
  } catch {}
  const { child, alive, logFile } = spawnServer(
    "facteur",
    process.execPath,
    [bin, "-d", "-f", conf, "--root", rootDir],
    { dir },
  );
  const deadline = Date.now() + readyTimeoutMs;
  let ready = false;
  while (Date.now() < deadline && alive()) {
    if (fs.readFileSync(logFile, "utf8").includes("smtpd ready")) {
      ready = true;
      break;
    }
    await sleep(100);
  }
  try {
    if (!ready) throw new Error(alive() ? "no 'smtpd ready' in log" : "daemon exited early");
    await waitForGreeting(port, { alive, timeoutMs: 10_000 });
  } catch (e) {
    await stopTree(child.pid, alive);
    const tail = fs.readFileSync(logFile, "utf8").slice(-1500);
    throw new Error(`${e.message}\n${tail}`);
  }
  log(`Facteur ${version} on 127.0.0.1:${port} (pid ${child.pid})`);
  return wrapInstance({ name: "Facteur", version, port, child, alive, logFile, dir, maildir });
}

/** Count delivered messages (files in Maildir/new and Maildir/cur). */
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

export function peerVersions() {
  const out = {};
  for (const pkg of ["opensmtpd", "postfix"]) {
    try {
      out[pkg] = unpackDeb(pkg).version;
    } catch (e) {
      out[pkg] = `unavailable (${e.message.split("\n")[0]})`;
    }
  }
  return out;
}

// CLI: `node bench/peers.mjs opensmtpd|postfix|facteur` starts one and keeps it up
// (at most 10 minutes, or until Ctrl-C), printing its port and PIDs.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const which = process.argv[2] || "opensmtpd";
  const start = { opensmtpd: startOpenSMTPD, postfix: startPostfix, facteur: startFacteur }[which];
  if (!start) {
    console.error("usage: node bench/peers.mjs opensmtpd|postfix|facteur");
    process.exit(2);
  }
  const inst = await start();
  console.log(JSON.stringify({ name: inst.name, port: inst.port, pids: inst.pids, dir: inst.dir }));
  const stop = async () => {
    await inst.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  setTimeout(stop, 600_000);
}
