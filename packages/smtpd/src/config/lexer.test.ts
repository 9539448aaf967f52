// The smtpd.conf tokeniser: OpenSMTPD's NUMBER/string rules, quoting, continuations, macros,
// and input split at every byte offset of a line (continuations make lines of any length).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Lexer } from "./lexer.js";
import { parseTableFile } from "./table-file.js";

function lex(text: string, macros: Record<string, string> = {}) {
  const l = new Lexer(text, "t", { get: (n) => macros[n] });
  const out: string[] = [];
  for (;;) {
    const t = l.next();
    if (t.kind === "eof") break;
    out.push(t.kind === "newline" ? "NL" : `${t.kind}:${t.text}`);
  }
  // The end of the file reads as one more newline (parse.y), dropped here for brevity.
  if (out.length >= 2 && out[out.length - 1] === "NL" && out[out.length - 2] === "NL") out.pop();
  return { tokens: out, errors: l.errors.map((e) => `${e.line}:${e.message}`) };
}

test("digits are a NUMBER only before space ) , / } = or the end", () => {
  assert.deepEqual(lex("25 35M 4d 10.0.0.0/8 10/8 -5 - x\n").tokens, [
    "number:25",
    "string:35M",
    "string:4d",
    "string:10.0.0.0/8",
    "number:10",
    "punct:/",
    "number:8",
    "number:-5",
    "punct:-",
    "string:x",
    "NL",
  ]);
  assert.deepEqual(lex("99999999999999999999\n").errors, [
    '1:"99999999999999999999" invalid number: too large',
  ]);
});

test("keywords only unquoted; words stop at ( ) { } < > ! = # ,", () => {
  assert.deepEqual(lex('local "local" a:b::c <t> !x=>y,z#c\n').tokens, [
    "keyword:local",
    "string:local",
    "string:a:b::c",
    "punct:<",
    "string:t",
    "punct:>",
    "punct:!",
    "string:x",
    "punct:=>",
    "string:y",
    "punct:,",
    "string:z",
    "NL",
  ]);
  assert.deepEqual(lex("/etc/x\n").tokens, ["punct:/", "string:etc/x", "NL"]);
});

test("quotes: both styles, escapes of the quote, space and tab only; newlines dropped", () => {
  assert.deepEqual(lex(`"a\\"b" 'c\\'d' "e\\ f" "g\\x" "h\\\\ i" "j\nk" "l\\\n  m"\n`).tokens, [
    'string:a"b',
    "string:c'd",
    "string:e f",
    "string:g\\x",
    "string:h\\ i",
    "string:jk",
    "string:l  m",
    "NL",
  ]);
  assert.deepEqual(lex('"abc').errors, ["1:reached end of file while parsing quoted string"]);
  assert.deepEqual(lex('"a\0b" x\ny\n').errors, ["1:NUL byte in quoted string"]);
  assert.deepEqual(lex('"a\0b" x\ny\n').tokens, ["NL", "string:y", "NL"]);
});

test("backslash-newline joins lines outside quotes; lines are counted", () => {
  const l = new Lexer("a \\\n  b\nc\n", "t", { get: () => undefined });
  const toks = [l.next(), l.next(), l.next(), l.next()];
  assert.deepEqual(
    toks.map((t) => [t.text, t.line]),
    [
      ["a", 1],
      ["b", 2],
      ["\n", 2],
      ["c", 3],
    ],
  );
});

test("macros are re-tokenised, not expanded inside quotes or inside another macro", () => {
  const r = lex('x $m "$m" y\n', { m: 'pki a { b c } "q r"' });
  assert.deepEqual(r.tokens, [
    "string:x",
    "keyword:pki",
    "string:a",
    "punct:{",
    "string:b",
    "string:c",
    "punct:}",
    "string:q r",
    "string:$m",
    "string:y",
    "NL",
  ]);
  assert.deepEqual(lex("$n\n", { n: "$m" }).tokens, ["punct:$", "string:m", "NL"]);
  assert.deepEqual(lex("a $nope b\nc\n").errors, ["1:macro 'nope' not defined"]);
  assert.deepEqual(lex("a $nope b\nc\n").tokens, ["string:a", "NL", "string:c", "NL"]);
});

test("a token of 8096 bytes or more is too long", () => {
  assert.deepEqual(lex(`${"a".repeat(9000)}\nb\n`).errors, ["1:string too long"]);
  assert.deepEqual(lex(`"${"a".repeat(9000)}"\nb\n`).tokens, ["NL", "string:b", "NL"]);
});

test("a line split by continuations at every byte offset gives the same tokens", () => {
  const line = 'listen on 127.0.0.1 port 25 tls pki mx.example.org auth <creds> tag "A B"';
  const want = lex(`${line}\n`).tokens;
  for (let i = 1; i < line.length; i++) {
    // Only where a space stands can a continuation go without gluing words together.
    if (line[i] !== " " || i > line.indexOf('"')) continue;
    const split = `${line.slice(0, i)} \\\n${line.slice(i)}\n`;
    assert.deepEqual(lex(split).tokens, want, `split at ${i}`);
  }
});

test("table files: lists, mappings, key: value, # @list, brackets, mixed entries refused", () => {
  assert.deepEqual(parseTableFile("# c\n\na\n b \n"), {
    ok: true,
    entries: { type: "list", values: ["a", "b"] },
  });
  assert.deepEqual(parseTableFile("root: alice, bob\npostmaster root\n"), {
    ok: true,
    entries: {
      type: "map",
      pairs: [
        ["root", "alice, bob"],
        ["postmaster", "root"],
      ],
    },
  });
  assert.deepEqual(parseTableFile("# @list\na b\nc: d\n"), {
    ok: true,
    entries: { type: "list", values: ["a b", "c: d"] },
  });
  assert.deepEqual(parseTableFile("[::1] local\n[2001:db8::1]: x\n"), {
    ok: true,
    entries: {
      type: "map",
      pairs: [
        ["[::1]", "local"],
        ["[2001:db8::1]", "x"],
      ],
    },
  });
  assert.deepEqual(parseTableFile(""), { ok: true, entries: { type: "empty" } });
  // One separator only: a value may begin with ':' (aliases(5) :include:).
  assert.deepEqual(parseTableFile("pm: :include:/etc/list\nx :y\n"), {
    ok: true,
    entries: {
      type: "map",
      pairs: [
        ["pm", ":include:/etc/list"],
        ["x", ":y"],
      ],
    },
  });
  const mixed = parseTableFile("a\nb c\n");
  assert.equal(mixed.ok, false);
  assert.equal(!mixed.ok && mixed.error.line, 2);
});

test("table files: # @list counts before the first entry only, as in OpenSMTPD", () => {
  assert.deepEqual(parseTableFile("# aliases\n\n#@list  \nx y\nz\n"), {
    ok: true,
    entries: { type: "list", values: ["x y", "z"] },
  });
  assert.deepEqual(parseTableFile("a: b\n# @list\nc d\n"), {
    ok: true,
    entries: {
      type: "map",
      pairs: [
        ["a", "b"],
        ["c", "d"],
      ],
    },
  });
  // after an entry it is a comment: the file still mixes pairs and a list entry
  const late = parseTableFile("k v\n# @list\nsolo\n");
  assert.equal(late.ok ? null : late.error.line, 3);
  assert.deepEqual(parseTableFile("# @list extra\na b\n"), {
    ok: true,
    entries: { type: "map", pairs: [["a", "b"]] },
  });
});
