#!/usr/bin/env node
// Builds every program from source with no network and no npm: what `make` runs in the
// release tarball (and debian/rules, the rpm spec, the BSD ports through it). The build
// tools come from vendor/*.tgz (scripts/release-tarball.mjs), unpacked into node_modules/
// and checked against vendor/manifest.json; a checkout with node_modules uses its own.
// Then tsc compiles each package in dependency order and scripts/bundle.mjs bundles the
// programs, as `npm run build` does through turbo.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const NM = join(REPO, "node_modules");
// smtpd -> asr, compat; extras -> compat (ARCHITECTURE.md): this order satisfies them.
const ORDER = ["compat", "asr", "smtpd", "extras"];

function unpackVendor() {
  const manifestFile = join(REPO, "vendor/manifest.json");
  if (!existsSync(manifestFile)) return;
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
  for (const [name, v] of Object.entries(manifest)) {
    const dest = join(NM, name);
    if (existsSync(join(dest, "package.json"))) continue;
    // esbuild's binaries for other systems are carried but not needed here
    const m = /^@esbuild\/(\w+)-(\w+)$/.exec(name);
    if (m && (m[1] !== process.platform || m[2] !== process.arch)) continue;
    const tgz = join(REPO, "vendor", v.file);
    const [algo, want] = v.integrity.split("-");
    if (createHash(algo).update(readFileSync(tgz)).digest("base64") !== want)
      throw new Error(`${tgz}: integrity mismatch`);
    mkdirSync(dest, { recursive: true });
    execFileSync("tar", ["-xzf", tgz, "-C", dest, "--strip-components=1", "--no-same-owner"]);
  }
}

function linkWorkspaces() {
  mkdirSync(join(NM, "@facteur"), { recursive: true });
  for (const p of ORDER) {
    const link = join(NM, "@facteur", p);
    if (!existsSync(link)) symlinkSync(`../../packages/${p}`, link);
  }
}

export function buildOffline() {
  unpackVendor();
  linkWorkspaces();
  const tsc = join(NM, "typescript/bin/tsc");
  if (!existsSync(tsc) || !existsSync(join(NM, "esbuild")))
    throw new Error(
      "no typescript or esbuild: not a release tarball (vendor/) nor a checkout (npm ci)",
    );
  for (const p of ORDER) {
    const dir = join(REPO, "packages", p);
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: dir, stdio: "inherit" });
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const bundle = pkg.scripts?.bundle;
    if (!bundle) continue;
    // "node ../../scripts/bundle.mjs dist/x.js:name ...": the same script, the same entries
    const args = bundle.split(/\s+/).filter((a) => /^dist\/.+:.+$/.test(a));
    execFileSync(process.execPath, [join(REPO, "scripts/bundle.mjs"), ...args], {
      cwd: dir,
      stdio: "inherit",
    });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    buildOffline();
  } catch (e) {
    process.stderr.write(`build-offline: ${e.message}\n`);
    process.exit(1);
  }
}
