// table(5) files (lookup role and `smtpd -n`): one value per line makes a list, `key value`
// or `key: value` a mapping; `# @list` before the first entry forces a list; IPv6 keys go in
// brackets.
export type TableFileEntries =
  | { readonly type: "list"; readonly values: readonly string[] }
  | { readonly type: "map"; readonly pairs: readonly (readonly [string, string])[] }
  | { readonly type: "empty" };

export interface TableFileError {
  readonly line: number;
  readonly message: string;
}

export type TableFileResult =
  | { readonly ok: true; readonly entries: TableFileEntries }
  | { readonly ok: false; readonly error: TableFileError };

/** Split one non-comment line into key and optional value. */
function splitLine(line: string): [string, string | null] {
  let key: string;
  let rest: string;
  if (line.startsWith("[")) {
    const end = line.indexOf("]");
    if (end < 0) return [line, null];
    key = line.slice(0, end + 1);
    rest = line.slice(end + 1);
  } else {
    const m = /^[^ \t:]*/.exec(line)!;
    key = m[0];
    rest = line.slice(key.length);
  }
  // As parse_table_line: one separator (space, tab or ':'), then blanks; a value may itself
  // begin with ':' (`pm: :include:/etc/list`).
  const value = rest
    .slice(1)
    .replace(/^[ \t]+/, "")
    .trim();
  return [key, value === "" ? null : value];
}

export function parseTableFile(text: string): TableFileResult {
  const values: string[] = [];
  const pairs: [string, string][] = [];
  let type: "list" | "map" | null = null;
  let forcedList = false;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, "");
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      // parse_table_line: only while the type is still open; later it is a plain comment
      if (type === null && /^#\s*@list\s*$/.test(line)) forcedList = true;
      continue;
    }
    if (line.includes("\0"))
      return { ok: false, error: { line: i + 1, message: "NUL byte in table file" } };
    if (forcedList) {
      values.push(line);
      type = "list";
      continue;
    }
    const [key, value] = splitLine(line);
    const t = value === null ? "list" : "map";
    if (type !== null && t !== type) {
      return {
        ok: false,
        error: {
          line: i + 1,
          message: `invalid entry: table mixes list entries and key-value pairs`,
        },
      };
    }
    type = t;
    if (value === null) values.push(key);
    else pairs.push([key, value]);
  }
  if (type === null) return { ok: true, entries: { type: "empty" } };
  return { ok: true, entries: type === "list" ? { type, values } : { type, pairs } };
}
