// End-to-end tests of the table-passwd program: the compiled and the bundled program are
// spawned as smtpd does (one UNIX stream socket as stdin and stdout) and spoken to in
// smtpd-tables(7) 0.1; the passwd file is changed on disk between updates.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { LineReader } from "./line-reader.js";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const programs: [string, string[]][] = [];
if (existsSync(join(pkg, "bundle/table-passwd.cjs")))
  programs.push(["bundle", [join(pkg, "bundle/table-passwd.cjs")]]);
programs.push(["compiled", [process.execPath, join(pkg, "dist/table-passwd.js")]]);

const dir = mkdtempSync(join(tmpdir(), "facteur-table-passwd-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const sha512 = (pw: string, salt: string): string =>
  execFileSync("openssl", ["passwd", "-6", "-salt", salt, "-stdin"], { input: pw })
    .toString()
    .trim();
// Drepper's SHA-crypt spec vectors, so the test does not need openssl for these two users.
const ALICE =
  "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
const BOB = "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA";

/** The smtpd end of a table: lines out, lines in, one reply awaited at a time. */
class TableClient {
  readonly #sock: Socket;
  readonly #reader = new LineReader();
  readonly #lines: string[] = [];
  #waiter: ((line: string | null) => void) | undefined;
  #ended = false;
  constructor(sock: Socket) {
    this.#sock = sock;
    sock.on("data", (chunk: Buffer) => {
      const r = this.#reader.push(chunk);
      this.#lines.push(...r.lines);
      this.#wake();
    });
    sock.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    sock.on("error", () => {});
  }
  #wake() {
    const w = this.#waiter;
    if (w === undefined) return;
    if (this.#lines.length > 0) {
      this.#waiter = undefined;
      w(this.#lines.shift()!);
    } else if (this.#ended) {
      this.#waiter = undefined;
      w(null);
    }
  }
  send(...lines: string[]) {
    this.#sock.write(lines.map((l) => `${l}\n`).join(""));
  }
  next(): Promise<string | null> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#wake();
    });
  }
  async ask(line: string): Promise<string | null> {
    this.send(line);
    return this.next();
  }
  close() {
    this.#sock.end();
  }
}

/** Starts the program with one socket as its stdin and stdout, as fork_proc_backend does. */
async function startOverSocket(cmd: string[], args: string[]) {
  const path = join(dir, `s${Math.random().toString(36).slice(2)}.sock`);
  const server = createServer();
  await new Promise<void>((r) => server.listen(path, r));
  const accepted = new Promise<Socket>((r) => server.once("connection", r));
  const client = connect(path);
  const theirs = await accepted;
  server.close();
  const child = spawn(cmd[0]!, [...cmd.slice(1), ...args], { stdio: [theirs, theirs, "pipe"] });
  theirs.destroy();
  let stderr = "";
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, table: new TableClient(client), exited, stderr: () => stderr };
}

