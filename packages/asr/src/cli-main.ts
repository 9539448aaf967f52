// The `asr` command: one query (rcode, AD flag, answers) or an MX decision, as text or JSON.
// Kept apart from cli.ts so tests can call it with their own output sinks.

import { ResolverContext } from "./context.js";
import { hostsByName } from "./hosts.js";
import { resolveMx } from "./mx.js";
import { resSearch } from "./query.js";
import { rdataText, TYPES, typeCode, typeName } from "./rdata.js";

export type Io = { out: (s: string) => void; err: (s: string) => void };

export const EX_OK = 0;
export const EX_NEGATIVE = 1;
export const EX_USAGE = 64;
export const EX_TEMPFAIL = 75;

const USAGE =
  "usage: asr [-c resolv.conf] [--hosts FILE] [--json] NAME [TYPE]\n       asr [-c resolv.conf] [--json] mx DOMAIN";

type Args = { conf?: string; hosts?: string; json: boolean; rest: string[] };

function parseArgs(argv: string[]): Args | string {
  const a: Args = { json: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i] ?? "";
    if (v === "-c" || v === "--hosts") {
      const val = argv[++i];
      if (val === undefined) return `${v} needs a file argument`;
      if (v === "-c") a.conf = val;
      else a.hosts = val;
    } else if (v === "--json") a.json = true;
    else if (v === "--") {
      a.rest.push(...argv.slice(i + 1));
      break;
    } else if (v.startsWith("-") && v.length > 1) return `unknown option ${v}`;
    else a.rest.push(v);
  }
  if (a.rest.length === 0) return "missing NAME";
  return a;
}

export async function main(
  argv: string[],
  io: Io,
  env: { timeoutOverride?: string } = {},
): Promise<number> {
  const a = parseArgs(argv);
  if (typeof a === "string") {
    io.err(`asr: ${a}\n${USAGE}\n`);
    return EX_USAGE;
  }
  const ctx = new ResolverContext({
    resolvConfPath: a.conf ?? "/etc/resolv.conf",
    hostsPath: a.hosts ?? "/etc/hosts",
    ...env,
  });
  if (a.rest[0] === "mx" && a.rest.length > 1) {
    if (a.rest.length !== 2) {
      io.err(`asr: mx takes one DOMAIN\n${USAGE}\n`);
      return EX_USAGE;
    }
    const d = await resolveMx(ctx, a.rest[1] ?? "");
    if (a.json)
      io.out(
        `${JSON.stringify({ result: d.result, hosts: d.hosts, secure: d.secure, reason: d.reason })}\n`,
      );
    else
      io.out(
        `${d.result}: ${d.reason}\n${d.hosts.map((h) => `${h.preference} ${h.exchange}\n`).join("")}`,
      );
    if (d.result === "tempfail") return EX_TEMPFAIL;
    return d.permanent ? EX_NEGATIVE : EX_OK;
  }
  if (a.rest.length > 2) {
    io.err(`asr: too many arguments\n${USAGE}\n`);
    return EX_USAGE;
  }
  const [name = "", tname = "A"] = a.rest;
  const type = typeCode(tname);
  if (type === null) {
    io.err(`asr: unknown record type ${tname}\n${USAGE}\n`);
    return EX_USAGE;
  }
  if (type === TYPES.A || type === TYPES.AAAA) {
    // The hosts file answers when `lookup` puts file before bind (or there is no resolv.conf).
    const snap = await ctx.snapshot();
    const hit = snap.conf.lookup[0] === "file" ? hostsByName(snap.hosts, name) : null;
    const entries = hit?.entries.filter((e) => e.family === (type === TYPES.A ? 4 : 6)) ?? [];
    if (hit && entries.length > 0) {
      const answers = entries.map((e) => ({ name, type: typeName(type), ttl: 0, data: e.address }));
      print(io, a.json, { rcode: "NOERROR", ad: false, source: "file", answers });
      return EX_OK;
    }
  }
  const r = await resSearch(ctx, name, type);
  if (r.errno) {
    io.err(`asr: ${r.name}: ${r.errno}${r.reason ? ` (${r.reason})` : ""}\n`);
    if (a.json)
      io.out(
        `${JSON.stringify({ rcode: null, ad: false, error: r.errno, reason: r.reason, answers: [] })}\n`,
      );
    return r.errno === "EINVAL" ? EX_USAGE : EX_TEMPFAIL;
  }
  const answers = (r.message?.answers ?? []).map((rr) => ({
    name: rr.name,
    type: rr.data.type === "UNKNOWN" ? typeName(rr.data.code) : rr.data.type,
    ttl: rr.ttl,
    data: rdataText(rr.data),
  }));
  print(io, a.json, { rcode: r.rcodeName ?? "", ad: r.ad, source: "bind", answers });
  return r.hErrno === "NETDB_SUCCESS" || r.hErrno === "NO_DATA" ? EX_OK : EX_NEGATIVE;
}

type Shown = {
  rcode: string;
  ad: boolean;
  source: string;
  answers: { name: string; type: string; ttl: number; data: string }[];
};

function print(io: Io, json: boolean, s: Shown): void {
  if (json) {
    io.out(`${JSON.stringify({ rcode: s.rcode, ad: s.ad, answers: s.answers })}\n`);
    return;
  }
  io.out(`rcode: ${s.rcode}\nad: ${s.ad ? 1 : 0}\n`);
  for (const x of s.answers) io.out(`${x.name}\t${x.ttl}\t${x.type}\t${x.data}\n`);
}
