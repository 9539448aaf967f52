#!/usr/bin/env node
// Single binaries: every bundle (smtpd, smtpctl, the libexec helpers) in one Node Single
// Executable Application per target, a multi-call program that acts by the name it is run
// as. The Node base binaries are the pinned node-linux-* npm packages (packaging/sea/
// package.json, checked against their integrity); the blob is made by that same Node.
//
//   node scripts/sea.mjs [--out out/sea] [--target linux-x64,linux-arm64] [--no-check]
//
// Writes OUT/main.cjs, OUT/facteur-<target> and OUT/SHA256SUMS. A target whose tools are
// missing (the arm64 strip, say) is reported and skipped, not faked.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { programs, SMTPCTL_NAMES } from "./stage.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TOOLS = join(REPO, "packaging/sea");
const CACHE = join(REPO, "node_modules/.cache/facteur-sea");
const FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

export function pins() {
  return JSON.parse(readFileSync(join(TOOLS, "package.json"), "utf8")).facteur.node;
}

const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const sha256 = (file) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** The pinned npm tarball of a Node build, fetched once with npm and checked. */
function nodeTarball(target) {
  const { version, targets } = pins();
  const t = targets[target];
  const file = join(CACHE, `${t.package}-${version}.tgz`);
  if (!existsSync(file)) {
    mkdirSync(CACHE, { recursive: true });
    execFileSync(
      "npm",
      ["pack", `${t.package}@${version}`, "--pack-destination", CACHE, "--loglevel=error"],
      {
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
  }
  const [algo, want] = t.integrity.split("-");
  const got = createHash(algo).update(readFileSync(file)).digest("base64");
  if (got !== want) {
    rmSync(file);
    throw new Error(`${file}: integrity mismatch (want ${t.integrity})`);
  }
  return file;
}

/** bin/node of a target, unpacked into the cache. */
export function nodeBinary(target) {
  const { version, targets } = pins();
  const dir = join(CACHE, `${targets[target].package}-${version}`);
  const bin = join(dir, "package/bin/node");
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    execFileSync("tar", ["-xzf", nodeTarball(target), "-C", dir, "package/bin/node"]);
  }
  return bin;
}

function postject() {
  const cli = join(TOOLS, "node_modules/postject/dist/cli.js");
  if (!existsSync(cli))
    execFileSync(
      "npm",
      ["ci", "--prefix", TOOLS, "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
      { stdio: "inherit" },
    );
  return cli;
}

/**
 * The SEA's main script: a prologue that finds the program from argv, then each bundle as a
 * function (a SEA can require built-ins only, which is all the bundles need).
 */
export function mainScript(repo = REPO) {
  const progs = programs(repo);
  const names = {};
  for (const p of progs) names[p.name] = p.name;
  for (const n of SMTPCTL_NAMES) names[n] = "smtpctl";
  const version = JSON.parse(
    readFileSync(join(repo, "packages/smtpd/package.json"), "utf8"),
  ).version;
  const bodies = progs
    .map((p) => {
      const code = readFileSync(p.src, "utf8").replace(/^#!.*\n/, "");
      return `${JSON.stringify(p.name)}: function (exports, require, module, __filename, __dirname) {\n${code}\n}`;
    })
    .join(",\n");
  return `// Facteur ${version} single binary (scripts/sea.mjs): one Node for every program, picked
// by the name it runs as: ${Object.keys(names).sort().join(", ")}.
"use strict";
(function () {
  const fs = require("node:fs");
  const path = require("node:path");
  const NAMES = ${JSON.stringify(names)};
  const MAINS = {
${bodies}
  };
  let self = process.execPath;
  try { self = fs.realpathSync(self); } catch {}
  const isSelf = (p) => { try { return fs.realpathSync(p) === self; } catch { return false; } };
  // Node gives a SEA its argv[0] as argv[1], as typed: make it the path of the link, as
  // Node does for a script, so the daemon can re-run it (fork) and find smtpctl beside it.
  const locate = (name) => {
    if (name.includes("/")) return path.resolve(name);
    for (const dir of (process.env.PATH || "").split(":")) {
      const p = path.join(dir || ".", name);
      if (isSelf(p)) return path.resolve(p);
    }
    return name;
  };
  let script = locate(process.argv[1] || "");
  let rest = process.argv.slice(2);
  // A parent running this binary on a program's path, as \`node script\` (fork(entry), the
  // offline replay's spawn(execPath, [smtpctl, ...])): that path names the program.
  if (rest.length > 0 && rest[0].includes("/") && isSelf(rest[0])) {
    script = path.resolve(rest[0]);
    rest = rest.slice(1);
  }
  const base = (p) => path.basename(p).replace(/\\.(c|m)?js$/, "");
  const name = NAMES[base(script)] ? base(script) : NAMES[base(process.argv0)] ? base(process.argv0) : null;
  if (name === null) {
    const args = process.argv.slice(2);
    if (args[0] === "--version" || args[0] === "-V") {
      process.stdout.write("facteur ${version} (node " + process.version + ")\\n");
      return;
    }
    process.stderr.write("facteur ${version}: run me through a link named " + Object.keys(NAMES).sort().join(", ") + "\\n");
    process.exitCode = 64;
    return;
  }
  process.argv.splice(1, process.argv.length - 1, script, ...rest);
  const module = { exports: {}, id: ".", filename: script, loaded: false };
  MAINS[NAMES[name]].call(module.exports, module.exports, require, module, script, path.dirname(script));
})();
`;
}

/** Runs a SEA through a link named smtpd: the configuration check of the default config. */
function smokeTest(repo, bin, runner) {
  const dir = mkdtempSync(join(tmpdir(), "facteur-sea-"));
  try {
    symlinkSync(bin, join(dir, "smtpd"));
    const conf = join(repo, "packages/smtpd/etc/smtpd.conf");
    const cmd = [...runner, join(dir, "smtpd"), "-n", "--syntax", "-f", conf];
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${bin}: smtpd -n failed: ${r.stderr}${r.error ?? ""}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function buildSea(opts = {}) {
  const out = resolve(opts.out ?? join(REPO, "out/sea"));
  const wanted = opts.targets ?? Object.keys(pins().targets);
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(out)) if (f.startsWith("facteur-")) rmSync(join(out, f));
  const main = join(out, "main.cjs");
  const repo = opts.repo ?? REPO;
  writeFileSync(main, mainScript(repo));
  // The blob is made by the pinned Node; the x64 one runs here and its blob (no snapshot, no
  // code cache) suits both architectures.
  const host = `linux-${process.arch}`;
  const maker = nodeBinary(pins().targets[host] ? host : "linux-x64");
  const blob = join(out, "facteur.blob");
  const config = join(out, "sea-config.json");
  writeFileSync(
    config,
    JSON.stringify({
      // relative: the main's path is recorded in the blob
      main: "main.cjs",
      output: "facteur.blob",
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: false,
    }),
  );
  execFileSync(maker, ["--experimental-sea-config", config], { cwd: out, stdio: "ignore" });
  const cli = postject();
  const built = [];
  for (const target of wanted) {
    const t = pins().targets[target];
    if (!t) throw new Error(`unknown target ${target}`);
    if (!has(t.strip)) {
      process.stderr.write(`sea: ${target} skipped: ${t.strip} is not installed (ci/setup)\n`);
      continue;
    }
    const bin = join(out, `facteur-${target}`);
    rmSync(bin, { force: true });
    copyFileSync(nodeBinary(target), bin);
    chmodSync(bin, 0o755);
    execFileSync(t.strip, [bin]);
    const r = spawnSync(
      process.execPath,
      [cli, bin, "NODE_SEA_BLOB", blob, "--sentinel-fuse", FUSE],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`postject ${target}: ${r.stderr}`);
    if (opts.check !== false) {
      if (target === host) smokeTest(repo, bin, []);
      else if (t.qemu && has(t.qemu))
        smokeTest(repo, bin, [t.qemu, "-L", "/usr/aarch64-linux-gnu"]);
      else process.stderr.write(`sea: ${target} not run: no ${t.qemu ?? "emulator"}\n`);
    }
    built.push(target);
  }
  rmSync(blob, { force: true });
  rmSync(config, { force: true });
  const sums = readdirSync(out)
    .filter((f) => f.startsWith("facteur-"))
    .sort()
    .map((f) => `${sha256(join(out, f))}  ${f}\n`)
    .join("");
  writeFileSync(join(out, "SHA256SUMS"), sums);
  return { out, built };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      target: { type: "string" },
      "no-check": { type: "boolean", default: false },
    },
  });
  try {
    const { out, built } = buildSea({
      out: values.out,
      targets: values.target?.split(","),
      check: !values["no-check"],
    });
    process.stdout.write(`sea: ${built.join(", ")} in ${out}\n`);
  } catch (e) {
    process.stderr.write(`sea: ${e.message}\n`);
    process.exit(1);
  }
}
