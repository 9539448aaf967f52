// Tests of the table serving loop: full transcripts through serveTable over streams, the
// input split at every byte offset, pipelining, failures of a backend, protocol violations.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import type { LookupResult, TableService } from "./table-protocol.js";
import { type ServeOutcome, serveTable, type TableBackend } from "./table-server.js";

/** A small in-memory backend: alias lookups and a source list for fetch. */
class MemoryBackend implements TableBackend {
  readonly services: readonly TableService[] = ["alias", "source"];
  aliases = new Map([
    ["op", "omar"],
    ["jöhn", "j|x"],
  ]);
  sources = ["192.168.1.7", "10.0.0.8"];
  #next = 0;
  updates = 0;
  update() {
    this.updates++;
    return { kind: "ok" } as const;
  }
  check(_s: TableService, key: string) {
    return this.aliases.has(key) ? ({ kind: "found" } as const) : ({ kind: "not-found" } as const);
  }
  async lookup(_s: TableService, key: string): Promise<LookupResult> {
    await new Promise((r) => setImmediate(r));
    if (key === "boom") throw new Error("backend exploded");
    const v = this.aliases.get(key);
    return v === undefined ? { kind: "not-found" } : { kind: "found", value: v };
  }
  fetch(): LookupResult {
    const v = this.sources[this.#next++ % this.sources.length]!;
    return { kind: "found", value: v };
  }
}

async function run(backend: TableBackend, chunks: (string | Buffer)[], maxLineBytes?: number) {
  let out = "";
  const logs: string[] = [];
  const output = new Writable({
    write(chunk, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  async function* input() {
    for (const c of chunks) yield typeof c === "string" ? Buffer.from(c) : c;
  }
  const outcome: ServeOutcome = await serveTable(backend, {
    input: input(),
    output,
    log: (m) => logs.push(m),
    ...(maxLineBytes ? { maxLineBytes } : {}),
  });
  return { out, outcome, logs };
}

const HANDSHAKE =
  "config|smtpd-version|7.8.0\nconfig|protocol|0.1\nconfig|tablename|devs\nconfig|ready\n";
const REQUESTS =
  "table|0.1|1713795082.354255|devs|lookup|alias|b72508d|op\n" +
  "table|0.1|1713795082.354256|devs|lookup|alias|00000002|jöhn\n" +
  "table|0.1|1713795082.354257|devs|check|alias|00000003|nobody\n" +
  "table|0.1|1713795082.354258|devs|fetch|source|189bd3ee\n" +
  "table|0.1|1713795082.354259|devs|fetch|source|9e4c56d4\n" +
  "table|0.1|1713795082.354260|devs|fetch|source|f2c8b906\n" +
  "table|0.1|1713795082.354261|devs|update|478ff0d2\n" +
  "table|0.1|1713795082.354262|devs|lookup|userinfo|00000009|op\n" +
  "table|0.1|1713795082.354263|devs|lookup|nonsense|0000000a|op\n";
const EXPECTED =
  "register|alias\nregister|source\nregister|ready\n" +
  "lookup-result|b72508d|found|omar\n" +
  "lookup-result|00000002|found|j|x\n" +
  "check-result|00000003|not-found\n" +
  "fetch-result|189bd3ee|found|192.168.1.7\n" +
  "fetch-result|9e4c56d4|found|10.0.0.8\n" +
  "fetch-result|f2c8b906|found|192.168.1.7\n" +
  "update-result|478ff0d2|ok\n" +
  "lookup-result|00000009|error|service userinfo not registered\n" +
  "lookup-result|0000000a|error|unknown service nonsense\n";

test("a whole session, pipelined in one write, gets every reply in order", async () => {
  const b = new MemoryBackend();
  const { out, outcome } = await run(b, [HANDSHAKE + REQUESTS]);
  assert.equal(out, EXPECTED);
  assert.deepEqual(outcome, { kind: "eof", requests: 9 });
  assert.equal(b.updates, 1);
});

test("the same session split at every byte offset gives the same replies", async () => {
  const all = Buffer.from(HANDSHAKE + REQUESTS, "utf8");
  for (let i = 0; i <= all.length; i++) {
    const { out, outcome } = await run(new MemoryBackend(), [all.subarray(0, i), all.subarray(i)]);
    assert.equal(out, EXPECTED, `split at byte ${i}`);
    assert.equal(outcome.kind, "eof");
  }
});

test("nothing is answered before config|ready, and registration comes right after it", async () => {
  const { out } = await run(new MemoryBackend(), ["config|protocol|0.1\n"]);
  assert.equal(out, "");
  const r = await run(new MemoryBackend(), [HANDSHAKE]);
  assert.equal(r.out, "register|alias\nregister|source\nregister|ready\n");
  assert.deepEqual(r.outcome, { kind: "eof", requests: 0 });
});

test("a throwing backend gets an error reply and the session goes on", async () => {
  const { out, logs } = await run(new MemoryBackend(), [
    HANDSHAKE,
    "table|0.1|1|devs|lookup|alias|1|boom\ntable|0.1|1|devs|lookup|alias|2|op\n",
  ]);
  assert.match(out, /lookup-result\|1\|error\|internal error\nlookup-result\|2\|found\|omar\n$/);
  assert.deepEqual(logs, ["lookup alias failed: backend exploded"]);
});

test("operations a backend lacks are errors; update without a handler is ok", async () => {
  const bare: TableBackend = { services: ["domain"] };
  const { out } = await run(bare, [
    HANDSHAKE,
    "table|0.1|1|devs|check|domain|1|x.org\ntable|0.1|1|devs|update|2\ntable|0.1|1|devs|fetch|domain|3\n",
  ]);
  assert.equal(
    out,
    "register|domain\nregister|ready\ncheck-result|1|error|check not supported\n" +
      "update-result|2|ok\nfetch-result|3|error|fetch not supported\n",
  );
});

test("protocol violations end the session with a reason, after the replies before them", async () => {
  const cases: [string, RegExp][] = [
    ["config|protocol|0.2\nconfig|ready\n", /unsupported table protocol version "0\.2"/],
    [`${HANDSHAKE}table|0.1|1|devs|lookup|alias|1|op\ngarbage\n`, /malformed request/],
    [`${HANDSHAKE}table|0.9|1|devs|update|1\n`, /unsupported table protocol version "0\.9"/],
    [`${HANDSHAKE}config|ready\n`, /config line after config\|ready/],
    ["config|protocol|0.1\n", /before the handshake finished/],
    ["table|0.1|1|devs|update|1\n", /expected a config line/],
  ];
  for (const [input, re] of cases) {
    const { out, outcome } = await run(new MemoryBackend(), [input]);
    assert.equal(outcome.kind, "violation", input);
    assert.match((outcome as { reason: string }).reason, re);
    if (input.includes("|op\ngarbage")) assert.match(out, /lookup-result\|1\|found\|omar\n$/);
  }
});

test("an overlong line is a violation, not unbounded buffering", async () => {
  const { outcome } = await run(
    new MemoryBackend(),
    [HANDSHAKE, `table|0.1|1|devs|lookup|alias|1|${"x".repeat(300)}`],
    256,
  );
  assert.deepEqual(outcome, { kind: "violation", reason: "line longer than 256 bytes" });
});

test("a truncated last line is logged and dropped", async () => {
  const { out, outcome, logs } = await run(new MemoryBackend(), [
    HANDSHAKE,
    "table|0.1|1|devs|lookup|alias|1|op",
  ]);
  assert.equal(out, "register|alias\nregister|source\nregister|ready\n");
  assert.deepEqual(outcome, { kind: "eof", requests: 0 });
  assert.match(logs[0] ?? "", /input ended inside a line/);
});
