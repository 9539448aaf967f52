// Local delivery end to end: real system users created by the test, mail sent with Python's
// smtplib lands in their maildir and mbox, through an mda command, via aliases; unknown users
// are refused at RCPT; an address full of shell metacharacters is never executed; a failing
// destination bounces an RFC 3464 report into the sender's maildir. Needs root (useradd).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Daemon, freePort, startDaemon } from "./harness.js";
import { SmtpClient } from "./smtp-client.js";

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : "needs root to create users and deliver as them";
const tag = process.pid.toString(36);
const U1 = `fct1${tag}`.slice(0, 16);
const U2 = `fct2${tag}`.slice(0, 16);
const PWN = `/tmp/fpw${tag}`;

let d: Daemon;
let port = 0;
let closedPort = 0;
let home = "";

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
}

/** Polls (bounded) until `f` returns a value. */
async function waitFor<T>(what: string, f: () => T | null, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${d.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const maildirFiles = (user: string): string[] => {
  const dir = join(home, user, "Maildir", "new");
  return existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
};

function send(from: string, to: string[], body: string): string {
  const py = [
    "import smtplib, sys",
    `s = smtplib.SMTP("127.0.0.1", ${port}, timeout=20)`,
    "s.ehlo('py.test')",
    `r = s.sendmail(${JSON.stringify(from)}, ${JSON.stringify(to)}, sys.stdin.buffer.read())`,
    "print('refused', r)",
    "s.quit()",
  ].join("\n");
  const r = spawnSync("python3", ["-c", py], { input: body, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return r.stdout.trim();
}

before(async () => {
  if (!isRoot) return;
  port = await freePort();
  closedPort = await freePort();
  const root = mkdtempSync(join(tmpdir(), "facteur-dlv-"));
  chmodSync(root, 0o711);
  home = join(root, "home");
  mkdirSync(home, { mode: 0o755 });
  for (const u of [U1, U2]) {
    spawnSync("userdel", ["-r", u]);
    sh("useradd", ["-m", "-d", join(home, u), "-s", "/bin/sh", u]);
  }
  d = await startDaemon(
    [
      `listen on 127.0.0.1 port ${port} hostname mx.test`,
      "bounce warn-interval 1s",
      'mda wrapper "wrap" "echo wrapped > wrap.out; %{mda}"',
      `table aliases { "list" = "${U1}, ${U2}", "postmaster" = "${U1}" }`,
      'action "md" maildir alias <aliases>',
      'action "mb" mbox',
      'action "cmd" mda "cat > mda.out"',
      'action "wr" mda "cat > wrapped-mda.out" wrapper "wrap"',
      `action "inj" mda "cat > inj-%{rcpt.user}.out" user ${U1}`,
      'action "fail" mda "echo no such mailbox >&2; exit 67"',
      `action "stuck" lmtp "127.0.0.1:${closedPort}" user nobody`,
      'match from any for domain "md.test" action "md"',
      'match from any for domain "mb.test" action "mb"',
      'match from any for domain "cmd.test" action "cmd"',
      'match from any for domain "wr.test" action "wr"',
      'match from any for domain "inj.test" action "inj"',
      'match from any for domain "fail.test" action "fail"',
      'match from any for domain "stuck.test" action "stuck"',
      "",
    ].join("\n"),
    { root },
  );
});

after(async () => {
  if (!isRoot) return;
  const code = await d.stop();
  for (const u of [U1, U2]) spawnSync("userdel", ["-r", u]);
  rmSync(PWN, { force: true });
  assert.equal(code, 0, d.log());
});

test("a message lands byte-exact in the user's maildir, owned by the user", { skip }, async () => {
  const body = `Subject: to maildir\r\nX-Marker: ${tag}-1\r\n\r\nline one\r\n.dot line\r\n`;
  assert.equal(send("sender@client.test", [`${U1}@md.test`], body), "refused {}");
  const file = await waitFor("maildir file", () => maildirFiles(U1)[0] ?? null);
  const text = readFileSync(file, "utf8");
  assert.match(text, /^Return-Path: <sender@client\.test>\nDelivered-To: /);
  assert.match(text, /\nReceived: from py\.test /);
  assert.ok(
    text.endsWith("Subject: to maildir\nX-Marker: " + `${tag}-1\n\nline one\n.dot line\n`),
    text,
  );
  // The log line comes once the worker's answer is back in the queue: wait for it.
  const line = new RegExp(
    `[0-9a-f]{16} mda delivery evpid=[0-9a-f]{16} from=<sender@client\\.test> to=<${U1}@md\\.test> rcpt=<${U1}@md\\.test> user=${U1} delay=\\d+s result=Ok stat=delivered to maildir`,
  );
  await waitFor("the delivery log line", () => (line.test(d.log()) ? true : null));
  const st = statSync(file);
  const uid = Number(spawnSync("id", ["-u", U1], { encoding: "utf8" }).stdout.trim());
  assert.equal(st.uid, uid);
  assert.equal(st.mode & 0o777, 0o600);
});

test("an alias expands to several users", { skip }, async () => {
  const before1 = maildirFiles(U1).length;
  const before2 = maildirFiles(U2).length;
  assert.equal(
    send("s@client.test", ["list@md.test"], "Subject: list\r\n\r\nhi all\r\n"),
    "refused {}",
  );
  await waitFor("both maildirs", () =>
    maildirFiles(U1).length > before1 && maildirFiles(U2).length > before2 ? true : null,
  );
});

test("an unknown user is refused at RCPT with 550 5.1.1", { skip }, async () => {
  const c = await SmtpClient.open(port);
  await c.reply();
  await c.command("EHLO client.test");
  await c.command("MAIL FROM:<a@client.test>");
  const r = await c.command("RCPT TO:<nosuchuser@md.test>");
  assert.equal(r.text, "550 5.1.1 Invalid recipient: <nosuchuser@md.test>");
  c.close();
});

test("mbox: a From line, >From quoting, a blank line at the end", { skip }, async () => {
  const body = "Subject: mbox\r\n\r\nFrom the start\r\n>From quoted\r\nend\r\n";
  assert.equal(send("m@client.test", [`${U2}@mb.test`], body), "refused {}");
  const mbox = join(d.root, "mail", U2);
  const text = await waitFor("mbox", () =>
    existsSync(mbox) && readFileSync(mbox, "utf8").endsWith("\n\n")
      ? readFileSync(mbox, "utf8")
      : null,
  );
  assert.match(text, /^From m@client\.test \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n/);
  assert.ok(text.includes("\n>From the start\n>>From quoted\nend\n\n"), text);
});

test("an mda command gets the message on stdin in the user's home", { skip }, async () => {
  assert.equal(
    send("c@client.test", [`${U1}@cmd.test`], "Subject: cmd\r\n\r\nvia mda\r\n"),
    "refused {}",
  );
  const out = join(home, U1, "mda.out");
  const text = await waitFor("mda output", () =>
    existsSync(out) && readFileSync(out, "utf8").includes("via mda")
      ? readFileSync(out, "utf8")
      : null,
  );
  assert.match(text, /^Return-Path: <c@client\.test>\n/);
});

test("shell metacharacters in an address are never executed", { skip }, async () => {
  // Every character here is legal in an unquoted local part (RFC 5322 atext).
  const rcpt = `a\`touch\${IFS}${PWN}\`|touch\${IFS}${PWN}b@inj.test`;
  const c = await SmtpClient.open(port);
  await c.reply();
  await c.command("EHLO client.test");
  await c.command("MAIL FROM:<x@client.test>");
  const r = await c.command(`RCPT TO:<${rcpt}>`);
  assert.equal(r.code, 250, r.text);
  {
    assert.equal((await c.command("DATA")).code, 354);
    assert.equal((await c.command("Subject: inj\r\n\r\nx\r\n.")).code, 250);
    await waitFor(
      "sanitised mda output",
      () => readdirSync(join(home, U1)).find((f) => f.startsWith("inj-")) ?? null,
    );
    const name = readdirSync(join(home, U1)).find((f) => f.startsWith("inj-"))!;
    assert.doesNotMatch(name, /[`${}|/]/);
  }
  c.close();
  assert.equal(existsSync(PWN), false, "the address was executed");
});

test("a failing delivery bounces an RFC 3464 report to the sender", { skip }, async () => {
  const before2 = maildirFiles(U2).length;
  const body = "Subject: doomed\r\nMessage-ID: <doomed@client.test>\r\n\r\nwill fail\r\n";
  assert.equal(send(`${U2}@md.test`, [`${U1}@fail.test`], body), "refused {}");
  const file = await waitFor("bounce", () =>
    maildirFiles(U2).length > before2
      ? (maildirFiles(U2).find((f) => readFileSync(f, "utf8").includes("doomed@client.test")) ??
        null)
      : null,
  );
  const text = readFileSync(file, "utf8");
  assert.match(text, /^Return-Path: <>\n/);
  assert.match(text, /\nContent-Type: multipart\/report; report-type=delivery-status; boundary="/);
  assert.match(text, /\nSubject: Delivery status notification: error\n/);
  assert.match(text, /An error has occurred while attempting to deliver a message for/);
  assert.match(text, /\nReporting-MTA: dns; /);
  assert.match(text, new RegExp(`\\nFinal-Recipient: rfc822; ${U1}@fail\\.test\\n`));
  assert.match(text, /\nAction: failed\n/);
  assert.match(text, /\nStatus: 5\.0\.0\n/);
  assert.match(text, /\nDiagnostic-Code: smtp; mda exited 67: no such mailbox\n/);
  assert.match(text, /\nContent-Type: message\/rfc822\n\n(.|\n)*Subject: doomed\n/);
});

/** Sends over a raw session so that DSN parameters can be given. */
async function sendRaw(from: string, rcpt: string, body: string): Promise<string> {
  const c = await SmtpClient.open(port);
  await c.reply();
  await c.command("EHLO client.test");
  assert.equal((await c.command(`MAIL FROM:<${from}> RET=HDRS ENVID=env-${tag}`)).code, 250);
  const r = await c.command(
    `RCPT TO:<${rcpt.split(" ")[0]}>${rcpt.includes(" ") ? ` ${rcpt.split(" ").slice(1).join(" ")}` : ""}`,
  );
  assert.equal(r.code, 250, r.text);
  assert.equal((await c.command("DATA")).code, 354);
  const done = await c.command(`${body}\r\n.`);
  assert.equal(done.code, 250, done.text);
  await c.command("QUIT");
  c.close();
  return /^250 2\.0\.0 ([0-9a-f]{8}) /.exec(done.text)![1]!;
}

const dsnsFor = (user: string, marker: string) =>
  maildirFiles(user).filter((f) => readFileSync(f, "utf8").includes(marker));

test("NOTIFY=SUCCESS sends a success report; RET=HDRS returns headers only", { skip }, async () => {
  const marker = `success-${tag}`;
  await sendRaw(
    `${U2}@md.test`,
    `${U1}@md.test NOTIFY=SUCCESS`,
    `Subject: ${marker}\r\n\r\nsecret body`,
  );
  const f = await waitFor("success DSN", () => dsnsFor(U2, "Action: delivered")[0] ?? null);
  const text = readFileSync(f, "utf8");
  assert.match(text, /\nSubject: Delivery status notification: success\n/);
  assert.match(text, new RegExp(`\\nOriginal-Envelope-Id: env-${tag}\\n`));
  assert.match(text, /\nContent-Type: text\/rfc822-headers\n/);
  assert.ok(text.includes(marker));
  assert.ok(!text.includes("secret body"));
});

test("a deferred delivery sends a delay notice after bounce warn-interval", { skip }, async () => {
  const marker = `delayed-${tag}`;
  await sendRaw(`${U2}@md.test`, "x@stuck.test", `Subject: ${marker}\r\n\r\nstuck`);
  const f = await waitFor("delay DSN", () => dsnsFor(U2, "Action: delayed")[0] ?? null, 40_000);
  const text = readFileSync(f, "utf8");
  assert.match(text, /\nSubject: Delivery status notification: delay\n/);
  assert.match(text, /\nStatus: 4\.0\.0\n/);
  assert.match(text, /\nFinal-Recipient: rfc822; x@stuck\.test\n/);
  assert.match(text, /\nDiagnostic-Code: smtp; cannot connect to LMTP/);
});

test("NOTIFY=NEVER: a failure sends no report", { skip }, async () => {
  const marker = `never-${tag}`;
  const msgid = await sendRaw(
    `${U2}@md.test`,
    `${U1}@fail.test NOTIFY=NEVER`,
    `Subject: ${marker}\r\n\r\nx`,
  );
  await waitFor("failure processed", () => {
    const q = d.smtpctl("show", "queue").out;
    return !q.includes(msgid) &&
      !q.split("\n").some((l) => l.split("|")[4] === "" && l.includes(`${U2}@md.test`))
      ? true
      : null;
  });
  assert.deepEqual(dsnsFor(U2, marker), []);
});

test("~/.forward is read with the user's rights: a copy kept and one forwarded", {
  skip,
}, async () => {
  const fwd = join(home, U2, ".forward");
  writeFileSync(fwd, `\\${U2}, ${U1}@md.test\n`);
  const uid2 = Number(spawnSync("id", ["-u", U2], { encoding: "utf8" }).stdout.trim());
  chownSync(fwd, uid2, uid2);
  chmodSync(fwd, 0o600); // readable by U2 only: the daemon's users cannot read it
  const marker = `forward-${tag}`;
  try {
    assert.equal(
      send("f@client.test", [`${U2}@md.test`], `Subject: ${marker}\r\n\r\nfwd\r\n`),
      "refused {}",
    );
    await waitFor("both copies", () =>
      dsnsFor(U1, marker).length === 1 && dsnsFor(U2, marker).length === 1 ? true : null,
    );
  } finally {
    rmSync(fwd, { force: true });
  }
});

test("an mda wrapper runs the action's command as %{mda}", { skip }, async () => {
  assert.equal(
    send("w@client.test", [`${U1}@wr.test`], "Subject: wr\r\n\r\nwrapped body\r\n"),
    "refused {}",
  );
  const out = join(home, U1, "wrapped-mda.out");
  await waitFor("wrapped delivery", () =>
    existsSync(out) && readFileSync(out, "utf8").includes("wrapped body") ? true : null,
  );
  assert.equal(readFileSync(join(home, U1, "wrap.out"), "utf8"), "wrapped\n");
});
