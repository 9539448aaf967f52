// Tests of the smtpd-tables(7) 0.1 codec; the man page's examples are fixtures.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  formatReply,
  formatRequest,
  Handshake,
  parseReply,
  parseRequest,
  registerLines,
  type TableReply,
  type TableRequest,
} from "./table-protocol.js";

const req = (line: string): TableRequest => {
  const p = parseRequest(line);
  assert.equal(p.kind, "request", line);
  return (p as { request: TableRequest }).request;
};
const reason = (line: string): string => {
  const p = parseRequest(line);
  assert.equal(p.kind, "violation", line);
  return (p as { reason: string }).reason;
};

test("handshake: the man page's config lines, then register lines", () => {
  const h = new Handshake();
  assert.deepEqual(h.accept("config|smtpd-version|7.5.0"), { kind: "continue" });
  assert.deepEqual(h.accept("config|protocol|0.1"), { kind: "continue" });
  assert.deepEqual(h.accept("config|tablename|devs"), { kind: "continue" });
  assert.deepEqual(h.accept("config|future-key|a|b"), { kind: "continue" });
  assert.deepEqual(h.accept("config|ready"), {
    kind: "ready",
    config: {
      smtpdVersion: "7.5.0",
      protocol: "0.1",
      tableName: "devs",
      extra: { "future-key": "a|b" },
    },
  });
  assert.deepEqual(registerLines(["alias", "credentials"]), [
    "register|alias",
    "register|credentials",
    "register|ready",
  ]);
  assert.throws(() => registerLines([]), RangeError);
});

test("handshake: another protocol version is refused with a reason", () => {
  const step = new Handshake().accept("config|protocol|0.2");
  assert.equal(step.kind, "violation");
  assert.match(
    (step as { reason: string }).reason,
    /unsupported table protocol version "0\.2".*0\.1/,
  );
  assert.equal(new Handshake().accept("table|0.1|1|t|update|1").kind, "violation");
  assert.equal(new Handshake().accept("config|").kind, "violation");
  assert.equal(new Handshake().accept("").kind, "violation");
});

test("requests: the man page's examples", () => {
  assert.deepEqual(req("table|0.1|1713795082.354255|devs|lookup|alias|b72508d|op"), {
    op: "lookup",
    timestamp: "1713795082.354255",
    table: "devs",
    service: "alias",
    id: "b72508d",
    key: "op",
  });
  assert.deepEqual(req("table|0.1|1713795097.394049|devs|update|478ff0d2"), {
    op: "update",
    timestamp: "1713795097.394049",
    table: "devs",
    id: "478ff0d2",
  });
  assert.deepEqual(req("table|0.1|1713795103.314423|devs|check|netaddr|e5862859|192.168.0.7"), {
    op: "check",
    timestamp: "1713795103.314423",
    table: "devs",
    service: "netaddr",
    id: "e5862859",
    key: "192.168.0.7",
  });
  assert.deepEqual(req("table|0.1|1713795116.227321|devs|fetch|source|189bd3ee"), {
    op: "fetch",
    timestamp: "1713795116.227321",
    table: "devs",
    service: "source",
    id: "189bd3ee",
  });
});

test("requests: only the key may hold '|', and an empty key is a key", () => {
  assert.equal(
    (req("table|0.1|1|t|check|auth|00000001|bob:pa|ss|word") as { key: string }).key,
    "bob:pa|ss|word",
  );
  assert.equal((req("table|0.1|1|t|lookup|alias|1|") as { key: string }).key, "");
  assert.equal((req("table|0.1|1|t|lookup|alias|1||") as { key: string }).key, "|");
  for (const r of [
    req("table|0.1|1.5|t|lookup|alias|1|a|b"),
    req("table|0.1|1.5|t|update|ff"),
    req("table|0.1|1.5|t|fetch|source|ff"),
  ]) {
    assert.deepEqual(req(formatRequest(r)), r);
  }
});

