#!/usr/bin/env node
// A FreeBSD package (.pkg) built on Linux from the staged tree, for a self-hosted pkg
// repository (the ports tree builds its own from packaging/bsd-ports). The format is pkg(8)'s
// (libpkg/pkg_create.c, packing.c): a zstd-compressed tar whose first members are
// +COMPACT_MANIFEST and +MANIFEST (compact JSON), then the files with absolute paths; file
// sums are "1$" + hex SHA-256 (of the target, for a link). readPkg() checks one as far as
// Linux allows, since pkg(8) itself is not available here.
//
//   node scripts/freebsd-pkg.mjs [--out out]        build out/facteur-VERSION.pkg
//   node scripts/freebsd-pkg.mjs --check FILE       validate a .pkg
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadPlatforms, stage } from "./stage.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The ids FreeBSD's ports UIDs/GIDs files give _smtpd/_smtpq (mail/opensmtpd's users). */
export const IDS = { _smtpd: 257, _smtpq: 258 };

// ---- tar (POSIX ustar, with a pax record for names over 100 bytes) ----

function header(name, { size = 0, mode, type, linkname = "", mtime, uname, gname }) {
  const h = Buffer.alloc(512);
  const put = (off, len, s) => h.write(s, off, Math.min(len, Buffer.byteLength(s)), "utf8");
  const oct = (off, len, n) => put(off, len, `${n.toString(8).padStart(len - 1, "0")}\0`);
  put(0, 100, name);
  oct(100, 8, mode);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, size);
  oct(136, 12, mtime);
  h.fill(" ", 148, 156);
  put(156, 1, type);
  put(157, 100, linkname);
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  put(265, 32, uname);
  put(297, 32, gname);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return h;
}

const pad = (n) => Buffer.alloc((512 - (n % 512)) % 512);

