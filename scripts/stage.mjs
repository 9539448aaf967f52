#!/usr/bin/env node
// The one staging step: lays out the installed files of one platform (debian, rpm, freebsd,
// openbsd) under DEST from the bundles (or a single binary), the man pages and the default
// configuration. debian/rules, the rpm spec, the BSD ports and scripts/package.mjs call it, so
// the file layout is written here only; paths and users come from @facteur/compat's facts.
//
//   node scripts/stage.mjs --platform debian --dest DIR [--flavour bundle|sea] [--sea-bin FILE]
//        [--no-service] [--gzip-man] [--manifest FILE] [--print]
//
// --flavour sea installs FILE (a Node single executable, scripts/sea.mjs) as libexec/facteur
// and makes every program a link to it; --no-service leaves out the service files (the ports
// frameworks install their own rc scripts from the same templates); --manifest writes the
// list of what was staged as JSON; --print lists it on standard output.
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** What each platform adds to compat's facts: where man pages, services and node live. */
export const LAYOUT = {
  debian: {
    node: "/usr/bin/node",
    mandir: "/usr/share/man",
    // bookworm's debhelper and lintian want units under /lib (usr-merge moves are for trixie)
    unitDir: "/lib/systemd/system",
    sysusersDir: "/usr/lib/sysusers.d",
    service: "systemd",
    configAs: "file",
    // Debian's MTAs: /usr/sbin/sendmail (policy 11.6), mailq and newaliases in /usr/bin too
    mtaLinks: {
      "/usr/sbin/sendmail": "smtpctl",
      "/usr/sbin/mailq": "smtpctl",
      "/usr/sbin/newaliases": "smtpctl",
      "/usr/sbin/makemap": "smtpctl",
      "/usr/bin/mailq": "smtpctl",
      "/usr/bin/newaliases": "smtpctl",
      "/usr/lib/sendmail": "smtpctl",
    },
  },
  rpm: {
    node: "/usr/bin/node",
    mandir: "/usr/share/man",
    unitDir: "/usr/lib/systemd/system",
    sysusersDir: "/usr/lib/sysusers.d",
    service: "systemd",
    configAs: "file",
    // /usr/sbin/sendmail and friends belong to the `mta` alternatives group (the spec's %post)
    mtaLinks: {},
  },
  freebsd: {
    node: "/usr/local/bin/node",
    mandir: "/usr/local/share/man",
    service: "freebsd-rc",
    // the port installs smtpd.conf.sample; pkg's @sample copies it to smtpd.conf once
    configAs: "sample",
    // mailer.conf(5) points at libexec/facteur/mta/* (pkg-message): no links in sbin
    mtaLinks: {},
  },
  openbsd: {
    node: "/usr/local/bin/node",
    mandir: "/usr/local/man",
    service: "openbsd-rc",
    configAs: "example",
    mtaLinks: {},
  },
};

/** Names smtpctl also answers to (packages/smtpd/src/cli/multicall.ts); each gets a link. */
export const SMTPCTL_NAMES = ["sendmail", "send-mail", "mailq", "newaliases", "makemap"];

export async function loadPlatforms(repo = REPO) {
  const compat = join(repo, "packages/compat/dist/platform.js");
  if (!existsSync(compat)) throw new Error(`${compat} is missing: build first (npm run build)`);
  const { PLATFORMS } = await import(pathToFileURL(compat).href);
  return PLATFORMS;
}

/** The programs in the bundles: [name, source file, kind] with kind sbin or libexec. */
export function programs(repo = REPO) {
  const list = [];
  const add = (dir, kind, only) => {
    const full = join(repo, dir);
    if (!existsSync(full)) return;
    for (const f of readdirSync(full).sort()) {
      if (!f.endsWith(".cjs")) continue;
      const name = f.slice(0, -4);
      if (only && !only.includes(name)) continue;
      list.push({ name, src: join(full, f), kind });
    }
  };
  add("packages/smtpd/bundle", "sbin", ["smtpd", "smtpctl"]);
  add("packages/extras/bundle", "libexec");
  add("packages/asr/bundle", "libexec", ["asr"]);
  for (const need of ["smtpd", "smtpctl"])
    if (!list.some((p) => p.name === need))
      throw new Error(`no bundle for ${need}: run npm run build first`);
  return list;
}

export function manPages(repo = REPO) {
  const pages = [];
  for (const pkg of readdirSync(join(repo, "packages")).sort()) {
    const dir = join(repo, "packages", pkg, "man");
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) {
      const m = /\.([1-8])$/.exec(f);
      if (m) pages.push({ name: f, section: m[1], src: join(dir, f) });
    }
  }
  return pages;
}

/** The names a page's NAME section documents (its .Nm lines). */
export function documents(page) {
  const text = readFileSync(page, "utf8");
  const m = /^\.Sh NAME\n([\s\S]*?)^\.Nd /m.exec(text);
  if (!m) return [];
  return [...m[1].matchAll(/^\.Nm (\S+)/gm)].map((x) => x[1]);
}

