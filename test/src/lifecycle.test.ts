// The daemon's life: a second instance on the same root is refused, SIGTERM stops every
// process, and a role that dies makes the daemon stop cleanly (logged, non-zero exit, no
// process left behind) instead of hanging.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { freePort, startDaemon } from "./harness.js";
import { SmtpClient } from "./smtp-client.js";

/** Child PIDs of a process, from /proc (Linux). */
function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/))
      if (t !== "") out.push(Number(t));
  } catch {
    // gone
  }
  return out;
}

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, f: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a second daemon on the same root is refused; SIGTERM stops every process", async () => {
  const port = await freePort();
  const conf = `listen on 127.0.0.1 port ${port}\naction "l" mbox\nmatch for local action "l"\n`;
  const d = await startDaemon(conf);
  const kids = children(d.proc.pid!);
  assert.equal(kids.length, 4, `roles: ${kids.map((k) => cmdline(k).join(" ")).join("; ")}`);
  await assert.rejects(startDaemon(conf, { root: d.root }), /already running/);
  assert.equal(await d.stop(), 0, d.log());
  await until("roles gone", () => kids.every((k) => !alive(k)));
});

for (const role of ["lookup", "queue", "dispatcher", "control"]) {
  test(`a ${role} role killed with SIGKILL stops the daemon cleanly`, async () => {
    const port = await freePort();
    const d = await startDaemon(
      `listen on 127.0.0.1 port ${port}\naction "l" mbox\nmatch for local action "l"\n`,
    );
    const kids = children(d.proc.pid!);
    const victim = kids.find((k) => cmdline(k).includes(role));
    assert.ok(victim, `no ${role} among ${kids.map((k) => cmdline(k).join(" "))}`);
    process.kill(victim, "SIGKILL");
    await until("daemon exit", () => d.proc.exitCode !== null);
    assert.equal(d.proc.exitCode, 1);
    assert.match(d.log(), new RegExp(`lost child: ${role} exited abnormally \\(SIGKILL\\)`));
    await until("no process left", () => kids.every((k) => !alive(k)));
    await d.stop();
  });
}

test("directives from included files reach every process", async () => {
  const port = await freePort();
  const closed = await freePort();
  const root = mkdtempSync(join(tmpdir(), "facteur-inc-"));
  writeFileSync(
    join(root, "rules.conf"),
    `action "inc" lmtp "127.0.0.1:${closed}" user nobody\nmatch from any for domain "inc.test" action "inc"\n`,
  );
  const d = await startDaemon(
    `listen on 127.0.0.1 port ${port}\ninclude "${join(root, "rules.conf")}"\n`,
    { root },
  );
  try {
    const c = await SmtpClient.open(port);
    await c.reply();
    await c.command("EHLO client.test");
    await c.command("MAIL FROM:<a@client.test>");
    const r = await c.command("RCPT TO:<x@inc.test>");
    assert.equal(r.code, 250, `${r.text}\n${d.log()}`);
    c.close();
  } finally {
    assert.equal(await d.stop(), 0, d.log());
    rmSync(root, { recursive: true, force: true });
  }
});

test("-P smtp -P mda: the daemon starts with them paused", async () => {
  const port = await freePort();
  const d = await startDaemon(
    `listen on 127.0.0.1 port ${port}\naction "l" mbox\nmatch for local action "l"\n`,
    {
      args: ["-P", "smtp", "-Pmda"],
    },
  );
  try {
    assert.equal(d.smtpctl("show", "status").out, "MDA paused\nMTA running\nSMTP paused\n");
    const c = await SmtpClient.open(port);
    assert.equal((await c.reply()).text, "421 4.3.2 Service temporarily unavailable");
    c.close();
    assert.equal(d.smtpctl("resume", "smtp").code, 0);
    const c2 = await SmtpClient.open(port);
    assert.equal((await c2.reply()).code, 220);
    c2.close();
  } finally {
    assert.equal(await d.stop(), 0, d.log());
  }
});
