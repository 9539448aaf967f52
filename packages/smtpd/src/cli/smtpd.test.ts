// smtpd's command line and the full `smtpd -n` check (files, helpers, pki, listen targets),
// run as a real process on files made in a temporary directory.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const smtpd = fileURLToPath(new URL("../../bin/smtpd.cjs", import.meta.url));
let dir = "";

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [smtpd, ...args], {
    cwd: dir,
    encoding: "utf8",
    timeout: 30_000, // a check that hangs fails instead of stalling the run
    env: { ...process.env, FACTEUR_LIBEXEC: join(dir, "libexec"), ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function conf(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "facteur-smtpd-n-"));
  writeFileSync(join(dir, "aliases"), "# aliases\nroot: alice\npostmaster: root\n");
  writeFileSync(join(dir, "domains"), "example.org\nexample.net\n");
  writeFileSync(join(dir, "empty"), "");
  execFileSync("mkdir", [join(dir, "libexec")]);
  writeFileSync(join(dir, "libexec", "table-fake"), "#!/bin/sh\nexit 0\n");
  chmodSync(join(dir, "libexec", "table-fake"), 0o755);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=mx.example.org",
      "-days",
      "2",
      "-keyout",
      join(dir, "mx.key"),
      "-out",
      join(dir, "mx.crt"),
    ],
    { stdio: "ignore" },
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

test("-h prints the usage and exits 0; a bad option exits 1 with the usage", () => {
  const h = run(["-h"]);
  assert.equal(h.code, 0);
  assert.match(h.out, /^usage: smtpd \[-dFhnv\]/);
  const bad = run(["-n", "-Q"]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /unknown option -Q/);
  const noarg = run(["-n", "-f"]);
  assert.equal(noarg.code, 1);
  assert.match(noarg.err, /option requires an argument -- f/);
});

