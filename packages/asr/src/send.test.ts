// Tests of the transport and server iteration against the scripted server on loopback:
// truncation, junk, wrong IDs and questions, timeouts, failover, rotation, AD trust, 0x20.

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { after, before, describe, it } from "node:test";
import { buildQuery, RCODES } from "./codec.js";
import { type ContextOptions, ResolverContext } from "./context.js";
import { getrrsetbyname, resQuery, resSearch } from "./query.js";
import { TYPES } from "./rdata.js";
import { acceptReply } from "./send.js";
import { quirkHandler, reply, startTestServer, type TestServer, type Zone } from "./test-server.js";
import type { Transport } from "./transport.js";

const ZONE: Zone = {
  "plain.test": [
    { type: "A", address: "127.0.0.10" },
    { type: "TXT", strings: [Buffer.from("v=spf1 "), Buffer.from("-all")] },
  ],
  "www.plain.test": [{ type: "CNAME", target: "plain.test" }],
  "big.test": Array.from(
    { length: 60 },
    (_, i) => ({ type: "TXT", strings: [Buffer.alloc(40, 97 + (i % 26))] }) as const,
  ),
};

let quirk: TestServer;
let servfail: TestServer;
let refused: TestServer;
let silent: TestServer;
let lower: TestServer;
let deadPort: number;

const conf = (
  servers: TestServer[],
  opts = "options timeout:1 attempts:1",
  extra: ContextOptions = {},
) =>
  new ResolverContext({
    resolvConfText: `${servers.map((s) => `nameserver ${s.address}:${s.port}`).join("\n")}\n${opts}\n`,
    hostsText: "",
    ...extra,
  });

before(async () => {
  quirk = await startTestServer(quirkHandler(ZONE), "127.0.0.2");
  servfail = await startTestServer(
    (q) => ({
      kind: "answer",
      message: { ...reply(q, ZONE), answers: [], rcode: RCODES.SERVFAIL },
    }),
    "127.0.0.2",
  );
  refused = await startTestServer(
    (q) => ({ kind: "answer", message: { ...reply(q, ZONE), answers: [], rcode: RCODES.REFUSED } }),
    "127.0.0.2",
  );
  silent = await startTestServer(() => ({ kind: "drop" }), "127.0.0.2");
  lower = await startTestServer(
    (q) => ({
      kind: "answer",
      message: reply(
        { ...q, questions: q.questions.map((x) => ({ ...x, name: x.name.toLowerCase() })) },
        ZONE,
      ),
    }),
    "127.0.0.2",
  );
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.2", () => r()));
  deadPort = s.address().port;
  s.close();
});

after(async () => {
  for (const s of [quirk, servfail, refused, silent, lower]) await s?.close();
});

