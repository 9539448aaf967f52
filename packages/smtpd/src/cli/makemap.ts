// `makemap` and `newaliases` (cli, argv[0] dispatch). OpenSMTPD's makemap writes a Berkeley
// db; Facteur reads table(5) text files directly, so makemap checks a file as smtpd will read
// it and writes nothing. newaliases checks the `aliases` table of smtpd.conf and asks a
// running smtpd to reload it (`update table aliases`, as OpenSMTPD's newaliases does).

import { readFileSync } from "node:fs";
import { platformFacts } from "@facteur/compat";
import { formatDiagnostic } from "../config/errors.js";
import { loadConfig } from "../config/load.js";
import { parseTableFile } from "../config/table-file.js";
import { splitAliasTargets } from "../lookup/expand.js";
import { getopt } from "./getopt.js";
import { request } from "./smtpctl.js";
import { EX_CONFIG, EX_DATAERR, EX_NOINPUT, EX_OK, EX_UNAVAILABLE, EX_USAGE } from "./sysexits.js";

export type MapType = "plain" | "aliases" | "set";

export interface Io {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly readStdin: () => string;
}

export type CheckResult =
  | { readonly ok: true; readonly entries: readonly (readonly [string, string | null])[] }
  | { readonly ok: false; readonly errors: readonly string[] };

/** One alias target as OpenSMTPD's text_to_expandnode accepts it. */
function aliasTargetError(t: string): string | null {
  if (t === "") return "empty target";
  if (t.startsWith("|")) return t.length > 1 ? null : "empty command";
  if (t.startsWith("/")) return null;
  if (/^:include:/i.test(t)) return t.slice(9).startsWith("/") ? null : "include needs a path";
  if (/^error:/i.test(t)) return /^error:[45][0-9][0-9]( |$)/i.test(t) ? null : "bad error code";
  if (/[\s<>]/.test(t)) return "not an address";
  const at = t.lastIndexOf("@");
  if (at === 0 || at === t.length - 1) return "not an address";
  return null;
}

export { splitAliasTargets as splitTargets } from "../lookup/expand.js";

/** Checks a table file's text as the daemon will read it, with makemap's rules per type. */
export function checkTable(text: string, name: string, type: MapType): CheckResult {
  const r = parseTableFile(text);
  if (!r.ok) return { ok: false, errors: [`${name}:${r.error.line}: ${r.error.message}`] };
  const e = r.entries;
  if (e.type === "empty") return { ok: true, entries: [] };
  if (type === "set" && e.type === "map")
    return { ok: false, errors: [`${name}: a set has one value per line, not key-value pairs`] };
  if (type !== "set" && e.type === "list")
    return {
      ok: false,
      errors: [`${name}: entries have no value (a list): use -t set, or add values`],
    };
  const entries: [string, string | null][] =
    e.type === "list" ? e.values.map((v) => [v, null]) : e.pairs.map(([k, v]) => [k, v]);
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const [k, v] of entries) {
    const key = k.toLowerCase();
    if (seen.has(key)) errors.push(`${name}: duplicate entry for ${k}`);
    seen.add(key);
    if (type === "aliases" && v !== null) {
      for (const t of splitAliasTargets(v)) {
        const why = aliasTargetError(t);
        if (why !== null) errors.push(`${name}: invalid entry for ${k}: ${why}: ${t}`);
      }
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, entries };
}

const MAKEMAP_USAGE = "usage: makemap [-U] [-d dbtype] [-o dbfile] [-t type] file\n";

export function makemapMain(argv: readonly string[], io: Io): number {
  const g = getopt(argv, "b:C:d:ho:O:t:U");
  if ("error" in g) {
    io.stderr(`makemap: ${g.error}\n${MAKEMAP_USAGE}`);
    return EX_USAGE;
  }
  let type: MapType = "plain";
  let dump = false;
  let source: string | null = null;
  for (const { opt, arg } of g.opts) {
    if (opt === "h") {
      io.stderr(MAKEMAP_USAGE);
      return EX_USAGE;
    }
    if (opt === "d" && arg !== "hash" && arg !== "btree") {
      io.stderr(`makemap: unsupported DB type '${arg}'\n`);
      return EX_USAGE;
    }
    if (opt === "t") {
      if (arg !== "aliases" && arg !== "set") {
        io.stderr(`makemap: unsupported type '${arg}'\n`);
        return EX_USAGE;
      }
      type = arg;
    }
    if (opt === "O" && arg?.startsWith("AliasFile=")) {
      type = "aliases";
      source = arg.slice(10);
    }
    if (opt === "U") dump = true;
  }
  // sendmail's form, `makemap TYPE NAME < file`: the map is read on stdin.
  if (g.operands.length === 2) source = "-";
  else if (g.operands.length === 1) source = g.operands[0]!;
  else if (source === null) {
    io.stderr(MAKEMAP_USAGE);
    return EX_USAGE;
  }
  let text: string;
  try {
    text = source === "-" ? io.readStdin() : readFileSync(source, "utf8");
  } catch (e) {
    io.stderr(`makemap: ${source}: ${(e as Error).message}\n`);
    return EX_NOINPUT;
  }
  const name = source === "-" ? "<stdin>" : source;
  const r = checkTable(text, name, type);
  if (!r.ok) {
    for (const e of r.errors) io.stderr(`makemap: ${e}\n`);
    return EX_DATAERR;
  }
  if (dump) {
    for (const [k, v] of r.entries) io.stdout(v === null ? `${k}\n` : `${k}\t${v}\n`);
    return EX_OK;
  }
  if (r.entries.length === 0) io.stderr(`makemap: warning: empty map: ${name}\n`);
  io.stderr(
    `makemap: ${name}: ${r.entries.length} entries OK; smtpd reads this file itself (table NAME file:${name === "<stdin>" ? "FILE" : name}), no database written\n`,
  );
  return EX_OK;
}

