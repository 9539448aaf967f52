// Tests of the DNS message codec: round trips of every record type, truncation at every
// offset, hostile inputs (pointer loops, overlong names, trailing octets) and a seeded fuzz run.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  buildQuery,
  decodeMessage,
  encodeMessage,
  extendedError,
  type Message,
  NO_FLAGS,
} from "./codec.js";
import { CLASS_IN, type RecordData, rdataText, TYPES, typeCode, typeName } from "./rdata.js";

const rr = (name: string, data: RecordData, ttl = 300) => ({ name, class: CLASS_IN, ttl, data });

const ALL: RecordData[] = [
  { type: "A", address: "192.0.2.1" },
  { type: "AAAA", address: "2001:db8::1" },
  { type: "NS", host: "ns1.example.test" },
  { type: "CNAME", target: "target.example.test" },
  { type: "PTR", host: "host.example.test" },
  { type: "MX", preference: 10, exchange: "mx1.example.test" },
  { type: "MX", preference: 0, exchange: "." },
  {
    type: "TXT",
    strings: [Buffer.from("v=spf1 "), Buffer.from("-all"), Buffer.alloc(0), Buffer.from([0, 255])],
  },
  {
    type: "SOA",
    mname: "ns1.example.test",
    rname: "hostmaster.example.test",
    serial: 2024010101,
    refresh: 3600,
    retry: 600,
    expire: 864000,
    minimum: 300,
  },
  { type: "SRV", priority: 1, weight: 2, port: 25, target: "mx1.example.test" },
  { type: "TLSA", usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 0xab) },
  { type: "UNKNOWN", code: 46, raw: Buffer.from("rrsig-bytes") },
];

function sample(): Message {
  return {
    id: 0x1234,
    opcode: 0,
    flags: { ...NO_FLAGS, qr: true, rd: true, ra: true, ad: true },
    rcode: 0,
    questions: [{ name: "example.test", type: TYPES.MX, class: CLASS_IN }],
    answers: ALL.map((d, i) => rr(i % 2 ? "example.test" : "sub.example.test", d)),
    authorities: [rr("example.test", { type: "NS", host: "ns1.example.test" })],
    additionals: [rr("ns1.example.test", { type: "A", address: "127.0.0.1" })],
    edns: {
      udpSize: 1232,
      version: 0,
      dnssecOk: true,
      options: [{ code: 15, data: Buffer.from([0, 6, 0x62]) }],
    },
  };
}

function encoded(m: Message): Buffer {
  const e = encodeMessage(m);
  assert.ok(e.ok, e.ok ? "" : e.error);
  return e.value;
}

describe("codec round trips", () => {
  it("round-trips every record type with compression", () => {
    const m = sample();
    const buf = encoded(m);
    const d = decodeMessage(buf);
    assert.ok(d.ok);
    assert.deepEqual(d.value, m);
    // Only the question and the SRV target (never compressed, RFC 2782) spell "example" out.
    assert.equal(buf.toString("latin1").split("example").length - 1, 2);
    assert.deepEqual(extendedError(d.value), { infoCode: 6, text: "b" });
  });
  it("keeps each record type's fields", () => {
    for (const data of ALL) {
      const m = {
        ...sample(),
        answers: [rr("x.test", data)],
        authorities: [],
        additionals: [],
        edns: null,
      };
      const d = decodeMessage(encoded(m));
      assert.ok(d.ok);
      assert.deepEqual(d.value.answers[0]?.data, data);
      assert.equal(typeof rdataText(data), "string");
    }
  });
  it("carries extended rcodes in OPT", () => {
    const m = { ...sample(), rcode: 16 };
    const d = decodeMessage(encoded(m));
    assert.ok(d.ok);
    assert.equal(d.value.rcode, 16);
  });
  it("keeps binary labels and escapes", () => {
    const m = { ...sample(), answers: [rr("a\\.b\\000c.test", { type: "A", address: "1.2.3.4" })] };
    const d = decodeMessage(encoded(m));
    assert.ok(d.ok);
    assert.equal(d.value.answers[0]?.name, "a\\.b\\000c.test");
  });
  it("builds queries with EDNS, DO and AD", () => {
    const q = buildQuery({
      id: 7,
      name: "example.test",
      type: TYPES.TLSA,
      ad: true,
      udpSize: 1232,
      dnssecOk: true,
    });
    assert.ok(q.ok);
    const d = decodeMessage(q.value);
    assert.ok(d.ok);
    assert.equal(d.value.flags.ad, true);
    assert.equal(d.value.flags.rd, true);
    assert.deepEqual(d.value.edns, { udpSize: 1232, version: 0, dnssecOk: true, options: [] });
  });
  it("writes queries with the same octets as encodeMessage", () => {
    const cases = [
      { id: 0xbeef, name: "example.test", type: TYPES.MX },
      { id: 1, name: "Mixed.Case.TEST.", type: TYPES.A, rd: false, cd: true },
      { id: 2, name: ".", type: TYPES.NS, udpSize: 1232 },
      { id: 3, name: "_25._tcp.mx.test", type: TYPES.TLSA, ad: true, udpSize: 512, dnssecOk: true },
      { id: 4, name: "a\\.b.test", type: TYPES.A, klass: 3 },
      { id: 5, name: `${"a".repeat(63)}.test`, type: TYPES.AAAA, udpSize: 4096 },
    ];
    for (const q of cases) {
      const fast = buildQuery(q);
      const slow = encodeMessage({
        id: q.id,
        opcode: 0,
        flags: { ...NO_FLAGS, rd: q.rd ?? true, ad: q.ad ?? false, cd: q.cd ?? false },
        rcode: 0,
        questions: [{ name: q.name, type: q.type, class: q.klass ?? CLASS_IN }],
        answers: [],
        authorities: [],
        additionals: [],
        edns: q.udpSize
          ? { udpSize: q.udpSize, version: 0, dnssecOk: q.dnssecOk ?? false, options: [] }
          : null,
      });
      assert.ok(fast.ok && slow.ok, q.name);
      assert.deepEqual(fast.value, slow.value, q.name);
    }
    for (const name of ["a..b", "bad name.test", "b\u00fccher.test", `${"a".repeat(64)}.test`])
      assert.equal(buildQuery({ id: 1, name, type: 1 }).ok, false, name);
  });
  it("decodes names through compression pointers, plain and escaped", () => {
    const names = [
      "example.test",
      "mx1.example.test",
      "a\\.b.example.test",
      "x.a\\.b.example.test",
      "y.mx1.example.test",
      "\\000.y.mx1.example.test",
      "example.test",
      "test",
    ];
    const m = {
      ...sample(),
      answers: names.map((n) => rr(n, { type: "CNAME", target: names[0] ?? "." })),
      additionals: names.map((n) => rr("z.test", { type: "PTR", host: n })),
    };
    const d = decodeMessage(encoded(m));
    assert.ok(d.ok);
    assert.deepEqual(
      d.value.answers.map((x) => x.name),
      names,
    );
    assert.deepEqual(
      d.value.additionals.map((x) => (x.data.type === "PTR" ? x.data.host : "")),
      names,
    );
  });
  it("maps type names", () => {
    assert.equal(typeCode("tlsa"), 52);
    assert.equal(typeCode("TYPE65"), 65);
    assert.equal(typeCode("BOGUS"), null);
    assert.equal(typeName(99), "TYPE99");
  });
});

