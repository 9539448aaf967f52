#!/usr/bin/env node
// The release tarball distributions build from: the committed source (git archive), a
// Makefile, and vendor/ with the build tools' npm tarballs (typescript, esbuild and its
// binaries for Linux, FreeBSD and OpenBSD on x64 and arm64, @types/node), checked against
// package-lock.json, so `make` builds offline. Byte-identical for one SOURCE_DATE_EPOCH.
//
//   node scripts/release-tarball.mjs [--out out] [--ref HEAD]
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = join(REPO, "node_modules/.cache/facteur-vendor");

/** Build-time npm packages the tarball carries; nothing of them is installed. */
export const VENDORED = [
  "typescript",
  "esbuild",
  "@esbuild/linux-x64",
  "@esbuild/linux-arm64",
  "@esbuild/freebsd-x64",
  "@esbuild/freebsd-arm64",
  "@esbuild/openbsd-x64",
  "@esbuild/openbsd-arm64",
  "@types/node",
  "undici-types",
];

/** npm pack's file name: @scope/name@1.0 -> scope-name-1.0.tgz */
export const tgzName = (name, version) =>
  `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`;

function vendorTarball(name, lock) {
  const entry = lock.packages[`node_modules/${name}`];
  if (!entry) throw new Error(`${name} is not in package-lock.json`);
  const file = join(CACHE, tgzName(name, entry.version));
  if (!existsSync(file)) {
    mkdirSync(CACHE, { recursive: true });
    execFileSync(
      "npm",
      ["pack", `${name}@${entry.version}`, "--pack-destination", CACHE, "--loglevel=error"],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
  }
  const [algo, want] = entry.integrity.split("-");
  if (createHash(algo).update(readFileSync(file)).digest("base64") !== want) {
    rmSync(file);
    throw new Error(`${file}: does not match package-lock.json's integrity`);
  }
  return { name, version: entry.version, integrity: entry.integrity, file };
}

export async function releaseTarball(opts = {}) {
  const out = resolve(opts.out ?? join(REPO, "out"));
  const epoch = opts.epoch ?? process.env.SOURCE_DATE_EPOCH;
  if (!epoch) throw new Error("SOURCE_DATE_EPOCH is not set");
  const ref = opts.ref ?? "HEAD";
  const show = (path) =>
    execFileSync("git", ["-C", REPO, "show", `${ref}:${path}`], { encoding: "utf8" });
  const version = JSON.parse(show("packages/smtpd/package.json")).version;
  const name = `facteur-${version}`;
  const tmp = mkdtempSync(join(tmpdir(), "facteur-release-"));
  try {
    const tree = join(tmp, name);
    mkdirSync(tree);
    // .ci/ is the CI runner's, not the product's
    const archive = spawnSync(
      "git",
      ["-C", REPO, "archive", "--format=tar", ref, "--", ".", ":(exclude).ci"],
      {
        maxBuffer: 1 << 30,
      },
    );
    if (archive.status !== 0) throw new Error(`git archive: ${archive.stderr}`);
    execFileSync("tar", ["-xf", "-", "-C", tree], { input: archive.stdout });

    const lock = JSON.parse(show("package-lock.json"));
    mkdirSync(join(tree, "vendor"));
    const manifest = {};
    for (const pkg of VENDORED) {
      const v = vendorTarball(pkg, lock);
      copyFileSync(v.file, join(tree, "vendor", tgzName(pkg, v.version)));
      manifest[pkg] = { version: v.version, integrity: v.integrity, file: tgzName(pkg, v.version) };
    }
    writeFileSync(join(tree, "vendor/manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    copyFileSync(join(REPO, "packaging/release/Makefile"), join(tree, "Makefile"));

    mkdirSync(out, { recursive: true });
    const file = join(out, `${name}.tar.gz`);
    const tar = spawnSync(
      "tar",
      [
        "--sort=name",
        `--mtime=@${epoch}`,
        "--clamp-mtime",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        "--mode=go-w",
        "--format=pax",
        "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
        "-C",
        tmp,
        "-cf",
        "-",
        name,
      ],
      { maxBuffer: 1 << 30, env: { ...process.env, LC_ALL: "C" } },
    );
    if (tar.status !== 0) throw new Error(`tar: ${tar.stderr}`);
    const gz = spawnSync("gzip", ["-9n"], { input: tar.stdout, maxBuffer: 1 << 30 });
    if (gz.status !== 0) throw new Error(`gzip: ${gz.stderr}`);
    writeFileSync(file, gz.stdout);
    return file;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: "string" }, ref: { type: "string" } } });
  let epoch = process.env.SOURCE_DATE_EPOCH;
  if (!epoch)
    epoch = execFileSync("git", ["-C", REPO, "log", "-1", "--format=%ct", values.ref ?? "HEAD"], {
      encoding: "utf8",
    }).trim();
  releaseTarball({ out: values.out, ref: values.ref, epoch }).then(
    (f) => process.stdout.write(`${f}\n`),
    (e) => {
      process.stderr.write(`release-tarball: ${e.message}\n`);
      process.exit(1);
    },
  );
}
