// `%{...}` format specifiers of smtpd.conf(5) for maildir paths and mda commands (reference
// §1.9): tokens, substrings and modifiers. Expanded addresses are sanitised unless `:raw`:
// every character other than letters, digits and `@._+=-` becomes ':' (stricter than
// OpenSMTPD's list), so an address can never turn into shell code or a path ("/", "..").

export interface FormatFacts {
  readonly sender: string;
  readonly rcpt: string;
  readonly dest: string;
  readonly username: string;
  readonly directory: string;
  /** The envelope sender as mail.local writes it on the `From ` line. */
  readonly mboxFrom: string;
  /** The mda command, for wrappers. */
  readonly mda?: string;
  /** Sub-address delimiter for `:strip`. */
  readonly subAddrDelim?: string;
}

export type FormatResult = { ok: true; value: string } | { ok: false; error: string };

const MAX_EXPANDED = 4096;
/** What survives sanitising: letters, digits, non-ASCII letters and a few safe marks. */
const SAFE = /[\p{L}\p{N}@._+=-]/u;

/** A leading "." becomes ":" too, so a value can never be "." or ".." as a path element. */
export const sanitize = (s: string): string =>
  [...s]
    .map((c) => (SAFE.test(c) ? c : ":"))
    .join("")
    .replace(/^\./, ":");

const userPart = (addr: string): string => {
  const at = addr.lastIndexOf("@");
  return at < 0 ? addr : addr.slice(0, at);
};
const domainPart = (addr: string): string => {
  const at = addr.lastIndexOf("@");
  return at < 0 ? "" : addr.slice(at + 1);
};

function tokenValue(name: string, f: FormatFacts): string | null {
  const addr = (base: string, part: string | undefined): string | null => {
    if (part === undefined) return base;
    if (part === "user") return userPart(base);
    if (part === "domain") return domainPart(base);
    return null;
  };
  const [head, part, extra] = name.split(".");
  if (extra !== undefined) return null;
  switch (head) {
    case "sender":
      return addr(f.sender, part);
    case "rcpt":
      return addr(f.rcpt, part);
    case "dest":
      return addr(f.dest, part);
    case "user":
      return part === "username" ? f.username : part === "directory" ? f.directory : null;
    case "mbox":
      return part === "from" ? f.mboxFrom : null;
    case "mda":
      return part === undefined && f.mda !== undefined ? f.mda : null;
    default:
      return null;
  }
}

/** `[n]`, `[n:]`, `[:m]`, `[n:m]` with negative indexes counted from the end, as OpenSMTPD. */
function substring(v: string, spec: string): string | null {
  const m = /^(-?\d+)?(:(-?\d+)?)?$/.exec(spec);
  if (m === null || (m[1] === undefined && m[2] === undefined)) return null;
  const chars = [...v];
  const n = chars.length;
  const idx = (s: string | undefined, dflt: number) => {
    if (s === undefined) return dflt;
    const i = Number(s);
    return i < 0 ? Math.max(0, n + i) : Math.min(n, i);
  };
  const begin = idx(m[1], 0);
  if (m[2] === undefined) return begin < n ? (chars[begin] ?? "") : "";
  const end = m[3] === undefined ? n : idx(m[3], n) + (Number(m[3]) < 0 ? 0 : 1);
  return end <= begin ? "" : chars.slice(begin, Math.min(end, n)).join("");
}

function applyModifiers(
  v: string,
  mods: readonly string[],
  f: FormatFacts,
): { value: string; raw: boolean } | null {
  let value = v;
  let raw = false;
  for (const mod of mods) {
    if (mod === "lowercase") value = value.toLowerCase();
    else if (mod === "uppercase") value = value.toUpperCase();
    else if (mod === "raw") raw = true;
    else if (mod === "strip") {
      const delim = f.subAddrDelim ?? "+";
      const at = value.lastIndexOf("@");
      const user = at < 0 ? value : value.slice(0, at);
      const cut = user.indexOf(delim);
      if (cut >= 0) value = user.slice(0, cut) + (at < 0 ? "" : value.slice(at));
    } else return null;
  }
  return { value, raw };
}

/** Expands `%{...}` in `format`; `~/` at the start is the user's directory. */
export function expandFormat(format: string, f: FormatFacts): FormatResult {
  let out = "";
  let i = 0;
  let text = format;
  if (text.startsWith("~/")) {
    out = `${f.directory}/`;
    text = text.slice(2);
  }
  while (i < text.length) {
    const c = text[i]!;
    if (c !== "%") {
      out += c;
      i++;
      continue;
    }
    if (text[i + 1] === "%") {
      out += "%";
      i += 2;
      continue;
    }
    if (text[i + 1] !== "{") return { ok: false, error: `bad format specifier at offset ${i}` };
    const close = text.indexOf("}", i);
    if (close < 0) return { ok: false, error: "unterminated %{" };
    const spec = text.slice(i + 2, close);
    const m = /^([a-z.]+)(?:\[([^\]]*)\])?(?::([a-z|]+))?$/.exec(spec);
    if (m === null) return { ok: false, error: `bad format specifier %{${spec}}` };
    let v = tokenValue(m[1]!, f);
    if (v === null) return { ok: false, error: `unknown format token %{${m[1]}}` };
    const mods = applyModifiers(v, m[3] !== undefined ? m[3].split("|") : [], f);
    if (mods === null) return { ok: false, error: `unknown modifier in %{${spec}}` };
    v = mods.value;
    if (m[2] !== undefined) {
      const sub = substring(v, m[2]);
      if (sub === null) return { ok: false, error: `bad substring in %{${spec}}` };
      v = sub;
    }
    // Addresses come from the network: sanitised. user.* come from the userbase, %{mda}
    // is the action's command, already expanded (and sanitised) itself.
    const fromNetwork = !m[1]!.startsWith("user.") && m[1] !== "mda";
    out += mods.raw || !fromNetwork ? v : sanitize(v);
    if (out.length > MAX_EXPANDED) return { ok: false, error: "expansion too long" };
    i = close + 1;
  }
  return { ok: true, value: out };
}