describe("resQuery over UDP and TCP", () => {
  it("answers and keeps TXT strings apart", async () => {
    const r = await resQuery(conf([quirk]), "plain.test", TYPES.TXT);
    assert.equal(r.hErrno, "NETDB_SUCCESS");
    assert.equal(r.rcodeName, "NOERROR");
    const d = r.message?.answers[0]?.data;
    assert.ok(d?.type === "TXT");
    assert.deepEqual(d.strings.map(String), ["v=spf1 ", "-all"]);
    assert.equal(r.ns?.port, quirk.port);
  });
  it("maps NXDOMAIN and NODATA", async () => {
    const nx = await resQuery(conf([quirk]), "nope.test", TYPES.A);
    assert.equal(nx.hErrno, "HOST_NOT_FOUND");
    assert.equal(nx.rcodeName, "NXDOMAIN");
    assert.ok(nx.packet);
    const nodata = await resQuery(conf([quirk]), "plain.test", TYPES.MX);
    assert.equal(nodata.hErrno, "NO_DATA");
  });
  it("keeps listening after a wrong ID, a wrong question or junk", async () => {
    for (const n of ["badid", "badname", "garbage"]) {
      const r = await resQuery(conf([quirk]), `${n}.quirk.test`, TYPES.A);
      assert.equal(r.hErrno, "NETDB_SUCCESS", n);
    }
  });
  it("retries over TCP on TC=1, and fails over when TCP fails", async () => {
    const r = await resQuery(conf([quirk]), "tc.quirk.test", TYPES.A);
    assert.equal(r.hErrno, "NETDB_SUCCESS");
    assert.ok(quirk.queries.some((q) => q.name === "tc.quirk.test" && q.via === "tcp"));
    const f = await resQuery(conf([quirk]), "tcfail.quirk.test", TYPES.A);
    assert.equal(f.hErrno, "TRY_AGAIN");
    assert.equal(f.errno, "ECONNREFUSED");
    const big = await resQuery(conf([quirk]), "big.test", TYPES.TXT);
    assert.equal(big.ancount, 60, "a 2.5 kB answer comes over UDP with EDNS0");
  });
  it("reassembles a TCP reply that arrives one octet at a time", async () => {
    const r = await resQuery(
      conf([quirk], "options timeout:3 attempts:1"),
      "tcsplit.quirk.test",
      TYPES.A,
    );
    assert.equal(r.hErrno, "NETDB_SUCCESS");
  });
  it("retries without EDNS after FORMERR", async () => {
    const r = await resQuery(conf([quirk]), "ednsformerr.quirk.test", TYPES.A);
    assert.equal(r.hErrno, "NETDB_SUCCESS");
  });
  it("times out a silent server and reports ETIMEDOUT", async () => {
    const t0 = Date.now();
    const r = await resQuery(conf([quirk]), "drop.quirk.test", TYPES.A);
    assert.equal(r.errno, "ETIMEDOUT");
    assert.equal(r.hErrno, "TRY_AGAIN");
    assert.ok(Date.now() - t0 < 2500);
  });
  it("waits for a slow answer within the timeout", async () => {
    const r = await resQuery(
      conf([quirk], "options timeout:3 attempts:1"),
      "slow.quirk.test",
      TYPES.A,
    );
    assert.equal(r.hErrno, "NETDB_SUCCESS");
  });
});

