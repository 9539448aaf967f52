// Property and fuzz tests of the smtpd.conf parser and printer (gen.ts makes the configs):
// (a) generated valid configs print, parse (--syntax mode) and print again to the same text
// and tree; (b) random bytes and token soups never make parseConfig throw or hang, and what
// parses is printed back to the same tree; (c) the same for mutated valid configs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import type { Config } from "./ast.js";
import { genConfig, genConfigText, Rng } from "./gen.js";
import { KEYWORDS } from "./keywords.js";
import { type ParseResult, parseConfig } from "./parser.js";
import { printConfig, quote } from "./printer.js";
import { stripPos } from "./test-util.js";

const FILE = "gen.conf";
const PROPERTY_SEEDS = 300;
const MAX_PARSE_MS = 1000;

function parse(text: string): ParseResult {
  return parseConfig(text, { file: FILE });
}

/** Parse, failing the test when it throws or takes too long. */
function parseTimed(text: string, what: string): ParseResult {
  const t0 = performance.now();
  let r: ParseResult;
  try {
    r = parse(text);
  } catch (e) {
    assert.fail(
      `${what}: parseConfig threw ${(e as Error).stack}\n--- input ---\n${JSON.stringify(text)}`,
    );
  }
  const ms = performance.now() - t0;
  assert.ok(ms < MAX_PARSE_MS, `${what}: parse took ${ms.toFixed(0)} ms\n${JSON.stringify(text)}`);
  if (!r.ok) assert.ok(r.diagnostics.length > 0, `${what}: not ok but no diagnostic`);
  for (const d of r.diagnostics) {
    assert.equal(typeof d.message, "string");
    assert.ok(Number.isInteger(d.line) && d.line >= 0, `${what}: bad diagnostic line ${d.line}`);
  }
  return r;
}

const diagText = (r: ParseResult) =>
  r.diagnostics.map((d) => `  ${d.file}:${d.line}:${d.col}: ${d.message}`).join("\n");

/** The first directive where two trees differ, for failure messages. */
function firstDifference(a: Config, b: Config): string {
  const n = Math.max(a.directives.length, b.directives.length);
  for (let i = 0; i < n; i++) {
    const x = stripPos(a.directives[i]);
    const y = stripPos(b.directives[i]);
    if (!isDeepStrictEqual(x, y))
      return `directive #${i}:\n  want ${JSON.stringify(x)}\n  got  ${JSON.stringify(y)}`;
  }
  return "(no directive differs)";
}

/** Print a tree, parse the text and print again: same text, same tree, no diagnostic. */
function checkRoundTrip(config: Config, label: string): void {
  const text = printConfig(config);
  const r = parse(text);
  assert.ok(
    r.ok && r.diagnostics.length === 0,
    `${label}: the printed config does not parse cleanly\n${diagText(r)}\n--- text ---\n${text}`,
  );
  assert.ok(
    isDeepStrictEqual(stripPos(r.config), stripPos(config)),
    `${label}: the tree changed\n${firstDifference(config, r.config)}\n--- text ---\n${text}`,
  );
  const again = printConfig(r.config);
  assert.equal(again, text, `${label}: printing is not stable\n--- text ---\n${text}`);
}

const stats = { reprinted: 0 };

/**
 * Whatever parses cleanly must print back to the same tree (`include` lines print as
 * comments, so they are left out of the comparison).
 */
function checkReprint(r: ParseResult, label: string, input: string): void {
  if (!r.ok) return;
  stats.reprinted++;
  const config: Config = { directives: r.config.directives.filter((d) => d.kind !== "include") };
  const text = printConfig(config);
  const r2 = parse(text);
  const ctx = `\n--- input ---\n${JSON.stringify(input)}\n--- printed ---\n${text}`;
  const errs = r2.diagnostics.filter((d) => d.kind !== "warning");
  assert.equal(errs.length, 0, `${label}: the reprint does not parse\n${diagText(r2)}${ctx}`);
  assert.ok(
    isDeepStrictEqual(stripPos(r2.config), stripPos(config)),
    `${label}: the reprint parses to another tree\n${firstDifference(config, r2.config)}${ctx}`,
  );
  assert.equal(printConfig(r2.config), text, `${label}: printing is not stable${ctx}`);
}