test("requests: protocol violations carry a reason", () => {
  assert.match(reason("table|0.2|1|t|update|1"), /unsupported table protocol version "0\.2"/);
  assert.match(reason("config|ready"), /config line after config\|ready/);
  assert.match(reason("hello"), /malformed request/);
  assert.match(reason(""), /malformed request/);
  assert.match(reason("table|0.1|1|t"), /missing fields/);
  assert.match(reason("table|0.1|1|t|update|"), /bad id/);
  assert.match(reason("table|0.1|1|t|update|1|2"), /bad id/);
  assert.match(reason("table|0.1|1|t|fetch|source"), /malformed fetch/);
  assert.match(reason("table|0.1|1|t|fetch|source|1|x"), /malformed fetch/);
  assert.match(reason("table|0.1|1|t|lookup|alias|1"), /malformed lookup/);
  assert.match(reason("table|0.1|1|t|check||1|k"), /malformed check/);
  assert.match(reason("table|0.1|1|t|delete|alias|1|k"), /unknown table operation "delete"/);
});

test("a violation never quotes an auth key (it holds a cleartext password)", () => {
  const r = reason("table|0.1|1|t|verify|auth|0a|bob:hunter2");
  assert.doesNotMatch(r, /hunter2/);
  assert.match(r, /hidden/);
});

test("replies: every result kind, as smtpd's table-proc reads them", () => {
  const cases = [
    [{ op: "update", id: "478ff0d2", result: { kind: "ok" } }, "update-result|478ff0d2|ok"],
    [
      {
        op: "update",
        id: "478ff0d2",
        result: { kind: "error", message: "failed to connect to the database" },
      },
      "update-result|478ff0d2|error|failed to connect to the database",
    ],
    [
      { op: "check", id: "e5862859", result: { kind: "not-found" } },
      "check-result|e5862859|not-found",
    ],
    [{ op: "check", id: "e5862859", result: { kind: "found" } }, "check-result|e5862859|found"],
    [{ op: "check", id: "e5862859", result: { kind: "error" } }, "check-result|e5862859|error"],
    [
      { op: "lookup", id: "f993c74", result: { kind: "found", value: "1000:1000:/home/op" } },
      "lookup-result|f993c74|found|1000:1000:/home/op",
    ],
    [
      { op: "fetch", id: "189bd3ee", result: { kind: "found", value: "192.168.1.7" } },
      "fetch-result|189bd3ee|found|192.168.1.7",
    ],
    [{ op: "fetch", id: "1", result: { kind: "found", value: "a|b" } }, "fetch-result|1|found|a|b"],
  ] as const;
  for (const [reply, line] of cases) {
    assert.equal(formatReply(reply), line);
    assert.deepEqual(parseReply(line, reply.op, reply.id), { kind: "reply", reply });
  }
});

test("replies: values smtpd cannot take back become errors", () => {
  assert.equal(
    formatReply({ op: "lookup", id: "1", result: { kind: "found", value: "" } }),
    "lookup-result|1|error|empty value",
  );
  assert.equal(
    formatReply({ op: "lookup", id: "1", result: { kind: "found", value: "a\nb" } }),
    "lookup-result|1|error|value contains a line break",
  );
  assert.equal(
    formatReply({ op: "check", id: "1", result: { kind: "error", message: "two\r\nlines" } }),
    "check-result|1|error|two lines",
  );
});

test("parseReply: wrong id, wrong op or junk is a violation", () => {
  assert.equal(parseReply("lookup-result|2|not-found", "lookup", "1").kind, "violation");
  assert.equal(parseReply("check-result|1|not-found", "lookup", "1").kind, "violation");
  assert.equal(parseReply("lookup-result|1|found|", "lookup", "1").kind, "violation");
  assert.equal(parseReply("lookup-result|1|maybe", "lookup", "1").kind, "violation");
  assert.equal(parseReply("update-result|1|ok|x", "update", "1").kind, "violation");
});

test("man/smtpd-tables.7: every request/reply pair of EXAMPLES parses and formats back", () => {
  const page = readFileSync(
    fileURLToPath(new URL("../man/smtpd-tables.7", import.meta.url)),
    "utf8",
  );
  const examples = page.slice(page.indexOf(".Sh EXAMPLES"), page.indexOf(".Sh WRITING"));
  const lines = examples.split("\n").filter((l) => /^(table|[a-z]+-result)\|/.test(l));
  assert.equal(lines.length, 12);
  for (let i = 0; i < lines.length; i += 2) {
    const r = req(lines[i]!);
    assert.equal(formatRequest(r), lines[i]);
    const parsed = parseReply(lines[i + 1]!, r.op, r.id);
    assert.equal(parsed.kind, "reply", lines[i + 1]);
    assert.equal(formatReply((parsed as { reply: TableReply }).reply), lines[i + 1]);
  }
});
