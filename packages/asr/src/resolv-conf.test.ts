// Tests of resolv.conf and hosts parsing, and of reloads on mtime change.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ResolverContext } from "./context.js";
import { hostsByAddress, hostsByName, parseHosts } from "./hosts.js";
import { defaultConf, parseResolvConf, parseServer } from "./resolv-conf.js";

describe("resolv.conf", () => {
  it("parses servers with optional ports", () => {
    assert.deepEqual(parseServer("127.0.0.1"), { address: "127.0.0.1", port: 53 });
    assert.deepEqual(parseServer("127.0.0.1:5353"), { address: "127.0.0.1", port: 5353 });
    assert.deepEqual(parseServer("127.0.0.1#5300"), { address: "127.0.0.1", port: 5300 });
    assert.deepEqual(parseServer("[::1]:5353"), { address: "::1", port: 5353 });
    assert.deepEqual(parseServer("fe80::1%lo"), { address: "fe80::1%lo", port: 53 });
    assert.equal(parseServer("example.org"), null);
    assert.equal(parseServer("1.2.3.4:0"), null);
    assert.equal(parseServer("1.2.3:53"), null);
  });
  it("parses the glibc and OpenBSD dialects", () => {
    const c = parseResolvConf(
      [
        "# comment",
        "nameserver 127.0.0.1:5300 ; trailing",
        "nameserver ::1",
        "domain example.test",
        "domain ignored.test",
        "search a.test b.test",
        "search c.test d.test.",
        "options ndots:3 timeout:2 attempts:9 rotate edns0 trust-ad",
        "lookup file bind",
        "family inet6 inet4",
      ].join("\n"),
    );
    assert.deepEqual(c.nameservers, [
      { address: "127.0.0.1", port: 5300 },
      { address: "::1", port: 53 },
    ]);
    assert.equal(c.domain, "example.test");
    assert.deepEqual(c.search, ["c.test", "d.test"]);
    assert.equal(c.ndots, 3);
    assert.equal(c.timeoutMs, 2000);
    assert.equal(c.attempts, 5);
    assert.ok(c.rotate && c.edns0 && c.trustAd);
    assert.deepEqual(c.lookup, ["file", "bind"]);
    assert.deepEqual(c.family, ["inet6", "inet4"]);
  });
  it("applies libasr's defaults", () => {
    const c = parseResolvConf("", { hostname: "host.mail.example.test" });
    assert.deepEqual(c.nameservers, [{ address: "127.0.0.1", port: 53 }]);
    assert.deepEqual(c.lookup, ["bind", "file"]);
    assert.equal(c.domain, "mail.example.test");
    assert.deepEqual(c.search, ["mail.example.test", "example.test"]);
    assert.equal(c.ndots, 1);
    assert.equal(c.timeoutMs, 5000);
    assert.equal(c.attempts, 2);
    assert.deepEqual(defaultConf().lookup, ["file"]);
  });
  it("ignores bad lookup lines, caps servers and tokens, reads the environment", () => {
    const servers = Array.from({ length: 8 }, (_, i) => `nameserver 127.0.0.${i + 1}`).join("\n");
    const c = parseResolvConf(
      `${servers}\nlookup bind bind\nsearch a b c d e f g h i j k l\noptions timeout:99 ndots:x`,
      {
        resOptions: "ndots:2",
        localDomain: "env.test",
      },
    );
    assert.equal(c.nameservers.length, 5);
    assert.deepEqual(c.lookup, ["bind", "file"]);
    assert.deepEqual(c.search, ["env.test"]);
    assert.equal(c.timeoutMs, 30000);
    assert.equal(c.ndots, 2);
  });
});

describe("hosts", () => {
  it("parses and looks up case-insensitively", () => {
    const t = parseHosts(
      "127.0.0.1 localhost\n# x\n127.0.0.98 mx1.unsigned.test mx1  # c\n::1 ip6-localhost\nbad line\n127.0.0.99 MX1.Unsigned.TEST\n",
    );
    assert.equal(t.entries.length, 4);
    const hit = hostsByName(t, "mx1.UNSIGNED.test");
    assert.deepEqual(
      hit?.entries.map((e) => e.address),
      ["127.0.0.98", "127.0.0.99"],
    );
    assert.equal(hit?.canonname, "mx1.unsigned.test");
    assert.deepEqual(hostsByAddress(t, "0:0::1"), ["ip6-localhost"]);
    assert.equal(hostsByName(t, "nothere"), null);
  });
});

describe("context reload", () => {
  it("picks up resolv.conf and hosts changes by mtime", async () => {
    const dir = mkdtempSync(join(tmpdir(), "asr-conf-"));
    try {
      const rc = join(dir, "resolv.conf");
      const hosts = join(dir, "hosts");
      writeFileSync(rc, "nameserver 127.0.0.1:1000\n");
      writeFileSync(hosts, "127.0.0.5 a.test\n");
      const ctx = new ResolverContext({
        resolvConfPath: rc,
        hostsPath: hosts,
        reloadIntervalMs: 0,
      });
      let s = await ctx.snapshot();
      assert.equal(s.conf.nameservers[0]?.port, 1000);
      assert.equal(s.trusted, true);
      writeFileSync(rc, "nameserver 127.0.0.2:2000\n");
      writeFileSync(hosts, "127.0.0.6 b.test\n");
      const later = new Date(Date.now() + 5000);
      utimesSync(rc, later, later);
      utimesSync(hosts, later, later);
      s = await ctx.snapshot();
      assert.equal(s.conf.nameservers[0]?.port, 2000);
      assert.equal(s.trusted, false);
      assert.equal(s.hosts.entries[0]?.address, "127.0.0.6");
      rmSync(rc);
      s = await ctx.snapshot();
      assert.deepEqual(s.conf.lookup, ["file"], "no resolv.conf: hosts only");
      const slow = new ResolverContext({ resolvConfPath: hosts, reloadIntervalMs: 60000 });
      const first = await slow.snapshot();
      assert.equal(
        await slow.snapshot().then((x) => x.conf),
        first.conf,
        "rate-limited: no re-read",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("context snapshots", () => {
  it("hands out one snapshot without waiting between checks", async () => {
    const text = new ResolverContext({ resolvConfText: "nameserver 127.0.0.1\n", hostsText: "" });
    const s = text.snapshotNow();
    assert.ok(s, "text options: ready at once");
    assert.equal(text.snapshotNow(), s);
    assert.equal(await text.snapshot(), s);
    const dir = mkdtempSync(join(tmpdir(), "asr-snap-"));
    try {
      const rc = join(dir, "resolv.conf");
      writeFileSync(rc, "nameserver 127.0.0.1\n");
      const files = new ResolverContext({ resolvConfPath: rc, hostsText: "" });
      assert.equal(files.snapshotNow(), null, "files: read first");
      const f = await files.snapshot();
      assert.equal(files.snapshotNow(), f, "then kept until the reload interval");
      const eager = new ResolverContext({ resolvConfPath: rc, hostsText: "", reloadIntervalMs: 0 });
      await eager.snapshot();
      assert.equal(eager.snapshotNow(), null, "interval 0: checked on every call");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
