// The full `smtpd -n` check (parent): what the --syntax check cannot know without the
// system — `file:` tables, included files, table helpers, pki files, listen targets.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { lookup } from "node:dns/promises";
import { accessSync, constants, readFileSync, realpathSync } from "node:fs";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { join, resolve } from "node:path";
import type { Config } from "./ast.js";
import type { Diagnostic } from "./errors.js";
import type { ParseHost } from "./parser.js";
import { parseTableFile } from "./table-file.js";

const why = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException;
  if (err.code === "ENOENT") return "No such file or directory";
  if (err.code === "EACCES") return "Permission denied";
  if (err.code === "EISDIR") return "Is a directory";
  return err.message ?? String(e);
};

export function systemHost(libexecDir: string): ParseHost {
  return {
    readInclude(path) {
      try {
        return { text: readFileSync(path, "utf8") };
      } catch (e) {
        return { error: why(e) };
      }
    },
    realPath(path) {
      try {
        return realpathSync(path);
      } catch {
        return resolve(path);
      }
    },
    readTableFile(path) {
      let text: string;
      try {
        text = readFileSync(path, "utf8");
      } catch (e) {
        return { error: why(e) };
      }
      const r = parseTableFile(text);
      if (!r.ok) return { error: `line ${r.error.line}: ${r.error.message}` };
      return { shape: r.entries.type === "empty" ? "any" : r.entries.type };
    },
    backendExists(backend) {
      try {
        accessSync(join(libexecDir, `table-${backend}`), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** Checks that need files and the network configuration, after a clean parse. */
export async function checkSystem(config: Config): Promise<Diagnostic[]> {
  const out: Diagnostic[] = [];
  const err = (pos: { file: string; line: number; col: number }, message: string) =>
    out.push({ ...pos, message, kind: "semantic" });
  for (const d of config.directives) {
    if (d.kind === "pki" && (d.param === "cert" || d.param === "key")) {
      try {
        const pem = readFileSync(d.value);
        if (d.param === "cert") new X509Certificate(pem);
        else createPrivateKey(pem);
      } catch (e) {
        const what = d.param === "cert" ? "certificate" : "private key";
        const code = (e as NodeJS.ErrnoException).code;
        const reason =
          code?.startsWith("ERR_") || code === undefined ? `not a valid ${what}` : why(e);
        err(d.pos, `pki ${d.name}: cannot load ${what} ${d.value}: ${reason}`);
      }
    }
    if (d.kind === "ca") {
      try {
        new X509Certificate(readFileSync(d.cert));
      } catch (e) {
        err(d.pos, `ca ${d.name}: cannot load certificate ${d.cert}: ${why(e)}`);
      }
    }
    if (d.kind === "listen" && "ifx" in d.target) {
      const family = d.options.find((o) => o.kind === "family");
      const ok = await resolvable(d.target.ifx, family?.kind === "family" ? family.family : null);
      if (!ok) err(d.pos, `invalid virtual ip or interface: ${d.target.ifx}`);
    }
  }
  return out;
}

/** Interface name, IPv4 or IPv6 literal, then a host name, as OpenSMTPD tries them. */
async function resolvable(ifx: string, family: "inet4" | "inet6" | null): Promise<boolean> {
  const want = family === "inet4" ? "IPv4" : family === "inet6" ? "IPv6" : null;
  const nics = networkInterfaces()[ifx];
  if (nics?.some((n) => want === null || n.family === want)) return true;
  const ip = isIP(ifx);
  if (ip !== 0) return want === null || (ip === 4 ? want === "IPv4" : want === "IPv6");
  try {
    const addrs = await lookup(ifx, {
      all: true,
      family: want === "IPv4" ? 4 : want === "IPv6" ? 6 : 0,
    });
    return addrs.length > 0;
  } catch {
    return false;
  }
}
