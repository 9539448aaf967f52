#!/usr/bin/env node
// `npm run package` (turbo: build -> bundle -> sea -> package): everything users install and
// maintainers build from, in out/: the bundles, the .deb (arch:all and the self-contained
// flavour), the .rpm (noarch and self-contained), the FreeBSD .pkg, the BSD ports with their
// distinfo, the release tarball and SHA256SUMS. Reproducible under SOURCE_DATE_EPOCH (it
// defaults to the last commit's time).
//
//   node scripts/package.mjs [--out DIR] [--only deb,rpm,freebsd,ports,tarball,bundles,changelog]
//        [--ref COMMIT] [--no-sea] [--no-lint]
//
// The packages are built by the distributions' own tools (dpkg-buildpackage, rpmbuild) from a
// prepared tree that already holds the bundles, through the same debian/rules and spec a
// maintainer builds the release tarball with; scripts/stage.mjs lays out the files for all.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildFreebsdPkg } from "./freebsd-pkg.mjs";
import { releaseTarball } from "./release-tarball.mjs";
import { programs } from "./stage.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export const version = () =>
  JSON.parse(readFileSync(join(REPO, "packages/smtpd/package.json"), "utf8")).version;

/** SOURCE_DATE_EPOCH from the environment, else the last commit's time. */
export function sourceDateEpoch() {
  if (process.env.SOURCE_DATE_EPOCH) return process.env.SOURCE_DATE_EPOCH;
  const r = spawnSync("git", ["-C", REPO, "log", "-1", "--format=%ct"], { encoding: "utf8" });
  if (r.status === 0 && r.stdout.trim() !== "") return r.stdout.trim();
  throw new Error("set SOURCE_DATE_EPOCH (no git history to take it from)");
}

