// Tests of the byte-level line splitter used by every extras program.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LineReader } from "./line-reader.js";

const collect = (chunks: Uint8Array[], max?: number) => {
  const r = new LineReader(max);
  const lines: string[] = [];
  for (const c of chunks) {
    const s = r.push(c);
    assert.equal(s.kind, "lines");
    lines.push(...s.lines);
  }
  return { lines, pending: r.pendingBytes };
};

test("input split at every byte offset gives the same lines, UTF-8 included", () => {
  const input = Buffer.from(
    "config|ready\ntable|0.1|1|t|lookup|alias|1|jöhn|x€\n\nlast|é\nrest",
    "utf8",
  );
  const whole = collect([input]);
  assert.deepEqual(whole.lines, [
    "config|ready",
    "table|0.1|1|t|lookup|alias|1|jöhn|x€",
    "",
    "last|é",
  ]);
  assert.equal(whole.pending, 4);
  for (let i = 0; i <= input.length; i++) {
    for (let j = i; j <= input.length; j++) {
      const got = collect([input.subarray(0, i), input.subarray(i, j), input.subarray(j)]);
      assert.deepEqual(got, whole, `split at ${i},${j}`);
    }
  }
  const bytewise = collect([...input].map((b) => Uint8Array.of(b)));
  assert.deepEqual(bytewise, whole);
});

test("a line longer than the limit is reported, with or without its LF", () => {
  const r = new LineReader(8);
  assert.deepEqual(r.push(Buffer.from("12345678\n")), { kind: "lines", lines: ["12345678"] });
  const s = r.push(Buffer.from("ok\n123456789\n"));
  assert.deepEqual(s, { kind: "too-long", lines: ["ok"], limitBytes: 8 });
  const r2 = new LineReader(8);
  assert.equal(r2.push(Buffer.from("12345")).kind, "lines");
  assert.deepEqual(r2.push(Buffer.from("6789")), { kind: "too-long", lines: [], limitBytes: 8 });
});
