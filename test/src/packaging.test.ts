// Packaging (issue 7): the staged trees follow compat's facts, the packing lists and versions
// are current, two builds give byte-identical packages and tarball, the tarball builds
// offline, the single binary runs with no Node on PATH, and the .deb installs, runs as its
// own users, delivers, and purges. Slow (minutes): every wait is bounded. The tools come from
// ci/apt/packaging.list (ci/setup installs them as root); without root they are skipped.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { freePort } from "./harness.js";
import { SmtpClient } from "./smtp-client.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const isRoot = process.getuid?.() === 0;
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const TOOLS = [
  "dpkg-buildpackage",
  "dh",
  "lintian",
  "rpmbuild",
  "rpmlint",
  "zstd",
  "bsdtar",
  "strip",
];
const missing = TOOLS.filter((t) => !has(t));
// ci/setup installs ci/apt/packaging.list as root: there, a missing tool is a failure.
const toolSkip =
  missing.length === 0
    ? false
    : isRoot
      ? false
      : `not installed: ${missing.join(", ")} (ci/setup installs ci/apt/packaging.list as root)`;
const rootSkip = isRoot ? toolSkip : "needs root: dpkg -i, useradd, the daemon's users";
const EPOCH = "1764028800";
const MINUTES = 60_000;

// biome-ignore lint/suspicious/noExplicitAny: the scripts are plain ESM without types
type Mod = Record<string, any>;
const load = (name: string): Promise<Mod> =>
  import(pathToFileURL(join(repo, "scripts", name)).href) as Promise<Mod>;

function run(cmd: string, args: string[], opts: Parameters<typeof spawnSync>[2] = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 10 * MINUTES, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.error ?? ""}${r.stdout}${r.stderr}`);
  return String(r.stdout);
}

const sha256 = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");

/** Polls `ok` every 100 ms until it holds, for at most `ms`. */
async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const work = mkdtempSync(join(tmpdir(), "facteur-packaging-"));
chmodSync(work, 0o711);
after(() => rmSync(work, { recursive: true, force: true }));

describe("staging", () => {
  test("each platform's tree follows compat's facts", async () => {
    const { stage, loadPlatforms } = await load("stage.mjs");
    const facts = await loadPlatforms();
    for (const platform of ["debian", "rpm", "freebsd", "openbsd"]) {
      const dest = join(work, `stage-${platform}`);
      const entries: { path: string; type: string; role?: string }[] = await stage({
        platform,
        dest,
        gzipMan: platform === "freebsd",
      });
      const f = facts[platform];
      const at = (p: string) => join(dest, p);
      for (const prog of ["smtpd", "smtpctl"]) {
        const p = at(`${f.prefix}/sbin/${prog}`);
        assert.ok(lstatSync(p).isSymbolicLink(), `${platform}: ${prog}`);
        assert.match(readFileSync(realpathSync(p), "utf8"), /^#!\/usr(\/local)?\/bin\/node\n/);
      }
      assert.ok(existsSync(at(`${f.libexecDir}/table-passwd`)), `${platform}: table-passwd`);
      for (const name of ["sendmail", "mailq", "newaliases", "makemap"])
        assert.equal(
          realpathSync(at(`${f.libexecDir}/mta/${name}`)),
          realpathSync(at(`${f.prefix}/sbin/smtpctl`)),
        );
      const config = entries.find((e) => e.role === "config");
      assert.ok(config, `${platform}: config`);
      if (platform === "debian" || platform === "rpm") assert.equal(config.path, f.configPath);
      assert.match(readFileSync(at(config.path), "utf8"), new RegExp(`file:${f.aliasesPath}"`));
      for (const e of entries) if (e.type === "link") assert.ok(existsSync(at(e.path)), e.path);
      if (platform === "debian" || platform === "rpm") {
        const unit = entries.find((e) => e.path.endsWith("/facteur.service"));
        assert.ok(unit);
        assert.match(
          readFileSync(at(unit.path), "utf8"),
          new RegExp(`^ExecStart=${f.prefix}/sbin/smtpd -d -f ${f.configPath}$`, "m"),
        );
        const users = readFileSync(at("/usr/lib/sysusers.d/facteur.conf"), "utf8");
        assert.match(users, new RegExp(`^u ${f.smtpdUser} - .* ${f.emptyDir}$`, "m"));
        assert.match(users, new RegExp(`^u ${f.smtpqUser} - .* ${f.emptyDir}$`, "m"));
      }
    }
    const debian = join(work, "stage-debian");
    for (const p of ["/usr/sbin/sendmail", "/usr/bin/mailq", "/usr/lib/sendmail"])
      assert.ok(existsSync(join(debian, p)), p);
  });

  test("the ports' packing lists and every packaging version are current", () => {
    const lists = spawnSync(process.execPath, [join(repo, "scripts/ports.mjs"), "--check"], {
      encoding: "utf8",
    });
    assert.equal(lists.status, 0, lists.stderr);
    const versions = spawnSync(
      process.execPath,
      [join(repo, "scripts/sync-version.mjs"), "--check"],
      { encoding: "utf8" },
    );
    assert.equal(versions.status, 0, versions.stderr);
  });
});