export interface NewaliasesDeps {
  readonly update: (controlSocket: string) => Promise<{ ok: boolean; text: string }>;
}

const NEWALIASES_USAGE = "usage: newaliases [-f file]\n";

export async function newaliasesMain(
  argv: readonly string[],
  io: Io,
  deps: NewaliasesDeps = {
    update: (sock) => request(sock, ["update", "table", "aliases"]),
  },
): Promise<number> {
  const g = getopt(argv, "f:h");
  if ("error" in g || g.operands.length > 0 || g.opts.some((o) => o.opt === "h")) {
    io.stderr(`${"error" in g ? `newaliases: ${g.error}\n` : ""}${NEWALIASES_USAGE}`);
    return EX_USAGE;
  }
  const facts = platformFacts(g.root !== null ? { root: g.root } : {});
  const conf = g.opts.find((o) => o.opt === "f")?.arg ?? facts.configPath;
  const loaded = await loadConfig(conf, {
    defines: {},
    syntaxOnly: true,
    libexecDir: facts.libexecDir,
  });
  if ("error" in loaded) {
    io.stderr(`newaliases: ${loaded.error}\n`);
    return EX_CONFIG;
  }
  if (!loaded.ok) {
    for (const d of loaded.diagnostics) io.stderr(`${formatDiagnostic(d)}\n`);
    return EX_CONFIG;
  }
  const t = loaded.result.config.directives.find((d) => d.kind === "table" && d.name === "aliases");
  if (t === undefined || t.kind !== "table") {
    io.stderr(`newaliases: ${conf} has no table named "aliases": nothing to do\n`);
    return EX_OK;
  }
  const src = t.source;
  if (src.kind === "inline") {
    io.stdout(
      `aliases: ${src.entries.type === "list" ? 0 : src.entries.pairs.length} aliases (inline in ${conf})\n`,
    );
    return EX_OK;
  }
  if ((src.backend !== "file" && src.backend !== "static") || src.config === null) {
    io.stderr(
      `newaliases: table aliases uses the ${src.backend} backend: Facteur reads aliases from a file table (table aliases file:/etc/aliases)\n`,
    );
    return EX_CONFIG;
  }
  let text: string;
  try {
    text = readFileSync(src.config, "utf8");
  } catch (e) {
    io.stderr(`newaliases: ${src.config}: ${(e as Error).message}\n`);
    return EX_NOINPUT;
  }
  const r = checkTable(text, src.config, "aliases");
  if (!r.ok) {
    for (const e of r.errors) io.stderr(`newaliases: ${e}\n`);
    return EX_DATAERR;
  }
  io.stdout(`${src.config}: ${r.entries.length} aliases\n`);
  return notifyDaemon(facts.controlSocket, io, deps);
}

/** Asks a running smtpd to reload the table; no smtpd running is fine (it reads it at start). */
async function notifyDaemon(sock: string, io: Io, deps: NewaliasesDeps): Promise<number> {
  let r: { ok: boolean; text: string };
  try {
    r = await deps.update(sock);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ECONNREFUSED") return EX_OK;
    io.stderr(`newaliases: cannot ask smtpd to reload the aliases: ${(e as Error).message}\n`);
    return EX_UNAVAILABLE;
  }
  if (r.ok) return EX_OK;
  if (r.text.startsWith("command not supported")) {
    // TODO(6): the control and lookup roles do not implement `update table` yet.
    io.stderr(
      "newaliases: warning: this smtpd cannot reload a table yet: restart it to use the new aliases\n",
    );
    return EX_OK;
  }
  io.stderr(`newaliases: smtpd: ${r.text}`);
  return EX_UNAVAILABLE;
}
