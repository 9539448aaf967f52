// getopt(3) for the sendmail-compatible programs (sendmail, makemap, newaliases), as glibc's,
// which Debian's OpenSMTPD uses: options may follow operands, `--` ends them, `x:` takes an
// argument (attached or next), `x::` an optional one (attached only). `--root DIR` is taken
// out first: it selects a Facteur instance, as with smtpctl and smtpd.

export interface ParsedOpts {
  readonly opts: readonly { readonly opt: string; readonly arg: string | null }[];
  readonly operands: readonly string[];
  readonly root: string | null;
}

export type GetoptResult = ParsedOpts | { readonly error: string };

export function getopt(argv: readonly string[], optstring: string): GetoptResult {
  const spec = new Map<string, "flag" | "required" | "optional">();
  for (let i = 0; i < optstring.length; i++) {
    const c = optstring[i]!;
    if (optstring[i + 1] === ":" && optstring[i + 2] === ":") {
      spec.set(c, "optional");
      i += 2;
    } else if (optstring[i + 1] === ":") {
      spec.set(c, "required");
      i += 1;
    } else spec.set(c, "flag");
  }
  const opts: { opt: string; arg: string | null }[] = [];
  const operands: string[] = [];
  let root: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (a === "--root" || a.startsWith("--root=")) {
      root = a === "--root" ? (argv[++i] ?? null) : a.slice(7);
      if (root === null || root === "") return { error: "option --root requires an argument" };
      continue;
    }
    if (!a.startsWith("-") || a === "-") {
      operands.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const kind = spec.get(c);
      if (kind === undefined) return { error: `invalid option -- '${c}'` };
      if (kind === "flag") {
        opts.push({ opt: c, arg: null });
        continue;
      }
      const rest = a.slice(j + 1);
      if (rest !== "") opts.push({ opt: c, arg: rest });
      else if (kind === "optional") opts.push({ opt: c, arg: null });
      else {
        const next = argv[i + 1];
        if (next === undefined) return { error: `option requires an argument -- '${c}'` };
        opts.push({ opt: c, arg: next });
        i++;
      }
      break;
    }
  }
  return { opts, operands, root };
}

/** The arguments without `--root DIR` (what an offline file records for the replay). */
export function withoutRoot(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (a === "--root") i++;
    else if (!a.startsWith("--root=")) out.push(a);
  }
  return out;
}
