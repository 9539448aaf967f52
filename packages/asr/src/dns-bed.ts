// The local DNS test bed: nsd (authoritative for unsigned.test and the ldns-signed
// signed.test) and a validating unbound in front of it, each our own instance with its own
// config on 127.0.0.1 high ports in a temp dir. Never touches system services or the internet.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BED_TOOLS = ["nsd", "unbound", "ldns-keygen", "ldns-signzone"] as const;
const SEARCH_PATH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

export function findTool(name: string): string | null {
  for (const d of [...(process.env.PATH ?? "").split(":"), ...SEARCH_PATH])
    if (d && existsSync(join(d, name))) return join(d, name);
  return null;
}

export function missingTools(): string[] {
  return BED_TOOLS.filter((t) => findTool(t) === null);
}

/** A port free for both UDP and TCP on the address (bind port 0, then check the other side). */
export async function freePort(address = "127.0.0.1"): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const tcp = createServer();
    const port = await new Promise<number>((res, rej) => {
      tcp.once("error", rej);
      tcp.listen(0, address, () => {
        const a = tcp.address();
        res(typeof a === "object" && a ? a.port : 0);
      });
    });
    const udp = createSocket("udp4");
    const ok = await new Promise<boolean>((res) => {
      udp.once("error", () => res(false));
      udp.bind(port, address, () => res(true));
    });
    udp.close();
    await new Promise<void>((r) => tcp.close(() => r()));
    if (ok) return port;
  }
  throw new Error("no free port");
}

export const TLSA_HEX = "8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d";

const UNSIGNED = `$ORIGIN unsigned.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 86400 300
@ NS ns1
ns1 A 127.0.0.1
@ MX 10 mx1
mx1 A 127.0.0.11
_25._tcp.mx1 TLSA 3 1 1 ${TLSA_HEX}
implicit A 127.0.0.12
v6only AAAA ::1
nullmx MX 0 .
nullmx A 127.0.0.13
mx-localhost MX 10 localhost.
nodata TXT "no mail here"
cname1 CNAME implicit
mx-alias MX 10 cname1
mx-dangling MX 10 nothere
mx-dangling MX 20 mx1
loop1 CNAME loop2
loop2 CNAME loop1
spf-split TXT "v=spf1 " "ip4:127.0.0.1 " "-all"
MixedCase A 127.0.0.14
${Array.from({ length: 30 }, (_, i) => `bigtxt TXT "${String(i).padStart(2, "0")}${"x".repeat(60)}"`).join("\n")}
`;

const SIGNED = `$ORIGIN signed.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 86400 300
@ NS ns1
ns1 A 127.0.0.1
@ MX 10 mx
@ MX 20 mx2
mx A 127.0.0.31
_25._tcp.mx TLSA 3 1 1 ${TLSA_HEX}
mx2 A 127.0.0.32
dane-bogus A 127.0.0.33
_25._tcp.dane-bogus TLSA 3 1 1 ${TLSA_HEX}
bogus A 127.0.0.66
`;

export type DnsBed = {
  dir: string;
  nsdPort: number;
  unboundPort: number;
  /** resolv.conf text pointing at the validating unbound (127.0.0.1: trusted for AD). */
  resolvConf: string;
  stop(): Promise<void>;
};

function startDaemon(cmd: string, args: string[], log: string[]): ChildProcess {
  const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  p.stdout?.on("data", (d) => log.push(String(d)));
  p.stderr?.on("data", (d) => log.push(String(d)));
  return p;
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.pid === undefined) return;
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  process.kill(p.pid, "SIGTERM");
  const t = setTimeout(() => p.pid && p.exitCode === null && process.kill(p.pid, "SIGKILL"), 5000);
  await exited;
  clearTimeout(t);
}