const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const sha256 = (f) => createHash("sha256").update(readFileSync(f)).digest("hex");

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`,
    );
  return r.stdout;
}

/**
 * The tree debian/rules and the spec build in: what the release tarball holds that staging
 * needs, plus the built bundles and compat's dist, so nothing is compiled again.
 */
export function preparedTree(dest, opts = {}) {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  const copy = (rel) => {
    if (existsSync(join(REPO, rel)))
      cpSync(join(REPO, rel), join(dest, rel), { recursive: true, dereference: false });
  };
  for (const f of readdirSync(join(REPO, "scripts")).filter((f) => f.endsWith(".mjs")))
    copy(`scripts/${f}`);
  for (const p of readdirSync(join(REPO, "packages"))) {
    for (const part of ["package.json", "bundle", "man", "etc"]) copy(`packages/${p}/${part}`);
  }
  copy("packages/compat/dist");
  copy("packaging");
  rmSync(join(dest, "packaging/sea/node_modules"), { recursive: true, force: true });
  copy("package.json");
  if (opts.seaDir) {
    mkdirSync(join(dest, "out"), { recursive: true });
    symlinkSync(opts.seaDir, join(dest, "out/sea"));
  }
  return dest;
}

/** dpkg-buildpackage in a copy of the tree with debian/ at its top; returns the .deb files. */
/** Single-binary targets (scripts/sea.mjs) and their names in dpkg and rpm. */
const SEA_ARCHES = [
  { target: "linux-x64", deb: "amd64", rpm: "x86_64" },
  { target: "linux-arm64", deb: "arm64", rpm: "aarch64" },
];

function buildDeb(tree, outDir, env, { standalone }) {
  const work = join(dirname(tree), "deb");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const src = join(work, basename(tree));
  cpSync(tree, src, { recursive: true });
  cpSync(join(tree, "packaging/deb/debian"), join(src, "debian"), { recursive: true });
  // Build-Depends are not checked (-d): nodejs may come from NodeSource, not from dpkg.
  const base = ["-us", "-uc", "--no-pre-clean", "-d"];
  run("dpkg-buildpackage", [...base, "-A"], { cwd: src, env });
  const host = run("dpkg", ["--print-architecture"]).trim();
  for (const a of standalone) {
    const cross = a.deb === host ? [] : [`-a${a.deb}`];
    run("dpkg-buildpackage", [...base, ...cross, "-B", "-Ppkg.facteur.standalone"], {
      cwd: src,
      env,
    });
  }
  const debs = readdirSync(work).filter((f) => f.endsWith(".deb"));
  for (const d of debs) renameSync(join(work, d), join(outDir, d));
  rmSync(work, { recursive: true, force: true });
  return debs.map((d) => join(outDir, d));
}

function lintian(debs, outDir) {
  const r = spawnSync("lintian", ["--fail-on", "error", "--display-info", ...debs], {
    encoding: "utf8",
  });
  writeFileSync(join(outDir, "lintian.txt"), r.stdout + r.stderr);
  return { ok: r.status === 0, text: r.stdout + r.stderr };
}

/** rpmbuild with the spec, in a private topdir; returns the .rpm files. */
function buildRpm(tree, outDir, env, { standalone }) {
  const top = join(dirname(tree), "rpm");
  rmSync(top, { recursive: true, force: true });
  for (const d of ["SPECS", "SOURCES", "BUILD", "RPMS", "SRPMS", "BUILDROOT"])
    mkdirSync(join(top, d), { recursive: true });
  const spec = join(tree, "packaging/rpm/facteur.spec");
  const defs = [
    ["_topdir", top],
    ["facteur_tree", tree],
    ["use_source_date_epoch_as_buildtime", "1"],
    ["clamp_mtime_to_source_date_epoch", "1"],
    ["_buildhost", "reproducible"],
    // no build ids or debug packages: there is nothing compiled, and the binary is Node's
    ["_build_id_links", "none"],
    ["debug_package", "%{nil}"],
  ].flatMap(([k, v]) => ["--define", `${k} ${v}`]);
  run("rpmbuild", ["-bb", "--nodeps", ...defs, spec], { env });
  for (const a of standalone)
    run("rpmbuild", ["-bb", "--nodeps", "--with", "standalone", "--target", a.rpm, ...defs, spec], {
      env,
    });
  const rpms = [];
  for (const arch of readdirSync(join(top, "RPMS")))
    for (const f of readdirSync(join(top, "RPMS", arch))) {
      renameSync(join(top, "RPMS", arch, f), join(outDir, f));
      rpms.push(join(outDir, f));
    }
  rmSync(top, { recursive: true, force: true });
  return rpms;
}

function rpmlint(tree, rpms, outDir) {
  if (!has("rpmlint")) return { ok: true, text: "rpmlint not installed\n" };
  const conf = join(tree, "packaging/rpm/rpmlint.toml");
  const r = spawnSync("rpmlint", ["-c", conf, ...rpms], { encoding: "utf8" });
  writeFileSync(join(outDir, "rpmlint.txt"), r.stdout + r.stderr);
  // rpmlint exits 64 on errors, 66 on "badness" over the threshold
  return { ok: r.status === 0, text: r.stdout + r.stderr };
}

/** The ports with the release tarball's distinfo, as a ports tree wants them. */
function ports(tree, outDir, tarball, epoch) {
  const dest = join(outDir, "bsd-ports");
  rmSync(dest, { recursive: true, force: true });
  cpSync(join(tree, "packaging/bsd-ports"), dest, { recursive: true });
  const name = basename(tarball);
  const size = statSync(tarball).size;
  writeFileSync(
    join(dest, "freebsd/mail/facteur/distinfo"),
    `TIMESTAMP = ${epoch}\nSHA256 (${name}) = ${sha256(tarball)}\nSIZE (${name}) = ${size}\n`,
  );
  writeFileSync(
    join(dest, "openbsd/mail/facteur/distinfo"),
    `SHA256 (${name}) = ${createHash("sha256").update(readFileSync(tarball)).digest("base64")}\nSIZE (${name}) = ${size}\n`,
  );
  return dest;
}

function bundles(tree, outDir) {
  const dest = join(outDir, "bundles");
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  for (const p of programs(tree)) cpSync(p.src, join(dest, `${p.name}.cjs`));
  cpSync(join(tree, "packages/smtpd/etc/smtpd.conf"), join(dest, "smtpd.conf"));
  for (const p of readdirSync(join(tree, "packages"))) {
    const man = join(tree, "packages", p, "man");
    if (existsSync(man)) cpSync(man, join(dest, "man"), { recursive: true });
  }
  return dest;
}

/**
 * The release notes `changeset version` will write from the pending changesets (packages/
 * smtpd's CHANGELOG.md), made in a scratch copy so the workspace is not bumped.
 */
function changelog(outDir) {
  const tmp = mkdtempSync(join(tmpdir(), "facteur-changeset-"));
  try {
    cpSync(join(REPO, ".changeset"), join(tmp, ".changeset"), { recursive: true });
    const root = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
    writeFileSync(join(tmp, "package.json"), JSON.stringify(root));
    for (const ws of root.workspaces) {
      mkdirSync(join(tmp, ws), { recursive: true });
      cpSync(join(REPO, ws, "package.json"), join(tmp, ws, "package.json"));
    }
    symlinkSync(join(REPO, "node_modules"), join(tmp, "node_modules"));
    run(process.execPath, [join(REPO, "node_modules/@changesets/cli/bin.js"), "version"], {
      cwd: tmp,
    });
    const file = join(tmp, "packages/smtpd/CHANGELOG.md");
    const text = existsSync(file)
      ? readFileSync(file, "utf8")
      : "# @facteur/smtpd\n\nNo pending changesets.\n";
    writeFileSync(join(outDir, "CHANGELOG.md"), text.replace(/^# @facteur\/smtpd/, "# Facteur"));
    return join(outDir, "CHANGELOG.md");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export async function packageAll(opts = {}) {
  const outDir = resolve(opts.out ?? join(REPO, "out"));
  const only = opts.only ?? ["bundles", "tarball", "deb", "rpm", "freebsd", "ports", "changelog"];
  const epoch = opts.epoch ?? sourceDateEpoch();
  const env = { ...process.env, SOURCE_DATE_EPOCH: epoch, LC_ALL: "C.UTF-8", TZ: "UTC" };
  const seaDir = opts.sea === false ? null : resolve(opts.seaDir ?? join(REPO, "out/sea"));
  // the standalone flavour for each single binary scripts/sea.mjs made
  const standalone =
    seaDir === null
      ? []
      : SEA_ARCHES.filter((a) => existsSync(join(seaDir, `facteur-${a.target}`)));
  mkdirSync(outDir, { recursive: true });
  const work = join(outDir, "build");
  const v = version();
  const made = [];
  const report = [];
  // Everything below reads this tree, not the workspace, so a rebuild of the bundles
  // while packages are made cannot mix two versions of them.
  const tree =
    opts.tree ??
    preparedTree(join(work, `facteur-${v}`), { seaDir: standalone.length > 0 ? seaDir : null });

  if (only.includes("bundles")) made.push(bundles(tree, outDir));
  if (only.includes("changelog")) made.push(changelog(outDir));
  let tarball = null;
  if (only.includes("tarball") || only.includes("ports")) {
    tarball = await releaseTarball({ out: outDir, epoch, ref: opts.ref });
    made.push(tarball);
  }
  if (only.includes("ports") && tarball) made.push(ports(tree, outDir, tarball, epoch));
  if (only.includes("deb")) {
    const debs = buildDeb(tree, outDir, env, { standalone });
    made.push(...debs);
    if (opts.lint !== false) {
      const l = lintian(debs, outDir);
      report.push(`lintian: ${l.ok ? "no errors" : "ERRORS"} (${join(outDir, "lintian.txt")})`);
      if (!l.ok) throw new Error(`lintian found errors:\n${l.text}`);
    }
  }
  if (only.includes("rpm")) {
    const rpms = buildRpm(tree, outDir, env, { standalone });
    made.push(...rpms);
    if (opts.lint !== false) {
      const l = rpmlint(tree, rpms, outDir);
      report.push(`rpmlint: ${l.ok ? "no errors" : "ERRORS"} (${join(outDir, "rpmlint.txt")})`);
      if (!l.ok) throw new Error(`rpmlint found errors:\n${l.text}`);
    }
  }
  if (only.includes("freebsd"))
    made.push(
      await buildFreebsdPkg({ repo: tree, out: outDir, epoch, work: join(work, "freebsd") }),
    );
  rmSync(work, { recursive: true, force: true });

  const files = readdirSync(outDir)
    .filter((f) => /\.(deb|rpm|pkg|tar\.gz|tar\.xz)$/.test(f))
    .sort();
  writeFileSync(
    join(outDir, "SHA256SUMS"),
    files.map((f) => `${sha256(join(outDir, f))}  ${f}\n`).join(""),
  );
  return { outDir, made, report, files };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      only: { type: "string" },
      "sea-dir": { type: "string" },
      ref: { type: "string" },
      "no-sea": { type: "boolean", default: false },
      "no-lint": { type: "boolean", default: false },
    },
  });
  try {
    const r = await packageAll({
      out: values.out,
      only: values.only?.split(","),
      seaDir: values["sea-dir"],
      ref: values.ref,
      sea: !values["no-sea"],
      lint: !values["no-lint"],
    });
    for (const line of r.report) process.stdout.write(`${line}\n`);
    for (const f of r.files)
      process.stdout.write(`${f}\t${(statSync(join(r.outDir, f)).size / 1e6).toFixed(2)} MB\n`);
  } catch (e) {
    process.stderr.write(`package: ${e.message}\n`);
    process.exit(1);
  }
}
