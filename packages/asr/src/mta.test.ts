// Tests of getaddrinfo, getnameinfo, FCrDNS and the MX decision against the scripted server.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fcrdns, getaddrinfo, getnameinfo } from "./addrinfo.js";
import { ResolverContext } from "./context.js";
import { orderHosts, resolveMx, resolveMxAddresses } from "./mx.js";
import { quirkHandler, startTestServer, type TestServer, type Zone } from "./test-server.js";

const A = (address: string) => ({ type: "A", address }) as const;
const MX = (preference: number, exchange: string) =>
  ({ type: "MX", preference, exchange }) as const;
const ZONE: Zone = {
  "implicit.test": [A("127.0.0.12")],
  "v6only.test": [{ type: "AAAA", address: "::1" }],
  "nullmx.test": [MX(0, "."), A("127.0.0.13")],
  "mx-localhost.test": [MX(10, "localhost")],
  "mixed.test": [MX(0, "."), MX(20, "mx2.mixed.test")],
  "mx2.mixed.test": [A("127.0.0.14")],
  "multi.test": [MX(30, "c.multi.test"), MX(10, "a.multi.test"), MX(20, "dangling.multi.test")],
  "a.multi.test": [A("127.0.0.21")],
  "c.multi.test": [A("127.0.0.23")],
  "mx-alias.test": [{ type: "CNAME", target: "multi.test" }],
  "xn--bcher-kva.test": [MX(5, "a.multi.test")],
  "mx1.unsigned.test": [A("127.0.0.11")],
  "27.0.0.127.in-addr.arpa": [
    { type: "PTR", host: "nomatch.test" },
    { type: "PTR", host: "good.test" },
  ],
  "28.0.0.127.in-addr.arpa": [{ type: "PTR", host: "missing.test" }],
  "29.0.0.127.in-addr.arpa": [{ type: "PTR", host: "implicit.test" }],
  "good.test": [A("127.0.0.27")],
  "nomatch.test": [A("127.0.0.99")],
};

let srv: TestServer;
const ctx = (opts = "", hosts = "") =>
  new ResolverContext({
    resolvConfText: `nameserver ${srv.address}:${srv.port}\noptions timeout:1 attempts:1\n${opts}\n`,
    hostsText: hosts,
  });

before(async () => {
  srv = await startTestServer(quirkHandler(ZONE), "127.0.0.2");
});
after(async () => {
  await srv?.close();
});

describe("MX decision", () => {
  it("uses the MX records in preference order", async () => {
    const d = await resolveMx(ctx(), "multi.test");
    assert.equal(d.result, "mx");
    assert.deepEqual(
      d.hosts.map((h) => h.exchange),
      ["a.multi.test", "dangling.multi.test", "c.multi.test"],
    );
    const alias = await resolveMx(ctx(), "mx-alias.test");
    assert.equal(alias.result, "mx", "a CNAME to a domain with MX is followed");
    const idn = await resolveMx(ctx(), "bücher.test");
    assert.deepEqual(idn.hosts, [{ preference: 5, exchange: "a.multi.test" }]);
  });
  it("falls back to the implicit MX only on NODATA", async () => {
    const d = await resolveMx(ctx(), "implicit.test");
    assert.equal(d.result, "implicit");
    assert.deepEqual(d.hosts, [{ preference: 0, exchange: "implicit.test" }]);
    assert.equal(d.permanent, false);
  });
  it("treats MX 0 . and localhost as null MX, skips them in a mix", async () => {
    for (const dom of ["nullmx.test", "mx-localhost.test"]) {
      const d = await resolveMx(ctx(), dom);
      assert.equal(d.result, "null-mx", dom);
      assert.equal(d.permanent, true);
      assert.deepEqual(d.hosts, []);
    }
    assert.deepEqual((await resolveMx(ctx(), "mixed.test")).hosts, [
      { preference: 20, exchange: "mx2.mixed.test" },
    ]);
  });
  it("maps NXDOMAIN to permanent and SERVFAIL or timeouts to temporary", async () => {
    const nx = await resolveMx(ctx(), "doesnotexist.test");
    assert.equal(nx.result, "nxdomain");
    assert.equal(nx.permanent, true);
    for (const n of ["servfail.quirk.test", "drop.quirk.test", "refused.quirk.test"]) {
      const t = await resolveMx(ctx(), n);
      assert.equal(t.result, "tempfail", n);
      assert.equal(t.permanent, false);
    }
    assert.equal((await resolveMx(ctx(), "bad..name")).result, "invalid");
  });
  it("shuffles equal preferences only, and every order of a tie turns up", () => {
    const hosts = [
      { preference: 20, exchange: "c" },
      { preference: 10, exchange: "a1" },
      { preference: 10, exchange: "a2" },
      { preference: 10, exchange: "a3" },
      { preference: 30, exchange: "d" },
    ];
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const order = orderHosts(hosts).map((h) => h.exchange);
      assert.deepEqual(order.slice(3), ["c", "d"]);
      seen.add(order.slice(0, 3).join(","));
    }
    assert.equal(seen.size, 6, "all 3! orders of the tie");
    assert.deepEqual(
      orderHosts(hosts, false).map((h) => h.exchange),
      ["a1", "a2", "a3", "c", "d"],
    );
    assert.equal(hosts[0]?.exchange, "c", "the input is left as it was");
  });
  it("handles address literals", async () => {
    assert.deepEqual((await resolveMx(ctx(), "[127.0.0.1]")).hosts, [
      { preference: 0, exchange: "127.0.0.1" },
    ]);
    assert.equal((await resolveMx(ctx(), "[IPv6:::1]")).result, "literal");
    assert.equal((await resolveMx(ctx(), "[999.1.1.1]")).result, "invalid");
  });
  it("resolves MX host addresses and skips dangling ones", async () => {
    const r = await resolveMxAddresses(ctx("family inet4"), "multi.test");
    assert.equal(r.result, "ok");
    const dangling = r.targets.find((t) => t.exchange === "dangling.multi.test");
    assert.equal(dangling?.error, "EAI_NONAME");
    assert.deepEqual(r.targets[0]?.addresses, [{ family: 4, address: "127.0.0.21", port: 25 }]);
    assert.equal((await resolveMxAddresses(ctx(), "nullmx.test")).result, "permfail");
  });
});