// ---- (a) property test -------------------------------------------------------------------

test(`property: ${PROPERTY_SEEDS} generated configs round-trip through print and parse`, () => {
  for (let seed = 1; seed <= PROPERTY_SEEDS; seed++) {
    checkRoundTrip(genConfig(seed), `seed ${seed}`);
  }
});

test("property: generation is deterministic per seed", () => {
  for (const seed of [1, 42, 4242]) assert.equal(genConfigText(seed), genConfigText(seed));
  assert.notEqual(genConfigText(1), genConfigText(2));
});

test("property: generated configs cover every directive kind", () => {
  const kinds = new Set<string>();
  for (let seed = 1; seed <= PROPERTY_SEEDS; seed++)
    for (const d of genConfig(seed).directives) kinds.add(d.kind);
  const want = [
    "admd",
    "bounce",
    "ca",
    "pki",
    "pki-name",
    "mda-wrapper",
    "mda-limit",
    "mta-max-deferred",
    "mta-limit",
    "proc",
    "queue-compression",
    "queue-encryption",
    "queue-ttl",
    "scheduler-limit",
    "smtp-limit",
    "smtp-ciphers",
    "smtp-max-message-size",
    "smtp-sub-addr-delim",
    "srs-key",
    "srs-ttl",
    "table",
    "listen",
    "action",
    "match",
    "filter-proc",
    "filter-proc-exec",
    "filter-chain",
    "filter-builtin",
  ];
  assert.deepEqual(
    want.filter((k) => !kinds.has(k)),
    [],
  );
});

test("property: large generated configs round-trip", () => {
  for (let seed = 1000; seed < 1005; seed++)
    checkRoundTrip(genConfig(seed, { size: 600 }), `seed ${seed} (size 600)`);
});

// ---- values the printer once wrote back wrong --------------------------------------------

const reproduce = (text: string) => {
  const r = parse(text);
  assert.ok(r.ok, `the input itself must be valid\n${diagText(r)}`);
  checkRoundTrip(r.config, JSON.stringify(text));
  return printConfig(r.config);
};

test("a backslash before a double quote is not doubled", () => {
  // `"a\\"b"` is a, a kept backslash, an escaped quote, b
  assert.equal(
    reproduce('action "x" mda "a\\\\"b"\nmatch action "x"\n'),
    'action "x" mda "a\\\\"b"\nmatch action "x"\n',
  );
  assert.equal(quote('\\"'), '"\\\\""');
  assert.equal(quote("\\ \\\t"), '"\\\\ \\\\\t"');
});

test("a value ending in a backslash is written bare when it is a word", () => {
  assert.equal(
    reproduce('action "x" mda a\\\\\nmatch action "x"\n'),
    'action "x" mda a\\\\\nmatch action "x"\n',
  );
  assert.equal(quote("a\\b\\"), "a\\\\b\\\\");
});

test("a value ending in a backslash that is no word keeps it from the closing quote", () => {
  // inside quotes a backslash-newline is dropped: `"a b\\` newline `"` is `a b\`
  assert.equal(quote("a b\\"), '"a b\\\\\n"');
  assert.equal(quote("\\"), '"\\\\\n"');
  reproduce('action "x" mda "a b\\\\\n"\nmatch action "x"\n');
  reproduce('smtp sub-addr-delim "\\\\\n"\nmatch reject\n');
});

test("a trailing backslash in a list entry keeps the entries apart", () => {
  assert.equal(
    reproduce("table t { a\\\\ b }\nmatch reject\n"),
    'table "t" { a\\\\, "b" }\nmatch reject\n',
  );
  reproduce('table t { "x y\\\\\n" = "\\\\\n" }\nmatch reject\n');
});

test("`smtp max-message-size -0` is written as the number it was", () => {
  assert.equal(
    reproduce("smtp max-message-size -0\nmatch reject\n"),
    "smtp max-message-size -0\nmatch reject\n",
  );
});