/** Polls `probe` every 50 ms until it is true or `ms` have passed. */
export async function waitFor(probe: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function signZone(dir: string): string {
  const keygen = findTool("ldns-keygen") ?? "ldns-keygen";
  const key = execFileSync(keygen, ["-a", "ECDSAP256SHA256", "-k", "signed.test"], {
    cwd: dir,
    encoding: "utf8",
  }).trim();
  writeFileSync(join(dir, "signed.test.zone"), SIGNED);
  execFileSync(findTool("ldns-signzone") ?? "ldns-signzone", ["signed.test.zone", key], {
    cwd: dir,
  });
  // Break two signatures on purpose: change signed data after signing.
  const signed = readFileSync(join(dir, "signed.test.zone.signed"), "utf8")
    .split("\n")
    .map((l) => {
      if (/^bogus\.signed\.test\.\s.*\sA\s+127\.0\.0\.66$/.test(l))
        return l.replace("127.0.0.66", "127.0.0.67");
      if (/^_25\._tcp\.dane-bogus\.signed\.test\.\s.*\sTLSA\s/.test(l))
        return l.replace(/[0-9a-f]{64}$/i, "00".repeat(32));
      return l;
    })
    .join("\n");
  writeFileSync(join(dir, "signed.test.zone.signed"), signed);
  const ds = readdirSync(dir).find((f) => f.endsWith(".ds"));
  if (!ds) throw new Error("ldns-keygen wrote no DS file");
  return join(dir, ds);
}

/** Starts nsd and unbound and waits until unbound answers for signed.test with AD. */
export async function startBed(ready: (resolvConf: string) => Promise<boolean>): Promise<DnsBed> {
  const dir = mkdtempSync(join(tmpdir(), "asr-bed-"));
  const log: string[] = [];
  const procs: ChildProcess[] = [];
  const stop = async () => {
    for (const p of procs.reverse()) await stopProcess(p);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    writeFileSync(join(dir, "unsigned.test.zone"), UNSIGNED);
    const dsFile = signZone(dir);
    const nsdPort = await freePort();
    writeFileSync(
      join(dir, "nsd.conf"),
      `server:
  ip-address: 127.0.0.1@${nsdPort}
  port: ${nsdPort}
  do-ip6: no
  username: ""
  zonesdir: "${dir}"
  pidfile: "${dir}/nsd.pid"
  database: ""
  xfrdfile: "${dir}/xfrd.state"
  zonelistfile: "${dir}/zone.list"
  logfile: "${dir}/nsd.log"
  server-count: 1
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: unsigned.test
  zonefile: unsigned.test.zone
zone:
  name: signed.test
  zonefile: signed.test.zone.signed
`,
    );
    procs.push(startDaemon(findTool("nsd") ?? "nsd", ["-d", "-c", join(dir, "nsd.conf")], log));
    const unboundPort = await freePort();
    writeFileSync(
      join(dir, "root.hints"),
      ". 3600000 NS a.root.invalid.\na.root.invalid. 3600000 A 127.0.0.254\n",
    );
    const stub = (zone: string) =>
      `stub-zone:\n  name: "${zone}"\n  stub-addr: 127.0.0.1@${nsdPort}\n`;
    writeFileSync(
      join(dir, "unbound.conf"),
      `server:
  interface: 127.0.0.1@${unboundPort}
  port: ${unboundPort}
  do-ip6: no
  do-daemonize: no
  use-syslog: no
  logfile: ""
  verbosity: 0
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${dir}/unbound.pid"
  num-threads: 1
  so-reuseport: no
  do-not-query-localhost: no
  root-hints: "${dir}/root.hints"
  trust-anchor-file: "${dsFile}"
  domain-insecure: "unsigned.test"
  module-config: "validator iterator"
  ede: yes
  val-log-level: 2
  local-zone: "." refuse
  local-zone: "signed.test." transparent
  local-zone: "unsigned.test." transparent
  local-zone: "in-addr.arpa." refuse
remote-control:
  control-enable: no
${stub("signed.test.")}${stub("unsigned.test.")}`,
    );
    procs.push(
      startDaemon(findTool("unbound") ?? "unbound", ["-d", "-c", join(dir, "unbound.conf")], log),
    );
    const resolvConf = `nameserver 127.0.0.1:${unboundPort}\noptions timeout:2 attempts:2\n`;
    if (!(await waitFor(() => ready(resolvConf), 15000)))
      throw new Error(`DNS bed did not come up:\n${log.join("")}`);
    return { dir, nsdPort, unboundPort, resolvConf, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
