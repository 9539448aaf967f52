// End-to-end harness: a real smtpd (the built bundle) in a temporary root, on loopback
// ports found by binding port 0; bounded waits only; the daemon is stopped by its PID.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
export const SMTPD = join(repo, "packages/smtpd/bin/smtpd.cjs");
export const SMTPCTL = join(repo, "packages/smtpd/bin/smtpctl.cjs");

export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const a = s.address();
      s.close(() =>
        typeof a === "object" && a !== null ? resolve(a.port) : reject(new Error("no port")),
      );
    });
  });
}

export interface Daemon {
  readonly root: string;
  readonly proc: ChildProcess;
  readonly log: () => string;
  smtpctl(...args: string[]): { code: number | null; out: string; err: string };
  stop(): Promise<number | null>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start smtpd with `config` (text; `$ROOT` is replaced by the temp root) and wait for it. */
export async function startDaemon(
  config: string,
  opts: { root?: string; timeoutMs?: number; args?: readonly string[] } = {},
): Promise<Daemon> {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), "facteur-e2e-"));
  // The roles run as the smtpd users when the tests run as root: they must reach the root.
  chmodSync(root, 0o711);
  const conf = join(root, "smtpd.conf");
  writeFileSync(conf, config.replaceAll("$ROOT", root));
  let log = "";
  const proc = spawn(
    process.execPath,
    [SMTPD, "-d", "-v", "-f", conf, "--root", root, ...(opts.args ?? [])],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, FACTEUR_LIBEXEC: join(root, "libexec") },
    },
  );
  proc.stdout?.on("data", (d: Buffer) => (log += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  const smtpctl = (...args: string[]) => {
    const r = spawnSync(process.execPath, [SMTPCTL, "--root", root, ...args], {
      encoding: "utf8",
      timeout: 20_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const exited = new Promise<number | null>((resolve) =>
    proc.once("exit", (code) => resolve(code)),
  );
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    if (proc.exitCode !== null)
      throw new Error(`smtpd exited with ${proc.exitCode} while starting:\n${log}`);
    if (log.includes("smtpd ready") && smtpctl("show", "status").code === 0) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`smtpd did not start in time:\n${log}`);
    }
    await sleep(50);
  }
  return {
    root,
    proc,
    log: () => log,
    smtpctl,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(t);
      if (opts.root === undefined) rmSync(root, { recursive: true, force: true });
      return code;
    },
  };
}
