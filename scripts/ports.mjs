#!/usr/bin/env node
// The packing lists of the BSD ports, made from what scripts/stage.mjs installs, so a file
// added to the layout (a new man page, a new helper) cannot be forgotten in a port.
//
//   node scripts/ports.mjs --write     rewrite freebsd pkg-plist and openbsd pkg/PLIST
//   node scripts/ports.mjs --check     exit 1 if a committed list differs
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadPlatforms, stage } from "./stage.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const FREEBSD_PLIST = "packaging/bsd-ports/freebsd/mail/facteur/pkg-plist";
export const OPENBSD_PLIST = "packaging/bsd-ports/openbsd/mail/facteur/pkg/PLIST";
/** OpenBSD base's ids for _smtpd/_smtpq (/etc/master.passwd): the port reuses the users. */
const OPENBSD_IDS = { _smtpd: [95, "SMTP Daemon"], _smtpq: [103, "SMTPD Queue"] };

const rel = (path, prefix) =>
  path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : path;

/** FreeBSD pkg-plist, relative to PREFIX: the config as @sample, man pages compressed. */
export function freebsdPlist(entries, prefix) {
  const lines = entries.map((e) => {
    const r = rel(e.path, prefix);
    if (e.role === "config") return `@sample ${r}`;
    return e.type === "dir" ? `@dir ${r}` : r;
  });
  return `${lines.join("\n")}\n`;
}

/**
 * OpenBSD PLIST: users first, then the tree in order with the package's own directories
 * (trailing /), @man for pages, @rcscript, and @sample of the configuration after its
 * example.
 */
export function openbsdPlist(entries, facts) {
  const prefix = facts.prefix;
  const lines = [];
  for (const [u, [id]] of Object.entries(OPENBSD_IDS)) lines.push(`@newgroup ${u}:${id}`);
  for (const [u, [id, gecos]] of Object.entries(OPENBSD_IDS))
    lines.push(`@newuser ${u}:${id}:${u}::${gecos}:/var/empty:/sbin/nologin`);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a variable of the OpenBSD PLIST
  lines.push("@rcscript ${RCDIR}/facteur");
  const own = new Set();
  for (const e of entries) {
    const r = rel(e.path, prefix);
    // the package's own directories (under .../facteur), each before its first file
    const parents = [];
    for (let d = posix.dirname(r); d !== "." && d.includes("facteur"); d = posix.dirname(d))
      parents.unshift(`${d}/`);
    for (const d of parents) {
      if (own.has(d)) continue;
      own.add(d);
      lines.push(d);
    }
    lines.push(r.startsWith("man/") ? `@man ${r}` : r);
    // @sample copies the example to the configuration once, and only if it is missing
    if (e.role === "config") lines.push(`@sample \${SYSCONFDIR}/${rel(facts.configPath, "/etc")}`);
  }
  return `${lines.join("\n")}\n`;
}

export async function portLists() {
  const facts = await loadPlatforms(REPO);
  const dir = mkdtempSync(join(tmpdir(), "facteur-ports-"));
  try {
    const fb = await stage({
      platform: "freebsd",
      dest: join(dir, "freebsd"),
      service: false,
      gzipMan: true,
    });
    const ob = await stage({ platform: "openbsd", dest: join(dir, "openbsd"), service: false });
    return {
      [FREEBSD_PLIST]: freebsdPlist(fb, facts.freebsd.prefix),
      [OPENBSD_PLIST]: openbsdPlist(ob, facts.openbsd),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { write: { type: "boolean" }, check: { type: "boolean" } },
  });
  const lists = await portLists();
  let stale = 0;
  for (const [file, text] of Object.entries(lists)) {
    const full = join(REPO, file);
    if (values.write) writeFileSync(full, text);
    else if (readFileSync(full, "utf8") !== text) {
      process.stderr.write(`${file} is stale: node scripts/ports.mjs --write\n`);
      stale++;
    }
    if (!values.write && !values.check) process.stdout.write(`== ${file}\n${text}`);
  }
  process.exit(stale > 0 ? 1 : 0);
}
