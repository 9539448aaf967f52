import assert from "node:assert/strict";
import { test } from "node:test";
import { getopt, withoutRoot } from "./getopt.js";

const OPTS = "A:B:b:E::e:F:f:iJ::L:mN:o:p:qr:R:StvV:x";

test("flags group, arguments attach or follow, operands may come first (glibc getopt)", () => {
  assert.deepEqual(getopt(["-ti", "-f", "a@b", "-Fme", "rcpt", "-oi", "-v"], OPTS), {
    opts: [
      { opt: "t", arg: null },
      { opt: "i", arg: null },
      { opt: "f", arg: "a@b" },
      { opt: "F", arg: "me" },
      { opt: "o", arg: "i" },
      { opt: "v", arg: null },
    ],
    operands: ["rcpt"],
    root: null,
  });
});

test("optional arguments attach only; -- ends the options; --root is taken out", () => {
  assert.deepEqual(getopt(["-E", "-Jx", "--root", "/r", "--", "-f", "x"], OPTS), {
    opts: [
      { opt: "E", arg: null },
      { opt: "J", arg: "x" },
    ],
    operands: ["-f", "x"],
    root: "/r",
  });
  assert.deepEqual(getopt(["--root=/r", "u"], OPTS), { opts: [], operands: ["u"], root: "/r" });
});

test("unknown options and missing arguments are errors", () => {
  assert.deepEqual(getopt(["-C", "x"], OPTS), { error: "invalid option -- 'C'" });
  assert.deepEqual(getopt(["-f"], OPTS), { error: "option requires an argument -- 'f'" });
  assert.deepEqual(getopt(["--root"], OPTS), { error: "option --root requires an argument" });
});

test("withoutRoot drops --root DIR and --root=DIR, not what follows --", () => {
  assert.deepEqual(withoutRoot(["--root", "/r", "-t", "--root=/s", "u", "--", "--root", "x"]), [
    "-t",
    "u",
    "--",
    "--root",
    "x",
  ]);
});
