// Addresses of an RFC 5322 address list (From, To, Cc, Bcc header values), for `sendmail -t`
// and the sender taken from From: (cli). Display names, comments, quoted strings, route
// prefixes and groups are understood; the addr-specs are returned as written.

export type AddressListResult = { readonly addrs: string[] } | { readonly error: string };

const isWsp = (c: string) => c === " " || c === "\t" || c === "\r" || c === "\n";

/** RFC 5322 §3.4: `@a,@b:user@host` (obsolete route) is `user@host`. */
function dropRoute(a: string): string {
  if (!a.startsWith("@")) return a;
  const colon = a.indexOf(":");
  return colon < 0 ? a : a.slice(colon + 1);
}

export function parseAddressList(value: string): AddressListResult {
  const addrs: string[] = [];
  let plain = "";
  let angle = "";
  let hadAngle = false;
  let inAngle = false;
  let inQuote = false;
  let inLiteral = false;
  let depth = 0;
  const finish = () => {
    const a = hadAngle ? dropRoute(angle.trim()) : plain;
    if (a !== "") addrs.push(a);
    plain = "";
    angle = "";
    hadAngle = false;
  };
  const keep = (t: string) => {
    if (inAngle) angle += t;
    else plain += t;
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === "\\" && (inQuote || depth > 0) && i + 1 < value.length) {
      const pair = c + value[++i];
      if (depth === 0) keep(pair);
    } else if (depth > 0) depth += c === "(" ? 1 : c === ")" ? -1 : 0;
    else if (inQuote) {
      if (c === '"') inQuote = false;
      keep(c);
    } else if (inLiteral) {
      if (c === "]") inLiteral = false;
      if (!isWsp(c)) plain += c;
    } else if (c === "(") depth++;
    else if (c === '"') {
      inQuote = true;
      keep(c);
    } else if (inAngle) {
      if (c === ">") inAngle = false;
      else if (!isWsp(c)) angle += c;
    } else if (c === "<") {
      if (hadAngle) return { error: "syntax error in address" };
      inAngle = true;
      hadAngle = true;
      angle = "";
    } else if (c === "[") {
      inLiteral = true;
      plain += c;
    } else if (c === "," || c === ";") finish();
    else if (c === ":")
      plain = ""; // a group's name: its members follow
    else if (!isWsp(c)) plain += c;
  }
  if (inQuote || depth > 0 || inAngle || inLiteral) return { error: "syntax error in address" };
  finish();
  return { addrs };
}
