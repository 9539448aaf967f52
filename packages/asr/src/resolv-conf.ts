// resolv.conf(5) parser: the glibc dialect (options ndots/timeout/attempts/rotate/edns0/
// trust-ad/use-vc) and the OpenBSD one (lookup, family), following libasr's pass0.
// Pure: the caller supplies the text, the host name and the environment.

export type Server = { address: string; port: number };
export type LookupDb = "bind" | "file";
export type Family = "inet4" | "inet6";

export type ResolvConf = {
  nameservers: Server[];
  search: string[];
  domain: string | null;
  ndots: number;
  timeoutMs: number;
  attempts: number;
  rotate: boolean;
  edns0: boolean;
  trustAd: boolean;
  useTcp: boolean;
  lookup: LookupDb[];
  family: Family[];
};

export const MAX_NAMESERVERS = 5;
const MAX_FILE_OCTETS = 4096;
const MAX_TOKENS = 10;

/** Parses "1.2.3.4", "1.2.3.4:53", "1.2.3.4#53", "[::1]:53", "::1" or "fe80::1%lo". */
export function parseServer(text: string, defaultPort = 53): Server | null {
  let addr = text;
  let port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(text);
  const hash = /^(.+)#([0-9]+)$/.exec(text);
  const v4port = /^([0-9.]+):([0-9]+)$/.exec(text);
  const m = bracket ?? hash ?? v4port;
  if (m) {
    addr = m[1] ?? "";
    if (m[2] !== undefined) port = Number(m[2]);
  }
  if (!(port > 0 && port < 65536)) return null;
  const bare = addr.split("%")[0] ?? "";
  if (!/^[0-9.]+$/.test(bare) && !bare.includes(":")) return null;
  if (/^[0-9.]+$/.test(bare) && !/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(bare))
    return null;
  return { address: addr, port };
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

function applyOption(c: ResolvConf, opt: string): void {
  const [key, val] = opt.split(":");
  const n = Number(val);
  switch (key) {
    case "ndots":
      if (Number.isInteger(n)) c.ndots = clamp(n, 0, 15);
      return;
    case "timeout":
      if (Number.isInteger(n)) c.timeoutMs = clamp(n, 1, 30) * 1000;
      return;
    case "attempts":
      if (Number.isInteger(n)) c.attempts = clamp(n, 1, 5);
      return;
    case "rotate":
      c.rotate = true;
      return;
    case "edns0":
      c.edns0 = true;
      return;
    case "no-edns0":
      c.edns0 = false;
      return;
    case "trust-ad":
      c.trustAd = true;
      return;
    case "tcp":
    case "use-vc":
      c.useTcp = true;
      return;
  }
}

/** The default when there is no resolv.conf at all: hosts only, no DNS (libasr). */
export function defaultConf(hostname = ""): ResolvConf {
  return finish(baseConf(), hostname, ["file"]);
}

function baseConf(): ResolvConf {
  return {
    nameservers: [],
    search: [],
    domain: null,
    ndots: 1,
    timeoutMs: 5000,
    attempts: 2,
    rotate: false,
    edns0: true,
    trustAd: false,
    useTcp: false,
    lookup: [],
    family: [],
  };
}

function finish(
  c: ResolvConf,
  hostname: string,
  lookup: LookupDb[],
  searchSet = false,
): ResolvConf {
  if (c.lookup.length === 0) c.lookup = lookup;
  if (c.family.length === 0) c.family = ["inet4", "inet6"];
  if (c.nameservers.length === 0) c.nameservers = [{ address: "127.0.0.1", port: 53 }];
  if (c.domain === null) {
    const dot = hostname.indexOf(".");
    if (dot >= 0 && dot < hostname.length - 1) c.domain = hostname.slice(dot + 1);
  }
  if (!searchSet && c.domain) {
    // libasr: the domain and its parents, but not the last single label.
    const labels = c.domain.split(".").filter((l) => l !== "");
    for (let i = 0; i < labels.length - 1; i++) c.search.push(labels.slice(i).join("."));
    if (labels.length === 1) c.search.push(c.domain);
  }
  return c;
}

export type ParseEnv = { hostname?: string; resOptions?: string; localDomain?: string };

/** Parses resolv.conf text. Unknown keywords and malformed lines are ignored, as libc does. */
export function parseResolvConf(text: string, env: ParseEnv = {}): ResolvConf {
  const c = baseConf();
  let searchSet = false;
  for (const raw of text.slice(0, MAX_FILE_OCTETS).split("\n")) {
    const tokens = raw
      .replace(/[#;].*/, "")
      .trim()
      .split(/\s+/)
      .filter((t) => t !== "")
      .slice(0, MAX_TOKENS);
    const [kw, ...args] = tokens;
    if (kw === "nameserver" && args[0] && c.nameservers.length < MAX_NAMESERVERS) {
      const s = parseServer(args[0]);
      if (s) c.nameservers.push(s);
    } else if (kw === "domain" && args[0] && c.domain === null) {
      c.domain = args[0].replace(/\.$/, "");
    } else if (kw === "search" && args.length > 0) {
      c.search = args.map((d) => d.replace(/\.$/, ""));
      searchSet = true;
    } else if (kw === "lookup") {
      const dbs = args.filter((a) => a !== "yp").slice(0, 3);
      const ok = dbs.every((d) => d === "bind" || d === "file") && new Set(dbs).size === dbs.length;
      if (ok) c.lookup = dbs as LookupDb[];
    } else if (kw === "family") {
      const fams = args.slice(0, 2);
      if (fams.every((f) => f === "inet4" || f === "inet6") && new Set(fams).size === fams.length)
        c.family = fams as Family[];
    } else if (kw === "options") {
      for (const o of args) applyOption(c, o);
    }
  }
  if (env.localDomain) {
    c.search = env.localDomain.split(/\s+/).filter((d) => d !== "");
    searchSet = true;
  }
  for (const o of (env.resOptions ?? "").split(/\s+/)) if (o) applyOption(c, o);
  return finish(c, env.hostname ?? "", ["bind", "file"], searchSet);
}