test("--syntax without -n is a usage error, not a daemon start", () => {
  const r = run(["--syntax", "-f", "nope.conf"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /^smtpd: --syntax is only valid with -n\nusage: smtpd /);
  assert.equal(run(["--syntax", "-n", "-h"]).code, 0);
});

test("an unknown FACTEUR_PLATFORM is one line of error, not a stack trace", () => {
  const want =
    'smtpd: unknown platform "plan9" (FACTEUR_PLATFORM): expected debian, rpm, freebsd or openbsd\n';
  const f = conf("p.conf", "match for any reject\n");
  for (const args of [["-n", "-f", f], ["-n"], ["-d", "-f", f, "--root", join(dir, "root")]]) {
    const r = run(args, { FACTEUR_PLATFORM: "plan9" });
    assert.equal(r.err, want, args.join(" "));
    assert.equal(r.code, 1);
  }
});

test("a missing config file is an error with the file's name", () => {
  const r = run(["-n", "-f", "nope.conf"]);
  assert.equal(r.code, 1);
  assert.equal(r.err, "smtpd: nope.conf: No such file or directory\n");
});

test("full check reads file tables and checks their use", () => {
  const f = conf(
    "t1.conf",
    [
      `table aliases file:${dir}/aliases`,
      `table domains ${JSON.stringify(`${dir}/domains`)}`,
      `table empty file:${dir}/empty`,
      `action "local" mbox alias <aliases>`,
      `action "e" mbox alias <empty>`,
      `match for domain <domains> action "local"`,
      "",
    ].join("\n"),
  );
  const ok = run(["-n", "-f", f]);
  assert.equal(ok.err, "configuration OK\n");
  assert.equal(ok.code, 0);
  const g = conf(
    "t2.conf",
    [
      `table domains file:${dir}/domains`,
      `table missing file:${dir}/missing`,
      `action "local" mbox alias <domains>`,
      `match for any reject`,
      "",
    ].join("\n"),
  );
  const bad = run(["-n", "-f", g]);
  assert.equal(bad.code, 1);
  assert.equal(
    bad.err,
    `t2.conf:2: invalid configuration file ${dir}/missing for table missing: No such file or directory\n` +
      't2.conf:3: table "domains" may not be used for alias lookups\n',
  );
  // The same file passes --syntax, which reads nothing.
  assert.equal(run(["-n", "--syntax", "-f", g]).code, 0);
});

test("full check looks for table-<backend> helpers in libexec", () => {
  const f = conf("b.conf", "table a fake:/etc/x\ntable b nosuch:/etc/y\nmatch for any reject\n");
  const r = run(["-n", "-f", f]);
  assert.equal(r.code, 1);
  assert.equal(r.err, 'b.conf:2: table_create: backend "nosuch" does not exist\n');
});

test("full check follows include; --syntax does not", () => {
  conf("inc.conf", 'action "a" relay\nmatch for any action "a"\n');
  conf("inc-bad.conf", "\n\nbogus line\n");
  const f = conf("main.conf", `include "${dir}/inc.conf"\n`);
  assert.equal(run(["-n", "-f", f]).code, 0);
  assert.equal(run(["-n", "--syntax", "-f", f]).err, "main.conf: no rules, nothing to do\n");
  const g = conf(
    "main2.conf",
    `include "${dir}/inc-bad.conf"\ninclude "${dir}/none.conf"\nmatch for any reject\n`,
  );
  const r = run(["-n", "-f", g]);
  assert.equal(r.code, 1);
  assert.equal(
    r.err,
    `${dir}/inc-bad.conf:3: syntax error: unknown directive "bogus"\n` +
      `main2.conf:2: failed to include file ${dir}/none.conf: No such file or directory\n`,
  );
});

test("an include cycle is refused, not followed forever", () => {
  const f = conf("self.conf", `match for any reject\ninclude "${dir}/self.conf"\n`);
  const r = run(["-n", "-f", f]);
  assert.equal(r.code, 1);
  assert.equal(
    r.err,
    `self.conf:2: failed to include file ${dir}/self.conf: include cycle self.conf -> ${dir}/self.conf\n`,
  );
});

test("full check loads pki files and resolves listen targets", () => {
  const good = conf(
    "pki.conf",
    [
      `pki mx.example.org cert "${dir}/mx.crt"`,
      `pki mx.example.org key "${dir}/mx.key"`,
      "listen on 127.0.0.1 port 2525 tls pki mx.example.org",
      "listen on lo",
      "listen on localhost inet4",
      "match for any reject",
      "",
    ].join("\n"),
  );
  assert.equal(run(["-n", "-f", good]).err, "configuration OK\n");
  const bad = conf(
    "pki-bad.conf",
    [
      `pki mx.example.org cert "${dir}/mx.key"`,
      `pki mx.example.org key "${dir}/nokey"`,
      "listen on ::1 inet4",
      "match for any reject",
      "",
    ].join("\n"),
  );
  const r = run(["-n", "-f", bad]);
  assert.equal(r.code, 1);
  assert.equal(
    r.err,
    `pki-bad.conf:1: pki mx.example.org: cannot load certificate ${dir}/mx.key: not a valid certificate\n` +
      `pki-bad.conf:2: pki mx.example.org: cannot load private key ${dir}/nokey: No such file or directory\n` +
      "pki-bad.conf:3: invalid virtual ip or interface: ::1\n",
  );
});

test("-v prints the canonical config and warns about unused macros and bad relay URLs", () => {
  const f = conf(
    "v.conf",
    'unused = 1\naction "r" relay host "tls+auth://x"\nmatch for any action "r"\n',
  );
  const r = run(["-n", "--syntax", "-v", "-f", f]);
  assert.equal(r.code, 0);
  assert.equal(r.out, 'action "r" relay host "tls+auth://x"\nmatch for any action "r"\n');
  assert.equal(
    r.err,
    'v.conf:2: warning: action "r": relay host "tls+auth://x" will fail at delivery: unknown protocol "tls+auth"\n' +
      "warning: macro 'unused' not used\nconfiguration OK\n",
  );
});

test("-D defines a macro that wins over the file; a bad -D is refused", () => {
  const f = conf("d.conf", "p = 25\nlisten on 127.0.0.1 port $p\nmatch for any reject\n");
  const r = run(["-n", "--syntax", "-v", "-D", "p=2525", "-f", f]);
  assert.match(r.out, /port 2525/);
  const bad = run(["-n", "-D", "novalue", "-f", f]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /could not parse macro definition novalue/);
});

test("the daemon refuses to start on an invalid configuration, with the diagnostics", () => {
  const f = conf("bad-daemon.conf", "listen on 127.0.0.1 port 0\nmatch for any reject\n");
  const r = run(["-d", "-f", f, "--root", join(dir, "root")]);
  assert.equal(r.code, 1);
  assert.equal(r.err, "bad-daemon.conf:1: invalid port: 0\n");
});
