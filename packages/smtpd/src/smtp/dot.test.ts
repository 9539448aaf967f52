import assert from "node:assert/strict";
import { test } from "node:test";
import { DotReader, dotStuff, LineEndingChecker } from "./dot.js";

function readAll(chunks: Buffer[]): {
  content: string;
  rest: string;
  done: boolean;
  bare: boolean;
  raw: number;
} {
  const r = new DotReader();
  const parts: Buffer[] = [];
  let rest = "";
  let done = false;
  for (const c of chunks) {
    if (done) {
      rest += c.toString("latin1");
      continue;
    }
    const x = r.push(c);
    parts.push(x.content);
    if (x.done) {
      done = true;
      rest += c.subarray(x.consumed).toString("latin1");
    }
  }
  return {
    content: Buffer.concat(parts).toString("latin1"),
    rest,
    done,
    bare: r.hasBareCr || r.hasBareLf,
    raw: r.rawBytes,
  };
}

test("unstuffs and stops at CRLF.CRLF", () => {
  const r = readAll([Buffer.from("a\r\n..b\r\n.\r\n\r\n.\r\nMAIL")]);
  assert.deepEqual(r, {
    content: "a\r\n.b\r\n",
    rest: "\r\n.\r\nMAIL",
    done: true,
    bare: false,
    raw: 8,
  });
  assert.equal(readAll([Buffer.from(".\r\n")]).content, "");
  assert.equal(readAll([Buffer.from(".\r\n")]).done, true);
});

test("same result when split at every byte offset", () => {
  const input = Buffer.from("Subject: x\r\n\r\n..\r\n.a\r\nb.\r\n...\r\n.\r\nQUIT\r\n");
  const whole = readAll([input]);
  for (let i = 0; i <= input.length; i++) {
    assert.deepEqual(readAll([input.subarray(0, i), input.subarray(i)]), whole, `split at ${i}`);
  }
  assert.deepEqual(readAll([...input].map((b) => Buffer.from([b]))), whole);
});

test("smuggling payloads never end the message", () => {
  for (const p of [
    "\n.\n",
    "\r.\r",
    "\r\n.\r",
    "\n.\r\n",
    "\r\n.\n",
    "\r.\r\n",
    "\r\n.\rX",
    "\n.\r",
    "\r\n\r.\r\n",
  ]) {
    const input = Buffer.from(`body${p}MAIL FROM:<x@y>\r\n`);
    for (let i = 0; i <= input.length; i++) {
      const r = readAll([input.subarray(0, i), input.subarray(i)]);
      assert.equal(r.done, false, JSON.stringify(p));
      assert.equal(r.bare, true, JSON.stringify(p));
    }
    const ended = readAll([Buffer.concat([input, Buffer.from(".\r\n")])]);
    assert.equal(ended.done, true, JSON.stringify(p));
    assert.equal(ended.bare, true);
  }
});

test("dotStuff round trip", () => {
  const c = Buffer.from(".a\r\n..b\r\nc.\r\n.\r\n");
  const r = readAll([Buffer.concat([dotStuff(c), Buffer.from(".\r\n")])]);
  assert.equal(r.content, c.toString());
  assert.equal(r.done, true);
});

test("LineEndingChecker flags bare CR and LF", () => {
  const check = (s: string): boolean => {
    const c = new LineEndingChecker();
    for (const ch of s) c.push(Buffer.from(ch, "latin1"));
    c.end();
    return c.hasBareCr || c.hasBareLf;
  };
  assert.equal(check("a\r\nb\r\n"), false);
  assert.equal(check("a\nb"), true);
  assert.equal(check("a\rb"), true);
  assert.equal(check("a\r"), true);
});