test("numbers are written as they were, past 2^53 and with leading zeros", () => {
  const text = [
    "smtp limit max-rcpt 9223372036854775807 max-mails -9223372036854775808",
    "mta max-deferred 9007199254740993",
    'mta limit inet4 "task-hiwat" 007',
    "listen on lo port 025",
    "match reject",
    "",
  ].join("\n");
  const r = parse(text);
  assert.ok(r.ok, diagText(r));
  const limit = r.config.directives[0];
  assert.ok(limit?.kind === "smtp-limit");
  assert.deepEqual(limit.limits, [
    { key: "max-rcpt", value: 2 ** 63, text: "9223372036854775807" },
    { key: "max-mails", value: -(2 ** 63), text: "-9223372036854775808" },
  ]);
  const printed = reproduce(text);
  assert.match(
    printed,
    /^smtp limit "max-rcpt" 9223372036854775807 "max-mails" -9223372036854775808$/m,
  );
  assert.match(printed, /^mta max-deferred 9007199254740993$/m);
  assert.match(printed, /^mta limit inet4 "task-hiwat" 007$/m);
  assert.match(printed, /^listen on "lo" port 025$/m);
  // out of int64 is still refused, as strtonum refuses it
  const big = parse("smtp limit max-rcpt 9223372036854775808\nmatch reject\n");
  assert.deepEqual(
    big.diagnostics.map((d) => d.message),
    ['"9223372036854775808" invalid number: too large'],
  );
});

// ---- (b) fuzz: random bytes and token soups --------------------------------------------

const SOUP_WORDS: readonly string[] = [
  ...KEYWORDS,
  "{",
  "}",
  "<",
  ">",
  ",",
  "=",
  "=>",
  "!",
  "(",
  ")",
  "-",
  "#",
  "# comment",
  '"',
  "'",
  "\\",
  "\\\n",
  "\n",
  "\n",
  "\n",
  '""',
  '"a b"',
  "'it''s'",
  '"\\" x"',
  '"a\\ b"',
  '"unterminated',
  '"#$x"',
  "$x",
  "$y",
  "$undefined",
  "$",
  "x = 1",
  'y = "match reject"',
  "x=match",
  "0",
  "25",
  "-1",
  "65536",
  "99999999999999999999",
  "9223372036854775807",
  "4d",
  "1s",
  "0d",
  "35M",
  "1.5G",
  "/etc/mail/aliases",
  "file:/etc/x",
  "getpwnam",
  "lo",
  "mx.example.com",
  "*",
  "a",
  "b",
  "é",
  "😀",
  "\0",
  "\r",
  "\t",
  "\v",
];

function soup(r: Rng): string {
  const n = r.int(0, 60);
  let s = "";
  for (let i = 0; i < n; i++) {
    s += r.pick(SOUP_WORDS);
    s += r.chance(0.85) ? " " : r.chance(0.5) ? "" : "\t";
  }
  return s;
}

/** A soup made of plausible lines: a directive keyword, then words from the grammar. */
function lineSoup(r: Rng): string {
  const starts = [
    "listen on",
    "action",
    "match",
    "filter",
    "table",
    "pki",
    "ca",
    "smtp",
    "mta",
    "mda",
    "queue",
    "srs",
    "bounce",
    "proc",
    "scheduler",
    "admd",
    "include",
    "x =",
  ];
  const lines: string[] = [];
  const n = r.int(1, 12);
  for (let i = 0; i < n; i++) {
    let l = r.pick(starts);
    const k = r.int(0, 10);
    for (let j = 0; j < k; j++) l += ` ${r.pick(SOUP_WORDS.filter((w) => w !== "\n"))}`;
    lines.push(l);
  }
  if (r.chance(0.5)) lines.push("match reject");
  return lines.join("\n");
}