/** Runs the program on plain pipes with the given input; returns its exit code and output. */
function runPiped(cmd: string[], args: string[], input: string) {
  const child: ChildProcess = spawn(cmd[0]!, [...cmd.slice(1), ...args], { stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => {
    stdout += d;
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  child.stdin!.on("error", () => {});
  child.stdin!.end(input);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((r) =>
    child.on("close", (code) => r({ code, stdout, stderr })),
  );
}

const HANDSHAKE = [
  "config|smtpd-version|7.8.0",
  "config|protocol|0.1",
  "config|tablename|users",
  "config|ready",
];
let n = 0;
const id = () => (++n).toString(16).padStart(8, "0");
const ts = () => `${Math.floor(Date.now() / 1000)}.${String(Date.now() % 1000).padStart(6, "0")}`;
const lookup = (service: string, key: string) => {
  const i = id();
  return { line: `table|0.1|${ts()}|users|lookup|${service}|${i}|${key}`, id: i };
};

for (const [flavour, cmd] of programs) {
  describe(`table-passwd (${flavour})`, { timeout: 60_000 }, () => {
    test("handshake, lookups, auth checks, update after the file changed, clean exit", async () => {
      const file = join(dir, `passwd-${flavour}`);
      writeFileSync(
        file,
        `# virtual users\nalice:${ALICE}:1000:1000:Alice:/home/alice:/sbin/nologin\n` +
          `bob:${BOB}:1001:1001::/var/vmail/bob\n`,
      );
      const { table, exited, stderr } = await startOverSocket(cmd, [file]);
      table.send(...HANDSHAKE);
      for (const s of [
        "register|credentials",
        "register|userinfo",
        "register|auth",
        "register|ready",
      ]) {
        assert.equal(await table.next(), s);
      }
      let r = lookup("credentials", "alice");
      assert.equal(await table.ask(r.line), `lookup-result|${r.id}|found|alice:${ALICE}`);
      r = lookup("userinfo", "bob");
      assert.equal(await table.ask(r.line), `lookup-result|${r.id}|found|1001:1001:/var/vmail/bob`);
      r = lookup("userinfo", "carol");
      assert.equal(await table.ask(r.line), `lookup-result|${r.id}|not-found`);
      let i = id();
      assert.equal(
        await table.ask(`table|0.1|${ts()}|users|check|auth|${i}|alice:Hello world!`),
        `check-result|${i}|found`,
      );
      i = id();
      assert.equal(
        await table.ask(`table|0.1|${ts()}|users|check|auth|${i}|alice:hello world!`),
        `check-result|${i}|not-found`,
      );
      i = id();
      assert.equal(
        await table.ask(`table|0.1|${ts()}|users|check|auth|${i}|bob:Hello world!`),
        `check-result|${i}|found`,
      );
      i = id();
      assert.equal(
        await table.ask(`table|0.1|${ts()}|users|fetch|source|${i}`),
        `fetch-result|${i}|error|service source not registered`,
      );

      // The file changes: nothing moves until smtpd asks for an update.
      const carolPw = "c:a|r o\u00e9l";
      const carol = existsSync("/usr/bin/openssl") ? sha512(carolPw, "carolsalt") : ALICE;
      writeFileSync(
        file,
        `alice:${ALICE}:1000:1000:Alice:/home/alice2:\ncarol:${carol}:1002:1002::/home/carol\n`,
      );
      r = lookup("userinfo", "carol");
      assert.equal(await table.ask(r.line), `lookup-result|${r.id}|not-found`);
      i = id();
      assert.equal(await table.ask(`table|0.1|${ts()}|users|update|${i}`), `update-result|${i}|ok`);
      r = lookup("userinfo", "carol");
      assert.equal(await table.ask(r.line), `lookup-result|${r.id}|found|1002:1002:/home/carol`);
      r = lookup("userinfo", "alice");
      assert.equal(await table.ask(r.line), `lookup-result|${r.id}|found|1000:1000:/home/alice2`);
      r = lookup("credentials", "bob");
      assert.equal(await table.ask(r.line), `lookup-result|${r.id}|not-found`);
      if (carol !== ALICE) {
        i = id();
        assert.equal(
          await table.ask(`table|0.1|${ts()}|users|check|auth|${i}|carol:${carolPw}`),
          `check-result|${i}|found`,
        );
      }

      // A broken file: update fails with a reason and the previous content stays.
      writeFileSync(file, "alice:x:1:1\n");
      i = id();
      assert.match(
        (await table.ask(`table|0.1|${ts()}|users|update|${i}`)) ?? "",
        new RegExp(`^update-result\\|${i}\\|error\\|.*:1: expected at least 6`),
      );
      r = lookup("userinfo", "carol");
      assert.equal(await table.ask(r.line), `lookup-result|${r.id}|found|1002:1002:/home/carol`);

      table.close();
      assert.equal(await table.next(), null);
      assert.equal(await exited, 0);
      assert.equal(stderr(), "");
    });

    test("pipelined requests are all answered, in order", async () => {
      const file = join(dir, `passwd-pipe-${flavour}`);
      writeFileSync(file, `alice:${ALICE}:1000:1000::/home/alice\n`);
      const reqs = Array.from({ length: 20 }, (_, k) =>
        k % 2 === 0
          ? lookup("userinfo", "alice")
          : { line: `table|0.1|1|users|check|auth|a${k}|alice:Hello world!`, id: `a${k}` },
      );
      const input = `${HANDSHAKE.join("\n")}\n${reqs.map((q) => q.line).join("\n")}\n`;
      const { code, stdout, stderr } = await runPiped(cmd, [file], input);
      assert.equal(code, 0, stderr);
      const lines = stdout.trimEnd().split("\n").slice(4);
      assert.deepEqual(
        lines,
        reqs.map((q, k) =>
          k % 2 === 0
            ? `lookup-result|${q.id}|found|1000:1000:/home/alice`
            : `check-result|${q.id}|found`,
        ),
      );
    });

    test("the table name may come before the file (NAME FILE)", async () => {
      const file = join(dir, `passwd-name-${flavour}`);
      writeFileSync(file, "u:*:1:2::/h\n");
      const { code, stdout } = await runPiped(
        cmd,
        ["users", file],
        `${HANDSHAKE.join("\n")}\ntable|0.1|1|users|lookup|userinfo|1|u\n`,
      );
      assert.equal(code, 0);
      assert.match(stdout, /\nlookup-result\|1\|found\|1:2:\/h\n$/);
    });

    test("violations and bad setups exit 1 with one stderr line, never a stack trace", async () => {
      const file = join(dir, `passwd-bad-${flavour}`);
      writeFileSync(file, "u:*:1:2::/h\n");
      const cases: [string[], string, RegExp][] = [
        [
          [file],
          "config|protocol|0.2\nconfig|ready\n",
          /protocol error: unsupported table protocol version "0\.2"/,
        ],
        [
          [file],
          `${HANDSHAKE.join("\n")}\nhello\n`,
          /\[users\]: protocol error: malformed request/,
        ],
        [
          [file],
          `${HANDSHAKE.join("\n")}\ntable|0.1|1|users|drop|all|1|x\n`,
          /unknown table operation "drop"/,
        ],
        [[file], "config|protocol|0.1\n", /before the handshake finished/],
        [[join(dir, "missing")], "", /error parsing config file: .*missing: ENOENT/],
        [[], "", /missing passwd file\nusage: table-passwd/],
      ];
      writeFileSync(join(dir, "broken"), "no colons here\n");
      cases.push([
        [join(dir, "broken")],
        "",
        /error parsing config file: .*broken:1: expected at least 6/,
      ]);
      for (const [args, input, re] of cases) {
        const { code, stderr } = await runPiped(cmd, args, input);
        assert.equal(code, 1, `${input} -> ${stderr}`);
        assert.match(stderr, re);
        assert.doesNotMatch(stderr, /\n\s+at /);
      }
    });
  });
}
