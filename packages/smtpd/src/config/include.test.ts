// `include` in the parser (full check): included files are read where the directive stands,
// a file already being read is refused with the chain that led back to it, nesting has a
// limit, and every error is reported once, grouped by file and sorted by line.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDiagnostic } from "./errors.js";
import { MAX_INCLUDE_DEPTH, type ParseHost, parseConfig } from "./parser.js";

/** Files in memory; `./x` and `x` are the same file, as realpath(3) would say. */
function host(files: Record<string, string>): ParseHost {
  const real = (path: string) => path.replace(/^\.\//, "");
  return {
    readInclude: (path) => {
      const text = files[real(path)];
      return text === undefined ? { error: "No such file or directory" } : { text };
    },
    realPath: real,
    readTableFile: () => ({ shape: "any" }),
    backendExists: () => true,
  };
}

function check(main: string, files: Record<string, string>): string[] {
  const r = parseConfig(files[main]!, { file: main, host: host(files) });
  return r.diagnostics.map(formatDiagnostic);
}

test("a file that includes itself is refused at the include line", () => {
  const files = { "self.conf": 'action "a" relay\ninclude "self.conf"\nmatch action "a"\n' };
  assert.deepEqual(check("self.conf", files), [
    "self.conf:2: failed to include file self.conf: include cycle self.conf -> self.conf",
  ]);
});

test("a cycle through other files, under other names, is refused with its chain", () => {
  const files = {
    "main.conf": 'include "a.conf"\nmatch reject\n',
    "a.conf": '\ninclude "b.conf"\n',
    "b.conf": 'include "./main.conf"\n',
  };
  assert.deepEqual(check("main.conf", files), [
    "b.conf:1: failed to include file ./main.conf: include cycle main.conf -> a.conf -> b.conf -> ./main.conf",
  ]);
});

test("the same file included twice, one after the other, is no cycle", () => {
  const files = {
    "main.conf": 'include "m.conf"\ninclude "m.conf"\n',
    "m.conf": "match reject\n",
  };
  const r = parseConfig(files["main.conf"], { file: "main.conf", host: host(files) });
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.config.directives.filter((d) => d.kind === "match").length, 2);
});

test(`includes nest at most ${MAX_INCLUDE_DEPTH} files deep`, () => {
  const files: Record<string, string> = { "main.conf": 'include "f1.conf"\nmatch reject\n' };
  for (let i = 1; i <= MAX_INCLUDE_DEPTH + 3; i++)
    files[`f${i}.conf`] = `include "f${i + 1}.conf"\n`;
  assert.deepEqual(check("main.conf", files), [
    `f${MAX_INCLUDE_DEPTH}.conf:1: failed to include file f${MAX_INCLUDE_DEPTH + 1}.conf: includes nested more than ${MAX_INCLUDE_DEPTH} deep`,
  ]);
  delete files[`f${MAX_INCLUDE_DEPTH}.conf`];
  files[`f${MAX_INCLUDE_DEPTH}.conf`] = "";
  assert.deepEqual(check("main.conf", files), []);
});

test("errors are grouped by file in the order met, then sorted by line", () => {
  const files = {
    // a lexical error on line 1, the included file's error, then errors on lines 3 and 4
    "main.conf": 'listen on $nope\ninclude "inc.conf"\ninclude "none.conf"\nbogus\n',
    // a string left open ends with its file, not in the middle of main.conf
    "inc.conf": 'match reject\ntable t "unterminated\n',
  };
  assert.deepEqual(check("main.conf", files), [
    "main.conf:1: macro 'nope' not defined",
    "main.conf:3: failed to include file none.conf: No such file or directory",
    'main.conf:4: syntax error: unknown directive "bogus"',
    "inc.conf:2: reached end of file while parsing quoted string",
  ]);
  // the included file's error comes first when it is met first
  const g = {
    "g.conf": 'include "inc.conf"\nbogus\n',
    "inc.conf": "match reject\nbad line\n\n\n",
  };
  assert.deepEqual(check("g.conf", g), [
    'inc.conf:2: syntax error: unknown directive "bad"',
    'g.conf:2: syntax error: unknown directive "bogus"',
  ]);
});

test("--syntax reads no include, so finds no cycle", () => {
  const r = parseConfig('include "x.conf"\nmatch reject\n', { file: "x.conf" });
  assert.deepEqual(r.diagnostics, []);
});
