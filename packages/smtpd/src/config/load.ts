// Read, parse and check a configuration file: what `smtpd -n` and the starting daemon share.
import { readFileSync } from "node:fs";
import { checkSystem, systemHost } from "./check-files.js";
import type { Diagnostic } from "./errors.js";
import { type ParseResult, parseConfig } from "./parser.js";
import { configWarnings } from "./warnings.js";

export interface Loaded {
  readonly text: string;
  readonly result: ParseResult;
  /** parse errors, then (when those are clean and not --syntax) system checks, then warnings */
  readonly diagnostics: readonly Diagnostic[];
  readonly ok: boolean;
}

export async function loadConfig(
  file: string,
  opts: { defines: Readonly<Record<string, string>>; syntaxOnly: boolean; libexecDir: string },
): Promise<Loaded | { error: string }> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      error: `${file}: ${code === "ENOENT" ? "No such file or directory" : (e as Error).message}`,
    };
  }
  const host = opts.syntaxOnly ? undefined : systemHost(opts.libexecDir);
  const result = parseConfig(text, { file, defines: opts.defines, ...(host ? { host } : {}) });
  const diagnostics = [...result.diagnostics];
  if (result.ok && !opts.syntaxOnly) diagnostics.push(...(await checkSystem(result.config)));
  diagnostics.push(...configWarnings(result.config));
  return { text, result, diagnostics, ok: !diagnostics.some((d) => d.kind !== "warning") };
}