describe("failover and rotation", () => {
  it("backs off per round and per server count (injected transport)", async () => {
    const seen: string[] = [];
    const transport: Transport = {
      exchange: async (req) => {
        seen.push(`${req.server.port}:${req.timeoutMs}`);
        return req.server.port === 2 ? { kind: "refused" } : { kind: "timeout" };
      },
    };
    const ctx = new ResolverContext({
      resolvConfText:
        "nameserver 127.0.0.1:1\nnameserver 127.0.0.1:2\nnameserver 127.0.0.1:3\noptions timeout:4 attempts:3\n",
      hostsText: "",
      transport,
    });
    const r = await resQuery(ctx, "x.test", TYPES.A);
    assert.equal(r.errno, "ETIMEDOUT");
    // Round 0: 4 s each; refused server 2 is dropped; round 1: 8/3 s; round 2: 16/3 s.
    assert.deepEqual(seen, ["1:4000", "2:4000", "3:4000", "1:2666", "3:2666", "1:5333", "3:5333"]);
  });
  it("fails over on SERVFAIL, REFUSED, timeout and ECONNREFUSED", async () => {
    const dead = { address: "127.0.0.2", port: deadPort, queries: [], close: async () => {} };
    for (const first of [servfail, refused, silent, dead]) {
      const r = await resQuery(conf([first, quirk]), "plain.test", TYPES.A);
      assert.equal(r.hErrno, "NETDB_SUCCESS");
      assert.equal(r.ns?.port, quirk.port);
    }
  });
  it("returns the last SERVFAIL when every server fails", async () => {
    const r = await resQuery(conf([servfail, refused]), "plain.test", TYPES.A);
    assert.equal(r.rcodeName, "REFUSED");
    assert.equal(r.hErrno, "NO_RECOVERY");
    const s = await resQuery(conf([servfail]), "plain.test", TYPES.A);
    assert.equal(s.hErrno, "TRY_AGAIN");
  });
  it("rotates the first server under options rotate", async () => {
    const a = await startTestServer(
      (q) => ({ kind: "answer", message: reply(q, ZONE) }),
      "127.0.0.3",
    );
    const b = await startTestServer(
      (q) => ({ kind: "answer", message: reply(q, ZONE) }),
      "127.0.0.3",
    );
    try {
      const ctx = conf([a, b], "options rotate timeout:1");
      for (let i = 0; i < 6; i++) await resQuery(ctx, "plain.test", TYPES.A);
      assert.equal(a.queries.length, 3);
      assert.equal(b.queries.length, 3);
      const still = conf([a, b]);
      for (let i = 0; i < 4; i++) await resQuery(still, "plain.test", TYPES.A);
      assert.equal(a.queries.length, 7);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("IPv6 servers", () => {
  it("queries a server on ::1", async (t) => {
    let v6: TestServer;
    try {
      v6 = await startTestServer((q) => ({ kind: "answer", message: reply(q, ZONE) }), "::1");
    } catch {
      t.skip("no ::1 on this host");
      return;
    }
    try {
      const ctx = new ResolverContext({
        resolvConfText: `nameserver [::1]:${v6.port}\noptions timeout:1\n`,
        hostsText: "",
      });
      const r = await resQuery(ctx, "plain.test", TYPES.A);
      assert.equal(r.hErrno, "NETDB_SUCCESS");
      assert.equal((await ctx.snapshot()).trusted, true, "::1 is trusted like 127.0.0.1");
    } finally {
      await v6.close();
    }
  });
});

describe("anti-spoofing and trust", () => {
  it("uses random IDs and checks case under 0x20", async () => {
    const ids = new Set<number>();
    const echo = await startTestServer((q) => {
      ids.add(q.id);
      return { kind: "answer", message: reply(q, ZONE) };
    }, "127.0.0.2");
    try {
      const ctx = conf([echo], "options timeout:1", { use0x20: true });
      for (let i = 0; i < 20; i++)
        assert.equal((await resQuery(ctx, "www.plain.test", TYPES.A)).hErrno, "NETDB_SUCCESS");
      assert.ok(ids.size >= 18);
      assert.ok(
        echo.queries.some((q) => q.name !== q.name.toLowerCase()),
        "case was randomised",
      );
      const r = await resQuery(
        conf([lower], "options timeout:1 attempts:1", { use0x20: true }),
        "plainplainplain.test",
        TYPES.A,
      );
      assert.equal(r.errno, "ETIMEDOUT", "a reply that lost the case is not ours");
    } finally {
      await echo.close();
    }
  });
  it("checks ID, QR, opcode, QDCOUNT and the question on the octets", () => {
    const q = buildQuery({ id: 0x1234, name: "Www.Plain.test", type: TYPES.A, udpSize: 1232 });
    assert.ok(q.ok);
    const query = q.value;
    const good = Buffer.from(query);
    good[2] = (good[2] ?? 0) | 0x80;
    assert.ok(acceptReply(good, query, false));
    const lower = Buffer.from(good);
    lower.write("www", 13, "latin1");
    assert.ok(acceptReply(lower, query, false), "case folds without 0x20");
    assert.equal(acceptReply(lower, query, true), null, "exact case under 0x20");
    // With the query's name text: taken as is when the octets are the same, else read.
    assert.equal(
      acceptReply(good, query, false, "Www.Plain.test")?.questions[0]?.name,
      "Www.Plain.test",
    );
    assert.equal(
      acceptReply(lower, query, false, "Www.Plain.test")?.questions[0]?.name,
      "www.Plain.test",
    );
    const bad = (edit: (b: Buffer) => void) => {
      const b = Buffer.from(good);
      edit(b);
      return acceptReply(b, query, false);
    };
    assert.equal(
      bad((b) => {
        b[1] = 0x35;
      }),
      null,
      "ID",
    );
    assert.equal(
      bad((b) => {
        b[2] = 0x01;
      }),
      null,
      "QR",
    );
    assert.equal(
      bad((b) => {
        b[2] = 0x88;
      }),
      null,
      "opcode",
    );
    assert.equal(
      bad((b) => {
        b[5] = 2;
      }),
      null,
      "QDCOUNT",
    );
    assert.equal(
      bad((b) => {
        b[14] = 0x78;
      }),
      null,
      "QNAME",
    );
    assert.equal(
      bad((b) => {
        b[12 + 16 + 1] = TYPES.AAAA;
      }),
      null,
      "QTYPE",
    );
    assert.equal(acceptReply(good.subarray(0, 20), query, false), null, "truncated");
    assert.equal(acceptReply(Buffer.concat([good, Buffer.from([0])]), query, false), null);
  });
  it("keeps AD only from a trusted resolver", async () => {
    const untrusted = await resQuery(conf([quirk]), "ad.quirk.test", TYPES.A);
    assert.equal(untrusted.ad, false);
    assert.equal(untrusted.message?.flags.ad, false);
    const trusted = await resQuery(
      conf([quirk], "options trust-ad timeout:1"),
      "ad.quirk.test",
      TYPES.A,
    );
    assert.equal(trusted.ad, true);
  });
  it("bounds the queue", async () => {
    const ctx = conf([quirk], "options timeout:1 attempts:1", { maxInflight: 1, maxQueued: 0 });
    const [a, b] = await Promise.all([
      resQuery(ctx, "slow.quirk.test", TYPES.A),
      resQuery(ctx, "plain.test", TYPES.A),
    ]);
    assert.equal(a.errno, "ETIMEDOUT");
    assert.equal(b.errno, "EAGAIN");
  });
  it("aborts on signal", async () => {
    const ac = new AbortController();
    const p = resQuery(conf([quirk]), "drop.quirk.test", TYPES.A, { signal: ac.signal });
    ac.abort();
    assert.equal((await p).errno, "ECANCELED");
  });
});

describe("search and getrrsetbyname", () => {
  it("applies the search list and ndots", async () => {
    const ctx = conf([quirk], "search plain.test\noptions timeout:1");
    const r = await resSearch(ctx, "www", TYPES.A);
    assert.equal(r.hErrno, "NETDB_SUCCESS");
    assert.equal(r.name, "www.plain.test");
    const nx = await resSearch(ctx, "nothing.here", TYPES.A);
    assert.equal(nx.hErrno, "HOST_NOT_FOUND");
    assert.equal(nx.name, "nothing.here", "the as-is attempt's result is reported");
    const abs = await resSearch(ctx, "www.", TYPES.A);
    assert.equal(abs.name, "www");
  });
  it("follows CNAMEs and maps ERRSET values", async () => {
    const ctx = conf([quirk]);
    const ok = await getrrsetbyname(ctx, "www.plain.test", 1, TYPES.A);
    assert.equal(ok.errno, "ERRSET_SUCCESS");
    assert.equal(ok.canonname, "plain.test");
    assert.deepEqual(ok.rdatas, [{ type: "A", address: "127.0.0.10" }]);
    assert.equal(ok.validated, false);
    assert.equal((await getrrsetbyname(ctx, "nope.test", 1, TYPES.A)).errno, "ERRSET_NONAME");
    assert.equal((await getrrsetbyname(ctx, "plain.test", 1, TYPES.MX)).errno, "ERRSET_NODATA");
    assert.equal((await getrrsetbyname(ctx, "plain.test", 1, TYPES.A, 1)).errno, "ERRSET_INVAL");
    assert.equal((await getrrsetbyname(ctx, "plain.test", 1, TYPES.ANY)).errno, "ERRSET_INVAL");
    assert.equal(
      (await getrrsetbyname(conf([servfail]), "plain.test", 1, TYPES.A)).errno,
      "ERRSET_FAIL",
    );
  });
});
