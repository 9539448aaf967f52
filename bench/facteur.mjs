// The Facteur daemon under the benchmarks: a copy of the built bundle (so that a rebuild during
// the run changes nothing), started in the foreground with a config equivalent to the peers'.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  BENCH_DIR,
  DELIVERY_USER,
  ensureUser,
  freePort,
  hostsFirstResolvConf,
  instanceDir,
  log,
  REPO,
  sleep,
  spawnServer,
  stopTree,
  TEST_DOMAIN,
  waitForGreeting,
  wrapInstance,
} from "./instance.mjs";

/**
 * Start the Facteur daemon in the foreground and wait for `smtpd ready` in its log,
 * then for an SMTP greeting. Throws when it cannot (the caller reports "not available").
 */
export const FACTEUR_BUNDLE = path.join(REPO, "packages/smtpd/bundle/smtpd.cjs");

/**
 * Copy the built daemon (one self-contained file) out of the work tree, so that a rebuild by
 * someone else during the run does not change what is measured (the parent forks its roles
 * and delivery workers from its own file). `source` overrides the bundle to copy. Returns the
 * copy's path and a label for the report (the work tree's revision, "+dirty" if packages/
 * has uncommitted changes).
 */
export function snapshotFacteur(source = null) {
  const from = source ?? FACTEUR_BUNDLE;
  if (!fs.existsSync(from)) throw new Error(`${from} not found (run npx turbo run build bundle)`);
  const dir = path.join(BENCH_DIR, "facteur-dist");
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const bin = path.join(dir, "smtpd.cjs");
  fs.copyFileSync(from, bin);
  fs.chmodSync(bin, 0o755);
  if (source) return { bin, rev: `bundle ${source}` };
  const git = (...a) => spawnSync("git", ["-C", REPO, ...a], { encoding: "utf8" }).stdout?.trim();
  const rev = git("rev-parse", "--short", "HEAD") || "?";
  const dirty = git("status", "--porcelain", "--untracked-files=no", "--", "packages")
    ? "+dirty"
    : "";
  return { bin, rev: `${rev}${dirty}` };
}

export async function startFacteur({
  port,
  readyTimeoutMs = 20_000,
  env,
  nodeArgs = [],
  bin = path.join(REPO, "packages/smtpd/bin/smtpd.cjs"),
  rev,
} = {}) {
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found (run npm run build)`);
  if (process.getuid() === 0) {
    // The roles run as these users when the daemon is started as root (see ci/setup).
    ensureUser("opensmtpd");
    ensureUser("opensmtpq");
  }
  const { dir, maildir } = instanceDir("facteur");
  const rootDir = path.join(dir, "root");
  fs.mkdirSync(rootDir, { recursive: true, mode: 0o711 });
  fs.chmodSync(rootDir, 0o711);
  port ||= await freePort();
  // Same shape as OpenSMTPD's config: every address in bench.test maps (catch-all virtual
  // entry) to the delivery user, whose worker writes into one Maildir.
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
  let version = "?";
  try {
    version = JSON.parse(fs.readFileSync(path.join(REPO, "packages/smtpd/package.json"))).version;
  } catch {}
  if (rev) version += ` (${rev})`;
  // In a private mount namespace with the same hosts-first resolv.conf as OpenSMTPD: the
  // dispatcher's reverse lookups use asr too, and cannot be pointed at another file.
  const resolvFile = hostsFirstResolvConf(dir);
  const argv = [process.execPath, ...nodeArgs, bin, "-d", "-f", conf, "--root", rootDir];
  const script = `mount --bind '${resolvFile}' /etc/resolv.conf && exec ${argv.map((a) => `'${a}'`).join(" ")}`;
  const { child, alive, logFile } = spawnServer(
    "facteur",
    "unshare",
    ["--mount", "--propagation", "private", "--", "sh", "-c", script],
    { dir, spawn: { env: { ...process.env, ...env } } },
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