/** The default smtpd.conf with the platform's aliases file. */
export function defaultConfig(facts, repo = REPO) {
  const text = readFileSync(join(repo, "packages/smtpd/etc/smtpd.conf"), "utf8");
  return text.replace(/^aliases = "file:[^"]*"$/m, `aliases = "file:${facts.aliasesPath}"`);
}

/** Fills @NAME@ placeholders of a template from packaging/common/. */
export function fillTemplate(text, vars) {
  return text.replace(/@([A-Z_]+)@/g, (m, k) => {
    if (!(k in vars)) throw new Error(`template variable ${m} has no value`);
    return vars[k];
  });
}

export function templateVars(facts, layout) {
  return {
    PREFIX: facts.prefix,
    SBINDIR: `${facts.prefix}/sbin`,
    LIBEXECDIR: facts.libexecDir,
    CONFIG: facts.configPath,
    SPOOL: facts.spoolDir,
    PIDFILE: facts.pidFile,
    EMPTYDIR: facts.emptyDir,
    SMTPD_USER: facts.smtpdUser,
    SMTPQ_USER: facts.smtpqUser,
    NODE: layout.node,
  };
}

/** Writes into the staging directory and remembers every entry it made. */
class Tree {
  entries = new Map();

  constructor(dest) {
    this.dest = resolve(dest);
  }

  at(p) {
    return join(this.dest, p);
  }

  #fresh(p) {
    mkdirSync(dirname(this.at(p)), { recursive: true });
    rmSync(this.at(p), { force: true });
  }

  dir(p, mode = 0o755) {
    mkdirSync(this.at(p), { recursive: true });
    chmodSync(this.at(p), mode);
    this.entries.set(p, { path: p, type: "dir", mode });
  }

  file(p, content, mode = 0o644, role) {
    this.#fresh(p);
    writeFileSync(this.at(p), content);
    chmodSync(this.at(p), mode);
    this.entries.set(p, { path: p, type: "file", mode, ...(role ? { role } : {}) });
  }

  copy(p, src, mode) {
    this.#fresh(p);
    copyFileSync(src, this.at(p));
    chmodSync(this.at(p), mode);
    this.entries.set(p, { path: p, type: "file", mode });
  }

  /** Links are relative, so the tree works wherever it is unpacked (chroots, DESTDIR). */
  link(p, to) {
    this.#fresh(p);
    const target = relative(dirname(p), to) || ".";
    symlinkSync(target, this.at(p));
    this.entries.set(p, { path: p, type: "link", target });
  }

  sorted() {
    return [...this.entries.values()].sort((a, b) =>
      a.path < b.path ? -1 : a.path > b.path ? 1 : 0,
    );
  }
}

