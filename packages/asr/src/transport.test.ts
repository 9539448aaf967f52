// Tests of the UDP socket pool against a raw echo server on loopback: source ports rotate,
// IDs are matched per socket (colliding IDs included), replies on the wrong socket, junk and
// late replies are ignored, and timeouts and aborts settle an exchange once.

import assert from "node:assert/strict";
import { createSocket, type RemoteInfo } from "node:dgram";
import { after, before, beforeEach, describe, it } from "node:test";
import { buildQuery } from "./codec.js";
import { TYPES } from "./rdata.js";
import type { Server } from "./resolv-conf.js";
import { acceptReply } from "./send.js";
import { createNodeTransport, type ExchangeRequest } from "./transport.js";

type Held = { query: Buffer; from: RemoteInfo };

/** What the echo server does with each query: the answer is the query with QR set. */
let mode: "echo" | "hold2-reverse" | "hold2-swap" | "junk-first" | "drop" = "echo";
let held: Held[] = [];
const ports: number[] = [];
const echo = createSocket("udp4");
let server: Server;

const answer = (q: Buffer) => {
  const a = Buffer.from(q);
  a[2] = (a[2] ?? 0) | 0x80;
  return a;
};

before(async () => {
  echo.on("message", (query, from) => {
    ports.push(from.port);
    if (mode === "drop") return;
    if (mode === "echo") return echo.send(answer(query), from.port, from.address);
    if (mode === "junk-first") {
      echo.send(Buffer.from("junk"), from.port, from.address);
      const wrongId = answer(query);
      wrongId[1] = (wrongId[1] ?? 0) ^ 0xff;
      echo.send(wrongId, from.port, from.address);
      return echo.send(answer(query), from.port, from.address);
    }
    held.push({ query, from });
    if (held.length < 2) return;
    const [a, b] = held as [Held, Held];
    held = [];
    if (mode === "hold2-reverse") {
      echo.send(answer(b.query), b.from.port, b.from.address);
      echo.send(answer(a.query), a.from.port, a.from.address);
    } else {
      // Each reply goes to the other query's socket.
      echo.send(answer(a.query), b.from.port, b.from.address);
      echo.send(answer(b.query), a.from.port, a.from.address);
    }
  });
  await new Promise<void>((r) => echo.bind(0, "127.0.0.1", () => r()));
  server = { address: "127.0.0.1", port: echo.address().port };
});

after(() => echo.close());

beforeEach(() => {
  mode = "echo";
  held = [];
  ports.length = 0;
});

function request(id: number, name: string, timeoutMs = 1000, signal?: AbortSignal) {
  const q = buildQuery({ id, name, type: TYPES.A, udpSize: 1232 });
  assert.ok(q.ok);
  const query = q.value;
  const req: ExchangeRequest = {
    server,
    query,
    tcp: false,
    timeoutMs,
    signal,
    accept: (raw) => acceptReply(raw, query, false),
  };
  return req;
}

const questionOf = (o: { kind: string; message?: { questions: { name: string }[] } }) =>
  o.kind === "reply" ? o.message?.questions[0]?.name : o.kind;

describe("UDP socket pool", () => {
  it("uses N sockets in turn and replaces each after udpMaxQueries uses", async () => {
    const t = createNodeTransport({ udpSockets: 2, udpMaxQueries: 3 });
    for (let i = 0; i < 12; i++)
      assert.equal(questionOf(await t.exchange(request(i, `q${i}.test`))), `q${i}.test`);
    const uses = new Map<number, number>();
    for (const p of ports) uses.set(p, (uses.get(p) ?? 0) + 1);
    assert.equal(uses.size, 4, "12 queries over 2 sockets of 3 uses each: 4 source ports");
    assert.deepEqual([...uses.values()], [3, 3, 3, 3]);
    assert.notEqual(ports[0], ports[1], "consecutive queries leave from different sockets");
  });
  it("matches colliding IDs on one socket by their question", async () => {
    mode = "hold2-reverse";
    const t = createNodeTransport({ udpSockets: 1 });
    const [a, b] = await Promise.all([
      t.exchange(request(0x4242, "first.test")),
      t.exchange(request(0x4242, "second.test")),
    ]);
    assert.equal(ports[0], ports[1], "same socket");
    assert.equal(questionOf(a), "first.test");
    assert.equal(questionOf(b), "second.test");
  });
  it("ignores a reply that arrives on another socket of the pool", async () => {
    mode = "hold2-swap";
    const t = createNodeTransport({ udpSockets: 2 });
    const [a, b] = await Promise.all([
      t.exchange(request(1, "a.test", 300)),
      t.exchange(request(2, "b.test", 300)),
    ]);
    assert.notEqual(ports[0], ports[1]);
    assert.equal(a.kind, "timeout");
    assert.equal(b.kind, "timeout");
  });
  it("keeps listening after junk and a wrong ID", async () => {
    mode = "junk-first";
    const t = createNodeTransport();
    assert.equal(questionOf(await t.exchange(request(7, "junk.test"))), "junk.test");
  });
  it("times out, ignores the late reply and goes on", async () => {
    mode = "hold2-reverse";
    const t = createNodeTransport({ udpSockets: 1 });
    const t0 = performance.now();
    assert.equal((await t.exchange(request(9, "late.test", 100))).kind, "timeout");
    const waited = performance.now() - t0;
    assert.ok(waited >= 99 && waited < 1000, `timed out after ${waited} ms, never early`);
    // The second query releases both answers: the late one for ID 9 finds no one waiting.
    assert.equal(questionOf(await t.exchange(request(10, "next.test"))), "next.test");
  });
  it("settles on abort, before and during the exchange", async () => {
    mode = "drop";
    const t = createNodeTransport();
    const ac = new AbortController();
    const p = t.exchange(request(11, "abort.test", 5000, ac.signal));
    ac.abort();
    assert.equal((await p).kind, "aborted");
    assert.equal((await t.exchange(request(12, "abort.test", 5000, ac.signal))).kind, "aborted");
  });
});