function randomBytes(r: Rng): string {
  const n = r.int(0, 300);
  const bytes = new Uint8Array(n);
  // printable-heavy, with control bytes and high bytes
  for (let i = 0; i < n; i++)
    bytes[i] = r.chance(0.7) ? r.int(0x20, 0x7e) : r.chance(0.3) ? 10 : r.int(0, 255);
  return r.chance(0.5)
    ? Buffer.from(bytes).toString("latin1")
    : Buffer.from(bytes).toString("utf8");
}

test("fuzz: random bytes never throw, always explain a failure, parse in bounded time", () => {
  const r = new Rng(0xb17e5);
  for (let i = 0; i < 1500; i++) {
    const text = randomBytes(r);
    const res = parseTimed(text, `bytes #${i}`);
    checkReprint(res, `bytes #${i}`, text);
  }
});

test("fuzz: token soups never throw, always explain a failure, parse in bounded time", () => {
  const r = new Rng(0x50c9);
  for (let i = 0; i < 2500; i++) {
    const text = i % 2 === 0 ? soup(r) : lineSoup(r);
    const res = parseTimed(text, `soup #${i}`);
    checkReprint(res, `soup #${i}`, text);
  }
});

test("fuzz: pathological inputs parse in bounded time", () => {
  const inputs = [
    "{".repeat(20000),
    `table t {${" a,".repeat(20000)} }\nmatch reject`,
    `${"\\\n".repeat(20000)}match reject`,
    `"${"\\".repeat(20000)}`,
    `x = "$x"\n${"$x ".repeat(2000)}`,
    "a".repeat(9000),
    `"${"a".repeat(9000)}"`,
    "!".repeat(50000),
    `match ${"! ".repeat(5000)}reject`,
    `${"match reject\n".repeat(20000)}`,
    `${"#".repeat(100000)}\nmatch reject`,
    "\n".repeat(100000),
  ];
  for (const [i, text] of inputs.entries()) parseTimed(text, `pathological #${i}`);
});

// ---- (c) mutation fuzz -------------------------------------------------------------------

/** Tokens of a printed config, whitespace kept as separate pieces. */
const tokenize = (s: string): string[] => s.match(/"(?:\\.|[^"\\])*"|\s+|[^\s"]+/g) ?? [];

function mutate(r: Rng, text: string): string {
  const byToken = r.chance(0.6);
  const parts = byToken ? tokenize(text) : [...text];
  if (parts.length === 0) return text;
  const k = r.int(1, 4);
  for (let i = 0; i < k; i++) {
    const a = r.int(0, parts.length - 1);
    const b = r.int(0, parts.length - 1);
    switch (r.int(0, 4)) {
      case 0:
        parts.splice(a, 1);
        break;
      case 1:
        parts.splice(a, 0, parts[b]!);
        break;
      case 2:
        [parts[a], parts[b]] = [parts[b]!, parts[a]!];
        break;
      case 3:
        parts.splice(
          a,
          0,
          byToken ? ` ${r.pick(SOUP_WORDS)} ` : r.pick([..."\"'\\{}<>!,=#$\n \0é"]),
        );
        break;
      default:
        parts[a] = byToken ? r.pick(SOUP_WORDS) : String.fromCharCode(r.int(0, 127));
    }
  }
  return parts.join("");
}

test("mutation fuzz: mutated valid configs never throw and parse in bounded time", () => {
  const r = new Rng(0x3a7e);
  let n = 0;
  for (let seed = 1; seed <= 150; seed++) {
    const text = genConfigText(seed, { size: 15 });
    for (let j = 0; j < 12; j++) {
      const m = mutate(r, text);
      const res = parseTimed(m, `mutation ${seed}/${j}`);
      checkReprint(res, `mutation ${seed}/${j}`, m);
      n++;
    }
  }
  assert.equal(n, 1800);
});

test("fuzz summary: reprinted parses were checked", (t) => {
  // ran after the fuzz tests above (node:test runs a file's tests in order)
  t.diagnostic(`fuzz inputs that parsed cleanly and were reprinted: ${stats.reprinted}`);
  assert.ok(stats.reprinted > 100, `only ${stats.reprinted} fuzz inputs parsed cleanly`);
});