/** entries: { name, type: "file" | "link" | "dir", mode, data?, linkname? } */
export function tar(entries, mtime) {
  const parts = [];
  for (const e of entries) {
    const meta = { mode: e.mode, mtime, uname: "root", gname: "wheel" };
    let name = e.name;
    if (Buffer.byteLength(name) > 100) {
      // pax extended header: "<len> path=<name>\n", the length counting itself
      const body = ` path=${name}\n`;
      let len = body.length + 2;
      while (`${len}${body}`.length !== len) len = `${len}${body}`.length;
      const rec = Buffer.from(`${len}${body}`);
      parts.push(header("././@PaxHeader", { ...meta, mode: 0o644, size: rec.length, type: "x" }));
      parts.push(rec, pad(rec.length));
      name = name.slice(-100);
    }
    if (e.type === "file") {
      parts.push(
        header(name, { ...meta, size: e.data.length, type: "0" }),
        e.data,
        pad(e.data.length),
      );
    } else if (e.type === "link") {
      parts.push(header(name, { ...meta, type: "2", linkname: e.linkname }));
    } else {
      parts.push(header(name, { ...meta, type: "5" }));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function untar(buf) {
  const out = [];
  let off = 0;
  let paxPath = null;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a, l) =>
      h
        .subarray(a, a + l)
        .toString("utf8")
        .replace(/\0.*$/s, "");
    const size = Number.parseInt(str(124, 12).trim() || "0", 8);
    const type = str(156, 1);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    if (sum !== Number.parseInt(str(148, 8).trim(), 8))
      throw new Error(`bad tar checksum at ${off}`);
    const data = buf.subarray(off + 512, off + 512 + size);
    off += 512 + size + ((512 - (size % 512)) % 512);
    if (type === "x") {
      const m = /\d+ path=(.*)\n/.exec(data.toString("utf8"));
      paxPath = m ? m[1] : null;
      continue;
    }
    const prefix = str(345, 155);
    const name = paxPath ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    paxPath = null;
    out.push({
      name,
      type: type === "2" ? "link" : type === "5" ? "dir" : "file",
      mode: Number.parseInt(str(100, 8).trim(), 8),
      mtime: Number.parseInt(str(136, 12).trim(), 8),
      uname: str(265, 32),
      gname: str(297, 32),
      linkname: str(157, 100),
      data,
    });
  }
  return out;
}

// ---- manifest ----

const hex = (b) => createHash("sha256").update(b).digest("hex");
/** pkg's file sum: type 1 (sha256 hex); a link's is the sum of its target, leading / cut. */
export const fileSum = (e) =>
  `1$${hex(e.type === "link" ? Buffer.from(e.linkname.replace(/^\/+/, "")) : e.data)}`;

function pkgScripts() {
  const users = Object.entries(IDS);
  const pre = users
    .map(
      ([u, id]) => `if ! /usr/sbin/pw groupshow ${u} >/dev/null 2>&1; then
  echo "===> Creating group ${u} with gid ${id}."; /usr/sbin/pw groupadd ${u} -g ${id}
fi
if ! /usr/sbin/pw usershow ${u} >/dev/null 2>&1; then
  echo "===> Creating user ${u} with uid ${id}."
  /usr/sbin/pw useradd ${u} -u ${id} -g ${id} -c "Facteur ${u === "_smtpd" ? "SMTP daemon" : "queue"}" -d /var/empty -s /usr/sbin/nologin
fi`,
    )
    .join("\n");
  return {
    "pre-install": pre,
    // @sample: the configuration is copied from the sample once, and removed if unchanged
    "post-install": `if [ ! -f "\${PKG_ROOTDIR}/usr/local/etc/mail/smtpd.conf" ]; then
  cp -p "\${PKG_ROOTDIR}/usr/local/etc/mail/smtpd.conf.sample" "\${PKG_ROOTDIR}/usr/local/etc/mail/smtpd.conf"
fi`,
    "post-deinstall": `if cmp -s "\${PKG_ROOTDIR}/usr/local/etc/mail/smtpd.conf" "\${PKG_ROOTDIR}/usr/local/etc/mail/smtpd.conf.sample" 2>/dev/null || [ ! -f "\${PKG_ROOTDIR}/usr/local/etc/mail/smtpd.conf.sample" ]; then
  rm -f "\${PKG_ROOTDIR}/usr/local/etc/mail/smtpd.conf"
fi`,
  };
}

export async function buildFreebsdPkg(opts = {}) {
  const repo = opts.repo ?? REPO;
  const port = join(repo, "packaging/bsd-ports/freebsd/mail/facteur");
  const out = resolve(opts.out ?? join(REPO, "out"));
  const epoch = Number(opts.epoch ?? process.env.SOURCE_DATE_EPOCH);
  if (!Number.isFinite(epoch)) throw new Error("SOURCE_DATE_EPOCH is not set");
  const work = opts.work ?? join(tmpdir(), `facteur-freebsd-${process.pid}`);
  const root = join(work, "stage");
  rmSync(work, { recursive: true, force: true });
  const facts = (await loadPlatforms(repo)).freebsd;
  const staged = await stage({ repo, platform: "freebsd", dest: root, gzipMan: true });
  const version = JSON.parse(
    readFileSync(join(repo, "packages/smtpd/package.json"), "utf8"),
  ).version;

  const members = [];
  let flatsize = 0;
  for (const s of staged) {
    const p = join(root, s.path);
    const st = lstatSync(p);
    if (s.type === "dir") continue;
    if (st.isSymbolicLink())
      members.push({ name: s.path, type: "link", mode: 0o755, linkname: readlinkSync(p) });
    else {
      const data = readFileSync(p);
      flatsize += data.length;
      members.push({ name: s.path, type: "file", mode: st.mode & 0o7777, data });
    }
  }
  const descr = readFileSync(join(port, "pkg-descr"), "utf8");
  const message = readFileSync(join(port, "files/pkg-message.in"), "utf8").replaceAll(
    "%%PREFIX%%",
    facts.prefix,
  );
  const base = {
    name: "facteur",
    origin: "mail/facteur",
    version,
    comment: "OpenSMTPD-compatible mail server written in TypeScript",
    maintainer: "dev@facteur.invalid",
    www: "https://facteur.invalid/",
    abi: "FreeBSD:14:*",
    arch: "freebsd:14:*",
    prefix: facts.prefix,
    flatsize,
    licenselogic: "single",
    licenses: ["ISCL"],
    desc: descr.trim(),
    // USES=nodejs:run; the version is the oldest Node the bundles support
    deps: { node: { origin: "www/node", version: "20.0.0" } },
    categories: ["mail"],
    users: Object.keys(IDS),
    groups: Object.keys(IDS),
  };
  const full = {
    ...base,
    files: Object.fromEntries(members.map((m) => [m.name, fileSum(m)])),
    config: staged.filter((s) => s.role === "config").map((s) => s.path.replace(/\.sample$/, "")),
    scripts: pkgScripts(),
    messages: [{ message }],
  };
  const manifests = [
    {
      name: "+COMPACT_MANIFEST",
      type: "file",
      mode: 0o644,
      data: Buffer.from(JSON.stringify(base)),
    },
    { name: "+MANIFEST", type: "file", mode: 0o644, data: Buffer.from(JSON.stringify(full)) },
  ];
  const archive = tar([...manifests, ...members], epoch);
  const z = spawnSync("zstd", ["-19", "-q", "-c", "--no-progress"], {
    input: archive,
    maxBuffer: 1 << 30,
  });
  if (z.status !== 0) throw new Error(`zstd: ${z.stderr}`);
  mkdirSync(out, { recursive: true });
  const file = join(out, `facteur-${version}.pkg`);
  writeFileSync(file, z.stdout);
  rmSync(work, { recursive: true, force: true });
  return file;
}

/** Reads a .pkg back and checks what pkg(8) checks on add; throws on the first problem. */
export function readPkg(file) {
  const z = spawnSync("zstd", ["-d", "-q", "-c"], {
    input: readFileSync(file),
    maxBuffer: 1 << 30,
  });
  if (z.status !== 0) throw new Error(`${file}: not zstd: ${z.stderr}`);
  const members = untar(z.stdout);
  const fail = (m) => {
    throw new Error(`${file}: ${m}`);
  };
  if (members[0]?.name !== "+COMPACT_MANIFEST" || members[1]?.name !== "+MANIFEST")
    fail("the first members are not +COMPACT_MANIFEST and +MANIFEST");
  const compact = JSON.parse(members[0].data.toString("utf8"));
  const manifest = JSON.parse(members[1].data.toString("utf8"));
  for (const k of [
    "name",
    "origin",
    "version",
    "comment",
    "maintainer",
    "www",
    "abi",
    "prefix",
    "desc",
  ])
    if (typeof manifest[k] !== "string" || manifest[k] === "") fail(`manifest lacks ${k}`);
  if (!/^FreeBSD:\d+:(\*|amd64|aarch64)$/.test(manifest.abi)) fail(`bad abi ${manifest.abi}`);
  if (compact.files !== undefined) fail("+COMPACT_MANIFEST lists files");
  for (const k of Object.keys(compact))
    if (JSON.stringify(compact[k]) !== JSON.stringify(manifest[k]))
      fail(`manifests differ on ${k}`);
  const payload = members.slice(2);
  const byName = new Map(payload.map((m) => [m.name, m]));
  let flatsize = 0;
  for (const [path, sum] of Object.entries(manifest.files ?? {})) {
    const m = byName.get(path);
    if (!m) fail(`${path} is in the manifest but not in the archive`);
    if (!path.startsWith("/")) fail(`${path} is not absolute`);
    if (fileSum(m) !== sum) fail(`${path}: checksum mismatch`);
    if (m.type === "file") flatsize += m.data.length;
  }
  for (const m of payload)
    if (m.type !== "dir" && !(m.name in (manifest.files ?? {})))
      fail(`${m.name} is not in the manifest`);
  if (flatsize !== manifest.flatsize)
    fail(`flatsize ${manifest.flatsize}, files sum to ${flatsize}`);
  return { manifest, members: payload };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      check: { type: "string" },
    },
  });
  try {
    if (values.check) {
      const { manifest, members } = readPkg(values.check);
      process.stdout.write(
        `${manifest.name}-${manifest.version} ${manifest.abi}: ${members.length} files OK\n`,
      );
    } else {
      process.stdout.write(`${await buildFreebsdPkg({ out: values.out })}\n`);
    }
  } catch (e) {
    process.stderr.write(`freebsd-pkg: ${e.message}\n`);
    process.exit(1);
  }
}
