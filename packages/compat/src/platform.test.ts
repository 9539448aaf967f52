import assert from "node:assert/strict";
import { test } from "node:test";
import { detectPlatform, PLATFORMS, platformFacts, UnknownPlatformError } from "./platform.js";

const noFile = () => {
  throw new Error("ENOENT");
};

test("FACTEUR_PLATFORM overrides detection, and a wrong name is an error", () => {
  assert.equal(detectPlatform({ FACTEUR_PLATFORM: "openbsd" }, "linux", noFile), "openbsd");
  assert.throws(() => detectPlatform({ FACTEUR_PLATFORM: "plan9" }, "linux", noFile), {
    name: "UnknownPlatformError",
    value: "plan9",
    message:
      'unknown platform "plan9" (FACTEUR_PLATFORM): expected debian, rpm, freebsd or openbsd',
  });
  assert.throws(() => platformFacts({ env: { FACTEUR_PLATFORM: "Debian" } }), UnknownPlatformError);
});

test("the kernel decides on the BSDs", () => {
  assert.equal(detectPlatform({}, "freebsd", noFile), "freebsd");
  assert.equal(detectPlatform({}, "openbsd", noFile), "openbsd");
});

test("os-release decides on Linux", () => {
  const fedora = () => 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=41\n';
  const rocky = () => 'ID="rocky"\nID_LIKE="rhel centos fedora"\n';
  const debian = () => "ID=debian\nVERSION_CODENAME=trixie\n";
  const ubuntu = () => "ID=ubuntu\nID_LIKE=debian\n";
  assert.equal(detectPlatform({}, "linux", fedora), "rpm");
  assert.equal(detectPlatform({}, "linux", rocky), "rpm");
  assert.equal(detectPlatform({}, "linux", debian), "debian");
  assert.equal(detectPlatform({}, "linux", ubuntu), "debian");
  assert.equal(detectPlatform({}, "linux", noFile), "debian");
});

test("each platform keeps its OpenSMTPD package's paths and users", () => {
  assert.equal(PLATFORMS.debian.configPath, "/etc/smtpd.conf");
  assert.equal(PLATFORMS.debian.smtpdUser, "opensmtpd");
  assert.equal(PLATFORMS.debian.smtpqUser, "opensmtpq");
  assert.equal(PLATFORMS.openbsd.configPath, "/etc/mail/smtpd.conf");
  assert.equal(PLATFORMS.freebsd.configPath, "/usr/local/etc/mail/smtpd.conf");
  for (const p of Object.values(PLATFORMS)) {
    assert.equal(p.spoolDir, "/var/spool/smtpd");
    assert.equal(p.controlSocket, "/var/run/smtpd.sock");
  }
  assert.equal(PLATFORMS.freebsd.smtpdUser, "_smtpd");
});

test("--root relocates what the daemon writes, not what it reads", () => {
  const f = platformFacts({ platform: "debian", root: "/tmp/x", env: {} });
  assert.equal(f.spoolDir, "/tmp/x/spool");
  assert.equal(f.controlSocket, "/tmp/x/smtpd.sock");
  assert.equal(f.pidFile, "/tmp/x/smtpd.pid");
  assert.equal(f.configPath, "/etc/smtpd.conf");
  const g = platformFacts({ platform: "debian", env: { FACTEUR_LIBEXEC: "/opt/lx" } });
  assert.equal(g.libexecDir, "/opt/lx");
});