describe("getaddrinfo", () => {
  it("handles numeric hosts, localhost and services", async () => {
    assert.deepEqual((await getaddrinfo(ctx(), "127.0.0.1", "smtp")).addresses, [
      { family: 4, address: "127.0.0.1", port: 25 },
    ]);
    const lh = await getaddrinfo(ctx(), "foo.localhost");
    assert.equal(lh.source, "localhost");
    assert.equal((await getaddrinfo(ctx(), "x.test", "nosuchservice")).error, "EAI_SERVICE");
    assert.equal((await getaddrinfo(ctx(), "bad name!")).error, "EAI_FAIL");
    assert.equal(
      (await getaddrinfo(ctx(), "implicit.test", undefined, { numericHost: true })).error,
      "EAI_NONAME",
    );
  });
  it("walks the lookup databases in order", async () => {
    const hosts = "127.0.0.98 mx1.unsigned.test\n";
    const bindFirst = await getaddrinfo(ctx("family inet4", hosts), "mx1.unsigned.test");
    assert.deepEqual(
      bindFirst.addresses.map((a) => a.address),
      ["127.0.0.11"],
    );
    const fileFirst = await getaddrinfo(
      ctx("lookup file bind\nfamily inet4", hosts),
      "mx1.unsigned.test",
    );
    assert.deepEqual(
      fileFirst.addresses.map((a) => a.address),
      ["127.0.0.98"],
    );
    assert.equal(fileFirst.source, "file");
  });
  it("distinguishes NODATA, NONAME and AGAIN", async () => {
    assert.equal((await getaddrinfo(ctx("family inet4"), "v6only.test")).error, "EAI_NODATA");
    assert.deepEqual(
      (await getaddrinfo(ctx(), "v6only.test")).addresses.map((a) => a.address),
      ["::1"],
    );
    assert.equal((await getaddrinfo(ctx(), "nothing.test")).error, "EAI_NONAME");
    assert.equal((await getaddrinfo(ctx(), "servfail.quirk.test")).error, "EAI_AGAIN");
    const cn = await getaddrinfo(ctx("family inet4"), "mx-alias.test");
    assert.equal(cn.error, "EAI_NODATA");
  });
});

describe("getnameinfo and FCrDNS", () => {
  it("looks up PTR names", async () => {
    assert.deepEqual(await getnameinfo(ctx(), "127.0.0.27"), { error: null, host: "nomatch.test" });
    assert.deepEqual(await getnameinfo(ctx(), "127.0.0.200"), { error: null, host: "127.0.0.200" });
    assert.deepEqual(await getnameinfo(ctx(), "127.0.0.200", { nameRequired: true }), {
      error: "EAI_NONAME",
      host: null,
    });
    assert.deepEqual(await getnameinfo(ctx(), "127.0.0.27", { numericHost: true }), {
      error: null,
      host: "127.0.0.27",
    });
  });
  it("confirms forward DNS", async () => {
    assert.deepEqual(await fcrdns(ctx(), "127.0.0.27"), { result: "pass", name: "good.test" });
    assert.equal((await fcrdns(ctx(), "127.0.0.28")).result, "fail");
    assert.deepEqual(await fcrdns(ctx(), "127.0.0.29"), {
      result: "fail",
      reason: "mismatch",
      names: ["implicit.test"],
    });
    assert.deepEqual(await fcrdns(ctx(), "127.0.0.200"), {
      result: "fail",
      reason: "no-ptr",
      names: [],
    });
  });
});
