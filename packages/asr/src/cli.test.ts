// Tests of the asr command: arguments, text and JSON output, MX decisions, the bundle.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { EX_NEGATIVE, EX_OK, EX_TEMPFAIL, EX_USAGE, main } from "./cli-main.js";
import { quirkHandler, startTestServer, type TestServer } from "./test-server.js";

let srv: TestServer;
let dir: string;
let rc: string;

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

before(async () => {
  srv = await startTestServer(
    quirkHandler({
      "tlsa.test": [
        { type: "TLSA", usage: 3, selector: 1, matchingType: 1, data: Buffer.from("abcd", "hex") },
      ],
      "mail.test": [
        { type: "MX", preference: 20, exchange: "mx2.mail.test" },
        { type: "MX", preference: 10, exchange: "mx1.mail.test" },
      ],
    }),
    "127.0.0.2",
  );
  dir = mkdtempSync(join(tmpdir(), "asr-cli-"));
  rc = join(dir, "resolv.conf");
  writeFileSync(
    rc,
    `nameserver 127.0.0.2:${srv.port}\noptions timeout:1 attempts:1\nlookup file bind\n`,
  );
  writeFileSync(join(dir, "hosts"), "127.0.0.98 fromhosts.test\n");
});
after(async () => {
  await srv?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("asr command", () => {
  it("prints rcode, AD and answers as JSON", async () => {
    const r = await run("-c", rc, "--json", "tlsa.test", "TLSA");
    assert.equal(r.code, EX_OK);
    assert.deepEqual(JSON.parse(r.out), {
      rcode: "NOERROR",
      ad: false,
      answers: [{ name: "tlsa.test", type: "TLSA", ttl: 60, data: "3 1 1 abcd" }],
    });
    const nx = await run("-c", rc, "--json", "nope.test.");
    assert.equal(nx.code, EX_NEGATIVE);
    assert.equal(JSON.parse(nx.out).rcode, "NXDOMAIN");
  });
  it("prints text and reads the hosts file", async () => {
    const r = await run("-c", rc, "--hosts", join(dir, "hosts"), "fromhosts.test");
    assert.equal(r.out, "rcode: NOERROR\nad: 0\nfromhosts.test\t0\tA\t127.0.0.98\n");
  });
  it("prints MX decisions", async () => {
    const r = await run("-c", rc, "--json", "mx", "mail.test");
    const j = JSON.parse(r.out);
    assert.equal(j.result, "mx");
    assert.deepEqual(j.hosts, [
      { preference: 10, exchange: "mx1.mail.test" },
      { preference: 20, exchange: "mx2.mail.test" },
    ]);
    assert.equal(
      JSON.parse((await run("-c", rc, "--json", "mx", "nope.test")).out).result,
      "nxdomain",
    );
    const t = await run("-c", rc, "mx", "servfail.quirk.test");
    assert.equal(t.code, EX_TEMPFAIL);
    assert.match(t.out, /^tempfail: /);
  });
  it("refuses bad arguments with a reason", async () => {
    for (const argv of [
      [],
      ["-c"],
      ["--bogus", "x"],
      ["x.test", "NOTATYPE"],
      ["a", "b", "c"],
      ["mx", "a", "b"],
    ]) {
      const r = await run(...argv);
      assert.equal(r.code, EX_USAGE, argv.join(" "));
      assert.match(r.err, /^asr: .+\nusage:/);
    }
  });
  it("runs as the bundled binary", {}, async () => {
    // Asynchronous: the scripted server lives in this process.
    const exec = (args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((res) => {
        execFile(
          process.execPath,
          [fileURLToPath(new URL("../bin/asr.cjs", import.meta.url)), ...args],
          { timeout: 10000 },
          (e, stdout, stderr) => res({ status: e ? Number(e.code ?? 1) : 0, stdout, stderr }),
        );
      });
    const r = await exec(["-c", rc, "--json", "tlsa.test", "TLSA"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).answers[0].type, "TLSA");
    const bad = await exec([]);
    assert.equal(bad.status, EX_USAGE);
  });
});
