// Peer MTAs for the benchmarks: OpenSMTPD and Postfix unpacked from Debian packages
// (apt-get download + dpkg -x, never installed); Facteur itself is in facteur.mjs.
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

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startFacteur } from "./facteur.mjs";
import {
  DELIVERY_USER,
  ensureGroup,
  ensureUser,
  freePort,
  hostsFirstResolvConf,
  ids,
  instanceDir,
  log,
  run,
  spawnServer,
  stopTree,
  TEST_DOMAIN,
  unpackDeb,
  waitForGreeting,
  wrapInstance,
} from "./instance.mjs";

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
  // OpenSMTPD's resolver (asr) asks DNS before /etc/hosts unless told otherwise.
  const resolvFile = hostsFirstResolvConf(dir);
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