describe("codec rejects bad input", () => {
  it("gives an error for every truncation, never a throw", () => {
    const buf = encoded(sample());
    for (let i = 0; i < buf.length; i++) {
      const d = decodeMessage(buf.subarray(0, i));
      assert.equal(d.ok, false, `prefix of ${i} octets must not decode`);
    }
  });
  it("rejects trailing octets", () => {
    const buf = Buffer.concat([encoded(sample()), Buffer.from([0])]);
    assert.equal(decodeMessage(buf).ok, false);
  });
  it("rejects compression loops and forward pointers", () => {
    const head = Buffer.from([0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const self = Buffer.concat([head, Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    const forward = Buffer.concat([head, Buffer.from([0xc0, 14, 0, 0, 1, 0, 1])]);
    // "a" then a pointer back to offset 12 (its own start): a two-step loop.
    const loop = Buffer.concat([head, Buffer.from([1, 0x61, 0xc0, 12, 0, 1, 0, 1])]);
    for (const b of [self, forward, loop]) {
      const d = decodeMessage(b);
      assert.equal(d.ok, false);
      assert.match(d.ok ? "" : d.error, /pointer/);
    }
  });
  it("rejects overlong names and labels", () => {
    const head = Buffer.from([0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const labels: number[] = [];
    for (let i = 0; i < 5; i++) labels.push(63, ...Buffer.alloc(63, 0x61));
    assert.equal(
      decodeMessage(Buffer.concat([head, Buffer.from([...labels, 0, 0, 1, 0, 1])])).ok,
      false,
    );
    assert.equal(
      encodeMessage({
        ...sample(),
        questions: [{ name: `${"a".repeat(64)}.test`, type: 1, class: 1 }],
      }).ok,
      false,
    );
    assert.equal(buildQuery({ id: 1, name: `${"abcdefghi.".repeat(26)}test`, type: 1 }).ok, false);
  });
  it("rejects bad label types, misplaced OPT and wrong rdata sizes", () => {
    const head = Buffer.from([0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert.equal(
      decodeMessage(Buffer.concat([head, Buffer.from([0x40, 0, 0, 1, 0, 1])])).ok,
      false,
    );
    const optInAnswer = Buffer.from([
      0, 1, 0x81, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0,
    ]);
    assert.equal(decodeMessage(optInAnswer).ok, false);
    const shortA = Buffer.from([
      0, 1, 0x81, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 3, 1, 2, 3,
    ]);
    assert.equal(decodeMessage(shortA).ok, false);
    const goodA = Buffer.from([
      0, 1, 0x81, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4,
    ]);
    assert.equal(decodeMessage(goodA).ok, true);
    const mxOverrun = Buffer.from([
      0, 1, 0x81, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 15, 0, 1, 0, 0, 0, 0, 0, 3, 0, 1, 0,
    ]);
    assert.equal(decodeMessage(mxOverrun).ok, true);
    mxOverrun[22] = 2;
    assert.equal(decodeMessage(mxOverrun).ok, false);
  });
  it("survives a seeded fuzz run without throwing or hanging", () => {
    let seed = 0x5eed;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const base = encoded(sample());
    const started = Date.now();
    let decoded = 0;
    for (let i = 0; i < 4000; i++) {
      const b = Buffer.from(base);
      const flips = 1 + (rand() % 8);
      for (let k = 0; k < flips; k++) b[rand() % b.length] = rand() & 0xff;
      const cut = i % 3 === 0 ? b.subarray(0, rand() % b.length) : b;
      const d = decodeMessage(cut);
      if (d.ok) {
        decoded++;
        // Anything that decodes must re-encode and decode to the same thing.
        const again = encodeMessage(d.value);
        if (again.ok) assert.deepEqual(decodeMessage(again.value), d);
      }
      const junk = Buffer.alloc(rand() % 80);
      for (let k = 0; k < junk.length; k++) junk[k] = rand() & 0xff;
      decodeMessage(junk);
    }
    assert.ok(Date.now() - started < 20000);
    assert.ok(decoded < 4000);
  });
});