/** The programs, and the names smtpctl answers to as links to it. */
function stagePrograms(tree, { repo, facts, layout, flavour, seaBin }) {
  const sbin = `${facts.prefix}/sbin`;
  const libexec = facts.libexecDir;
  const where = (prog) =>
    prog.kind === "sbin" ? `${sbin}/${prog.name}` : `${libexec}/${prog.name}`;
  if (flavour === "bundle") {
    // Each bundle keeps its own name in libexec; sbin has links, so argv[1] is the name the
    // program was run as (smtpctl's multi-call relies on it) and smtpd finds smtpctl beside it.
    for (const prog of programs(repo)) {
      const text = readFileSync(prog.src, "utf8").replace(/^#!.*\n/, `#!${layout.node}\n`);
      if (prog.kind === "sbin") {
        tree.file(`${libexec}/${prog.name}.cjs`, text, 0o755);
        tree.link(where(prog), `${libexec}/${prog.name}.cjs`);
      } else tree.file(where(prog), text, 0o755);
    }
  } else if (flavour === "sea") {
    if (!seaBin) throw new Error("--flavour sea needs --sea-bin FILE");
    tree.copy(`${libexec}/facteur`, seaBin, 0o755);
    for (const prog of programs(repo)) tree.link(where(prog), `${libexec}/facteur`);
  } else throw new Error(`unknown flavour ${flavour}`);
  // mailer.conf(5) and the rpm alternatives point here; argv[0]'s name picks the program.
  for (const name of SMTPCTL_NAMES) tree.link(`${libexec}/mta/${name}`, `${sbin}/smtpctl`);
  for (const [p, to] of Object.entries(layout.mtaLinks)) tree.link(p, `${sbin}/${to}`);
}

function stageManPages(tree, { repo, layout, gzipMan }) {
  const pages = manPages(repo);
  const gz = gzipMan ? ".gz" : "";
  for (const page of pages) {
    const p = `${layout.mandir}/man${page.section}/${page.name}`;
    if (gzipMan) {
      const data = gzipSync(readFileSync(page.src), { level: 9 });
      data[9] = 3; // OS: Unix, whatever zlib was built for
      tree.file(`${p}${gz}`, data);
    } else tree.file(p, readFileSync(page.src));
  }
  // A program documented in another page (mailq in sendmail(8)) gets a link to that page,
  // for the names a user can run by that name (Debian has no /usr/sbin/send-mail).
  const linked = Object.keys(layout.mtaLinks).map((p) => posix.basename(p));
  const exposed = linked.length > 0 ? linked : SMTPCTL_NAMES;
  for (const name of ["smtpd", "smtpctl", ...exposed]) {
    if (pages.some((p) => p.name.replace(/\.\d$/, "") === name)) continue;
    const home = pages.find((p) => documents(p.src).includes(name));
    if (!home) continue;
    const dir = `${layout.mandir}/man${home.section}`;
    tree.link(`${dir}/${name}.${home.section}${gz}`, `${dir}/${home.name}${gz}`);
  }
}

function stageServices(tree, { repo, facts, layout }) {
  const read = (name) => readFileSync(join(repo, name), "utf8");
  const vars = templateVars(facts, layout);
  if (layout.service === "systemd") {
    const unit = fillTemplate(read("packaging/common/facteur.service.in"), vars);
    tree.file(`${layout.unitDir}/facteur.service`, unit);
    const users = fillTemplate(read("packaging/common/facteur.sysusers.in"), vars);
    tree.file(`${layout.sysusersDir}/facteur.conf`, users);
  } else if (layout.service === "freebsd-rc") {
    const rc = read("packaging/bsd-ports/freebsd/mail/facteur/files/facteur.in")
      .replaceAll("%%PREFIX%%", facts.prefix)
      .replaceAll("%%LOCALBASE%%", "/usr/local");
    tree.file(`${facts.prefix}/etc/rc.d/facteur`, rc, 0o755);
  } else if (layout.service === "openbsd-rc") {
    const rc = read("packaging/bsd-ports/openbsd/mail/facteur/pkg/facteur.rc");
    tree.file("/etc/rc.d/facteur", rc.replaceAll("$" + "{TRUEPREFIX}", facts.prefix), 0o555);
  }
}

/**
 * Lays out the tree under dest and returns what it staged, sorted by path: entries
 * { path, type: "file" | "dir" | "link", mode?, target?, role? } with absolute paths.
 */
export async function stage(opts) {
  const repo = opts.repo ?? REPO;
  const facts = (await loadPlatforms(repo))[opts.platform];
  const layout = LAYOUT[opts.platform];
  if (!facts || !layout) throw new Error(`unknown platform ${opts.platform}`);
  const ctx = { ...opts, repo, facts, layout, flavour: opts.flavour ?? "bundle" };
  const tree = new Tree(opts.dest);
  stagePrograms(tree, ctx);
  stageManPages(tree, ctx);
  const conf = defaultConfig(facts, repo);
  if (layout.configAs === "file") tree.file(facts.configPath, conf, 0o644, "config");
  else if (layout.configAs === "sample")
    tree.file(`${facts.configPath}.sample`, conf, 0o644, "config");
  else tree.file(`${facts.prefix}/share/examples/facteur/smtpd.conf`, conf, 0o644, "config");
  if (opts.service !== false) stageServices(tree, ctx);
  // The users' home (OpenSMTPD's empty chroot directory); /var/empty exists on the BSDs.
  if (facts.emptyDir !== "/var/empty") tree.dir(facts.emptyDir, 0o755);
  return tree.sorted();
}

async function main() {
  const { values } = parseArgs({
    options: {
      platform: { type: "string" },
      dest: { type: "string" },
      flavour: { type: "string", default: "bundle" },
      "sea-bin": { type: "string" },
      "no-service": { type: "boolean", default: false },
      "gzip-man": { type: "boolean", default: false },
      manifest: { type: "string" },
      print: { type: "boolean", default: false },
    },
  });
  if (!values.platform || !values.dest) {
    process.stderr.write(
      "usage: stage.mjs --platform debian|rpm|freebsd|openbsd --dest DIR [--flavour bundle|sea --sea-bin FILE] [--no-service] [--gzip-man] [--manifest FILE] [--print]\n",
    );
    process.exit(2);
  }
  const entries = await stage({
    platform: values.platform,
    dest: values.dest,
    flavour: values.flavour,
    seaBin: values["sea-bin"],
    service: !values["no-service"],
    gzipMan: values["gzip-man"],
  });
  if (values.manifest) writeFileSync(values.manifest, `${JSON.stringify(entries, null, 1)}\n`);
  if (values.print)
    for (const e of entries)
      process.stdout.write(`${e.type}\t${e.path}${e.target ? ` -> ${e.target}` : ""}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`stage: ${e.message}\n`);
    process.exit(1);
  });
}
