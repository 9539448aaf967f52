#!/usr/bin/env node
// Carries the version changesets gave the packages (one fixed group: packages/smtpd's) into
// the native packaging: debian/changelog, the rpm spec, the FreeBSD and OpenBSD ports. Run
// after `changeset version` (npm run version-packages); `--check` only says what is stale.
//
//   node scripts/sync-version.mjs [--check]
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const FILES = {
  debian: "packaging/deb/debian/changelog",
  spec: "packaging/rpm/facteur.spec",
  freebsd: "packaging/bsd-ports/freebsd/mail/facteur/Makefile",
  openbsd: "packaging/bsd-ports/openbsd/mail/facteur/Makefile",
};
const MAINTAINER = "Facteur developers <dev@facteur.invalid>";

export const productVersion = (repo = REPO) =>
  JSON.parse(readFileSync(join(repo, "packages/smtpd/package.json"), "utf8")).version;

/** The version each packaging file carries now. */
export function packagingVersions(repo = REPO) {
  const read = (k) => readFileSync(join(repo, FILES[k]), "utf8");
  return {
    debian: /^facteur \(([^)-]+)-[^)]+\)/.exec(read("debian"))?.[1],
    spec: /^Version:\s*(\S+)/m.exec(read("spec"))?.[1],
    freebsd: /^DISTVERSION=\s*(\S+)/m.exec(read("freebsd"))?.[1],
    openbsd: /^DISTNAME =\s*facteur-(\S+)/m.exec(read("openbsd"))?.[1],
  };
}

/** Brings the files of `keys` to `version`, with a changelog entry dated `when`. */
export function update(version, when, keys = Object.keys(FILES), repo = REPO) {
  const edit = (k, f) => {
    if (!keys.includes(k)) return;
    const p = join(repo, FILES[k]);
    writeFileSync(p, f(readFileSync(p, "utf8")));
  };
  const note = `New upstream release ${version} (CHANGELOG.md of each package).`;
  edit(
    "debian",
    (t) =>
      `facteur (${version}-1) unstable; urgency=medium\n\n  * ${note}\n\n -- ${MAINTAINER}  ${when.toUTCString().replace("GMT", "+0000")}\n\n${t}`,
  );
  const day = when.toUTCString().slice(0, 16).replace(",", "");
  const [wd, d, mon, y] = day.split(" ");
  edit("spec", (t) =>
    t
      .replace(/^Version:(\s*)\S+/m, `Version:$1${version}`)
      .replace(/^Release:(\s*)\S+/m, "Release:$11")
      .replace(
        /^%changelog\n/m,
        `%changelog\n* ${wd} ${mon} ${d} ${y} ${MAINTAINER} - ${version}-1\n- ${note}\n\n`,
      ),
  );
  edit("freebsd", (t) => t.replace(/^DISTVERSION=(\s*)\S+/m, `DISTVERSION=$1${version}`));
  edit("openbsd", (t) =>
    t.replace(/^DISTNAME =(\s*)facteur-\S+/m, `DISTNAME =$1facteur-${version}`),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const version = productVersion();
  const stale = Object.entries(packagingVersions()).filter(([, v]) => v !== version);
  if (process.argv.includes("--check")) {
    for (const [k, v] of stale)
      process.stderr.write(`${FILES[k]} says ${v}, the packages ${version}\n`);
    process.exit(stale.length > 0 ? 1 : 0);
  }
  if (stale.length > 0) {
    const epoch = process.env.SOURCE_DATE_EPOCH;
    update(
      version,
      epoch ? new Date(Number(epoch) * 1000) : new Date(),
      stale.map(([k]) => k),
    );
    process.stdout.write(`packaging now at ${version}\n`);
  }
}