describe("packages", { skip: toolSkip }, () => {
  let outA = "";
  let tree = "";
  const commit = run("git", ["-C", repo, "rev-parse", "HEAD"]).trim();

  before(async () => {
    // One snapshot of the workspace's bundles, so a rebuild elsewhere cannot split the runs.
    const { preparedTree } = await load("package.mjs");
    tree = preparedTree(join(work, "tree"));
  });

  test("two builds give byte-identical .deb, .rpm, FreeBSD .pkg and release tarball", {
    timeout: 25 * MINUTES,
  }, async (t) => {
    const { packageAll } = await load("package.mjs");
    const sums: string[] = [];
    for (const side of ["a", "b"]) {
      const out = join(work, `out-${side}`);
      const r = await packageAll({
        tree,
        out,
        ref: commit,
        epoch: EPOCH,
        sea: false,
        only: ["bundles", "tarball", "deb", "rpm", "freebsd"],
      });
      for (const line of r.report) t.diagnostic(line);
      sums.push(readFileSync(join(out, "SHA256SUMS"), "utf8"));
    }
    outA = join(work, "out-a");
    const files = readdirSync(outA);
    for (const want of [/_all\.deb$/, /\.noarch\.rpm$/, /\.pkg$/, /\.tar\.gz$/])
      assert.ok(
        files.some((f) => want.test(f)),
        `${want} in ${files}`,
      );
    assert.equal(sums[0], sums[1]);
    t.diagnostic(sums[0]!);
    for (const f of readdirSync(join(outA, "bundles")).filter((f) => f.endsWith(".cjs")))
      assert.equal(sha256(join(outA, "bundles", f)), sha256(join(work, "out-b/bundles", f)));
  });

  test("the FreeBSD .pkg reads back with libarchive and its manifest sums", async () => {
    assert.ok(outA, "needs the build above");
    const { readPkg } = await load("freebsd-pkg.mjs");
    const pkg = readdirSync(outA).find((f) => f.endsWith(".pkg"))!;
    const { manifest } = readPkg(join(outA, pkg));
    assert.equal(manifest.origin, "mail/facteur");
    assert.deepEqual(manifest.users, ["_smtpd", "_smtpq"]);
    const list = run("bsdtar", ["-tf", join(outA, pkg)]).split("\n");
    assert.deepEqual(list.slice(0, 2), ["+COMPACT_MANIFEST", "+MANIFEST"]);
    assert.ok(list.includes("/usr/local/sbin/smtpd"));
  });

  test("the release tarball builds offline, to the same bundles in two places", {
    timeout: 20 * MINUTES,
  }, () => {
    assert.ok(outA, "needs the build above");
    const tarball = join(outA, readdirSync(outA).find((f) => f.endsWith(".tar.gz"))!);
    const built: string[] = [];
    for (const side of ["x", "y"]) {
      const dir = join(work, `src-${side}`);
      mkdirSync(dir);
      run("tar", ["-xzf", tarball, "-C", dir]);
      const top = join(dir, readdirSync(dir)[0]!);
      // unshare -n: a new network namespace with no interface but a down loopback
      const offline = isRoot && has("unshare") ? ["unshare", "-n", "make"] : ["make"];
      run(offline[0]!, offline.slice(1), { cwd: top, timeout: 15 * MINUTES });
      built.push(top);
    }
    const bundles = (top: string) =>
      ["smtpd/bundle/smtpd.cjs", "smtpd/bundle/smtpctl.cjs", "extras/bundle/table-passwd.cjs"].map(
        (f) => sha256(join(top, "packages", f)),
      );
    assert.deepEqual(bundles(built[0]!), bundles(built[1]!));
    const root = join(work, "make-install");
    run("make", ["install", `DESTDIR=${root}`, "PLATFORM=debian"], { cwd: built[0]! });
    assert.ok(existsSync(join(root, "usr/sbin/smtpd")));
  });

  test("the .rpm installs into a root directory and its smtpd checks the config", () => {
    assert.ok(outA, "needs the build above");
    const rpm = join(outA, readdirSync(outA).find((f) => f.endsWith(".noarch.rpm"))!);
    const root = join(work, "rpmroot");
    mkdirSync(root);
    run("rpm", ["--root", root, "--initdb"]);
    run("rpm", ["--root", root, "-i", "--nodeps", "--noscripts", "--nosignature", rpm]);
    const smtpd = join(root, "usr/sbin/smtpd");
    const conf = join(root, "etc/opensmtpd/smtpd.conf");
    assert.ok(existsSync(conf));
    const r = spawnSync(smtpd, ["-n", "--syntax", "-f", conf], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(run("rpm", ["--root", root, "-q", "facteur"]), /^facteur-\d/);
  });

  describe("the .deb on this machine", { skip: rootSkip }, () => {
    const user = `fct${process.pid % 100000}`;
    const home = join(work, "home");
    let daemon: ChildProcess | null = null;
    let hadAliases = true;
    const hadUsers = ["opensmtpd", "opensmtpq"].filter(
      (u) => spawnSync("getent", ["passwd", u]).status === 0,
    );
    const installed = () =>
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format
      spawnSync("dpkg-query", ["-W", "-f=${Status}", "facteur"], { encoding: "utf8" }).stdout;

    after(async () => {
      if (daemon && daemon.exitCode === null) {
        daemon.kill("SIGTERM");
        await until("smtpd to stop", 30_000, () => daemon?.exitCode !== null).catch(() =>
          daemon?.kill("SIGKILL"),
        );
      }
      if (installed().includes("installed") || installed().includes("config-files"))
        spawnSync("dpkg", ["--purge", "facteur"]);
      spawnSync("userdel", ["-r", user]);
      if (!hadAliases) rmSync("/etc/aliases", { force: true });
      for (const u of ["opensmtpd", "opensmtpq"])
        if (!hadUsers.includes(u)) spawnSync("userdel", [u]);
    });

    test("dpkg -i, the service as its own users, delivery, remove, purge", {
      timeout: 10 * MINUTES,
    }, async (t) => {
      assert.ok(outA, "needs the build above");
      assert.equal(installed(), "", "facteur is already installed on this machine");
      hadAliases = existsSync("/etc/aliases");
      const deb = join(outA, readdirSync(outA).find((f) => f.endsWith("_all.deb"))!);
      run("dpkg", ["-i", deb]);
      assert.match(installed(), /install ok installed/);
      for (const u of ["opensmtpd", "opensmtpq"]) run("getent", ["passwd", u]);
      assert.ok(existsSync("/etc/smtpd.conf") && existsSync("/etc/aliases"));
      assert.equal(realpathSync("/usr/sbin/sendmail"), realpathSync("/usr/sbin/smtpctl"));

      mkdirSync(home, { mode: 0o755 });
      spawnSync("userdel", ["-r", user]);
      run("useradd", ["-m", "-d", join(home, user), "-s", "/bin/sh", user]);

      // The unit's ExecStart (no systemd here), on a free port instead of 25.
      const unit = readFileSync("/lib/systemd/system/facteur.service", "utf8");
      const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(" ");
      const port = await freePort();
      let log = "";
      const started = Date.now();
      daemon = spawn(exec[0]!, [...exec.slice(1), "-D", `listen_port=${port}`], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      daemon.stdout?.on("data", (d: Buffer) => {
        log += d;
      });
      daemon.stderr?.on("data", (d: Buffer) => {
        log += d;
      });
      // smtpctl is asked once the daemon says it is ready: a request sent while the roles
      // start waits for smtpctl's own timeout (about 10 s).
      await until("smtpd ready", 60_000, () => {
        if (daemon?.exitCode !== null) throw new Error(`smtpd exited: ${log}`);
        return log.includes("smtpd ready");
      });
      t.diagnostic(`smtpd (packaged, system node) ready after ${Date.now() - started} ms`);
      assert.match(run("/usr/sbin/smtpctl", ["show", "status"], { timeout: 30_000 }), /running/);
      const owners = run("ps", ["-o", "user=", "--ppid", String(daemon.pid)]);
      assert.match(owners, /opensmtpd/);
      assert.match(owners, /opensmtpq/);

      const c = await SmtpClient.open(port);
      assert.equal((await c.reply()).code, 220);
      assert.equal((await c.command("EHLO install.test")).code, 250);
      const r = await c.sendMail(
        "someone@install.test",
        [`${user}@localhost`],
        "Subject: smtp\r\n\r\nby SMTP\r\n",
      );
      assert.equal(r.code, 250, r.text);
      await c.command("QUIT");
      const sm = spawnSync("/usr/sbin/sendmail", [user], {
        input: "Subject: sendmail\n\ntest\n",
        encoding: "utf8",
        timeout: 60_000,
      });
      assert.equal(sm.status, 0, sm.stderr + log);
      const maildir = join(home, user, "Maildir/new");
      await until("two messages in the maildir", 60_000, () =>
        existsSync(maildir) ? readdirSync(maildir).length >= 2 : false,
      );
      const texts = readdirSync(maildir).map((f) => readFileSync(join(maildir, f), "utf8"));
      assert.ok(texts.some((m) => m.includes("by SMTP")));
      assert.ok(texts.some((m) => m.includes("Subject: sendmail")));

      daemon.kill("SIGTERM");
      await until("smtpd to stop", 30_000, () => daemon?.exitCode !== null);
      assert.equal(daemon.exitCode, 0, log);

      run("dpkg", ["-r", "facteur"]);
      assert.ok(!existsSync("/usr/sbin/smtpd") && !existsSync("/usr/libexec/facteur"));
      assert.ok(existsSync("/etc/smtpd.conf"), "remove keeps the conffile");
      run("dpkg", ["--purge", "facteur"]);
      assert.equal(installed(), "");
      for (const gone of ["/etc/smtpd.conf", "/var/spool/smtpd", "/var/lib/facteur"])
        assert.ok(!existsSync(gone), `${gone} after purge`);
    });
  });
});

describe("single binary", { skip: toolSkip }, () => {
  test("linux-x64: reproducible, smtpd -n and a full SMTP session with no Node on PATH", {
    timeout: 15 * MINUTES,
    skip: process.arch === "x64" ? false : "x64 host only",
  }, async (t) => {
    const { buildSea } = await load("sea.mjs");
    const { preparedTree } = await load("package.mjs");
    const tree = preparedTree(join(work, "sea-tree"));
    const arm = has("qemu-aarch64-static") ? ["linux-arm64"] : [];
    const a = buildSea({ repo: tree, out: join(work, "sea-a"), targets: ["linux-x64", ...arm] });
    const b = buildSea({ repo: tree, out: join(work, "sea-b"), targets: ["linux-x64"] });
    assert.deepEqual(a.built, ["linux-x64", ...arm], "arm64 checked under qemu when present");
    const bin = join(a.out, "facteur-linux-x64");
    assert.equal(sha256(bin), sha256(join(b.out, "facteur-linux-x64")));
    t.diagnostic(`facteur-linux-x64: ${(lstatSync(bin).size / 1e6).toFixed(1)} MB`);

    // A PATH holding only links to the binary: no node anywhere on it.
    const bindir = join(work, "sea-bin");
    mkdirSync(bindir);
    for (const n of ["smtpd", "smtpctl", "sendmail", "table-passwd"])
      symlinkSync(bin, join(bindir, n));
    const env = { PATH: bindir, HOME: work };
    assert.notEqual(spawnSync("/bin/sh", ["-c", "command -v node"], { env }).status, 0);
    const conf = join(repo, "packages/smtpd/etc/smtpd.conf");
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(join(bindir, "smtpd"), ["-n", "--syntax", "-f", conf], {
        env,
        encoding: "utf8",
      });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      assert.equal(r.status, 0, r.stderr);
    }
    times.sort((x, y) => x - y);
    t.diagnostic(
      `smtpd -n --syntax: min ${times[0]!.toFixed(0)} ms, median ${times[2]!.toFixed(0)} ms`,
    );
    if (!isRoot) return;

    const root = join(work, "sea-root");
    mkdirSync(root, { mode: 0o711 });
    chmodSync(root, 0o711);
    const user = `fcs${process.pid % 100000}`;
    const homes = join(work, "sea-home");
    mkdirSync(homes, { mode: 0o755 });
    spawnSync("userdel", ["-r", user]);
    run("useradd", ["-m", "-d", join(homes, user), "-s", "/bin/sh", user]);
    const port = await freePort();
    writeFileSync(join(root, "aliases"), "postmaster: root\n");
    const cfg = join(root, "smtpd.conf");
    writeFileSync(
      cfg,
      `table aliases file:${join(root, "aliases")}\nlisten on 127.0.0.1 port ${port}\naction "l" maildir alias <aliases>\nmatch for local action "l"\n`,
    );
    let log = "";
    const d = spawn(join(bindir, "smtpd"), ["-d", "-f", cfg, "--root", root], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    d.stderr?.on("data", (x: Buffer) => {
      log += x;
    });
    try {
      const t0 = Date.now();
      await until("smtpd ready", 60_000, () => {
        if (d.exitCode !== null) throw new Error(`smtpd exited: ${log}`);
        return log.includes("smtpd ready");
      });
      t.diagnostic(`single binary smtpd ready after ${Date.now() - t0} ms`);
      const status = run(join(bindir, "smtpctl"), ["--root", root, "show", "status"], {
        env,
        timeout: 30_000,
      });
      assert.match(status, /running/);
      const c = await SmtpClient.open(port);
      assert.equal((await c.reply()).code, 220);
      assert.equal((await c.command("EHLO sea.test")).code, 250);
      const r = await c.sendMail(
        "a@sea.test",
        [`${user}@localhost`],
        "Subject: sea\r\n\r\nsingle\r\n",
      );
      assert.equal(r.code, 250, r.text);
      await c.command("QUIT");
      const maildir = join(homes, user, "Maildir/new");
      await until("the message in the maildir", 60_000, () =>
        existsSync(maildir) ? readdirSync(maildir).length >= 1 : false,
      );
    } finally {
      d.kill("SIGTERM");
      await until("smtpd to stop", 30_000, () => d.exitCode !== null).catch(() =>
        d.kill("SIGKILL"),
      );
      spawnSync("userdel", ["-r", user]);
    }
    assert.equal(d.exitCode, 0, log);
  });
});
