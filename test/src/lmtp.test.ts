// LMTP delivery end to end against a real LMTP server: Dovecot's lmtp, started by the test
// in its temp root (inet and unix listeners, passwd-file userdb, maildir, a tiny quota).
// Mail sent with Python's smtplib lands byte-exact in Dovecot's maildir; 5xx bounces, 4xx and
// a refused connection stay queued. Needs root (useradd, Dovecot) and dovecot-lmtpd.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Daemon, freePort, startDaemon } from "./harness.js";

const isRoot = process.getuid?.() === 0;
const hasDovecot = spawnSync("dovecot", ["--version"], { encoding: "utf8" }).status === 0;
const skip = !isRoot
  ? "needs root to create users and run Dovecot"
  : !hasDovecot
    ? "dovecot is not installed (Debian: dovecot-lmtpd, see ci/apt/delivery.list)"
    : false;
const tag = process.pid.toString(36);
/** Known to Dovecot; over quota in Dovecot; a system user Dovecot does not know; the sender. */
const UK = `flk${tag}`.slice(0, 16);
const UQ = `flq${tag}`.slice(0, 16);
const UX = `flx${tag}`.slice(0, 16);
const US = `fls${tag}`.slice(0, 16);
const USERS = [UK, UQ, UX, US];

let d: Daemon;
let port = 0;
let lport = 0;
let root = "";
let dvDir = "";
let dovecot: ChildProcess | null = null;
let dovecotLog = "";

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

const logs = () =>
  `--- smtpd ---\n${d?.log() ?? ""}\n--- dovecot ---\n${dovecotLog}${
    existsSync(join(dvDir, "dovecot.log")) ? readFileSync(join(dvDir, "dovecot.log"), "utf8") : ""
  }`;

/** Polls (bounded) until `f` returns a value. */
async function waitFor<T>(
  what: string,
  f: () => T | null | Promise<T | null>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const canConnect = (p: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(p, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

/** Dovecot's mail for a user (its passwd-file homes live under dvDir/home). */
const dovecotFiles = (user: string): string[] => {
  const dir = join(dvDir, "home", user, "Maildir", "new");
  return existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
};
const localFiles = (user: string): string[] => {
  const dir = join(root, "home", user, "Maildir", "new");
  return existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
};
const withMarker = (files: string[], marker: string) =>
  files.find((f) => readFileSync(f, "latin1").includes(marker)) ?? null;

function dovecotConf(): string {
  const id = (u: string) => `${sh("id", ["-u", u])}:${sh("id", ["-g", u])}`;
  // passwd-file: user:password:uid:gid:gecos:home:shell:extra_fields. UX is left out: Dovecot
  // answers RCPT with 550 5.1.1 "User doesn't exist"; UQ's quota is tiny: 452 4.2.2 at DATA.
  writeFileSync(
    join(dvDir, "users"),
    [
      `${UK}::${id(UK)}::${join(dvDir, "home", UK)}::`,
      `${UQ}::${id(UQ)}::${join(dvDir, "home", UQ)}::userdb_quota_rule=*:storage=1`,
      "",
    ].join("\n"),
  );
  return [
    `base_dir = ${join(dvDir, "run")}`,
    `state_dir = ${join(dvDir, "state")}`,
    `instance_name = facteur-lmtp-${tag}`,
    "protocols = lmtp",
    "ssl = no",
    "listen = 127.0.0.1",
    `log_path = ${join(dvDir, "dovecot.log")}`,
    "default_internal_user = dovecot",
    "default_login_user = dovenull",
    // user@domain and a bare user name are the same mailbox.
    "auth_username_format = %Ln",
    "mail_location = maildir:~/Maildir",
    "mail_plugins = quota",
    "quota_full_tempfail = yes",
    "plugin {",
    "  quota = maildir:User quota",
    "}",
    `passdb {\n  driver = passwd-file\n  args = ${join(dvDir, "users")}\n}`,
    `userdb {\n  driver = passwd-file\n  args = ${join(dvDir, "users")}\n}`,
    "service lmtp {",
    `  inet_listener lmtp {\n    address = 127.0.0.1\n    port = ${lport}\n  }`,
    `  unix_listener ${join(dvDir, "lmtp.sock")} {\n    mode = 0666\n  }`,
    "}",
    "",
  ].join("\n");
}

async function startDovecot(): Promise<void> {
  const conf = join(dvDir, "dovecot.conf");
  writeFileSync(conf, dovecotConf());
  const p = spawn("dovecot", ["-F", "-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  p.stdout?.on("data", (b: Buffer) => (dovecotLog += b.toString()));
  p.stderr?.on("data", (b: Buffer) => (dovecotLog += b.toString()));
  dovecot = p;
  await waitFor(
    "Dovecot's LMTP listeners",
    async () => {
      if (p.exitCode !== null) throw new Error(`dovecot exited ${p.exitCode}:\n${logs()}`);
      return (await canConnect(lport)) && existsSync(join(dvDir, "lmtp.sock")) ? true : null;
    },
    15_000,
  );
}

/** Stops Dovecot by the PID of the master the test started; its children follow it. */
async function stopDovecot(): Promise<void> {
  const p = dovecot;
  dovecot = null;
  if (p === null || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(t);
  await waitFor("Dovecot's port to close", async () => ((await canConnect(lport)) ? null : true));
}

interface Sent {
  readonly rcpts: string[];
  readonly data: string;
  readonly msgid: string;
}

/** One transaction with smtplib: the RCPT replies and the reply to the end of data. */
function send(from: string, to: string[], body: Buffer): Sent {
  const py = [
    "import json, smtplib, sys",
    `s = smtplib.SMTP("127.0.0.1", ${port}, timeout=20)`,
    "s.ehlo('py.test')",
    `s.mail(${JSON.stringify(from)})`,
    `rcpts = [s.rcpt(r) for r in ${JSON.stringify(to)}]`,
    "code, text = s.data(sys.stdin.buffer.read())",
    "s.quit()",
    "print(json.dumps({'rcpts': [f'{c} {t.decode()}' for c, t in rcpts],",
    "  'data': f'{code} {text.decode()}'}))",
  ].join("\n");
  const r = spawnSync("python3", ["-c", py], { input: body, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { rcpts: string[]; data: string };
  const msgid = /^250 2\.0\.0 ([0-9a-f]{8}) /.exec(out.data)?.[1];
  assert.ok(msgid, out.data);
  return { ...out, msgid };
}

/** A message that exercises transparency: dot lines, a "From " line, 8-bit text, size. */
function message(marker: string, bodyBytes = 0): Buffer {
  const filler = "0123456789abcdefghijklmnopqrstuvwxyz".repeat(2).slice(0, 70);
  const lines = [
    `Subject: lmtp ${marker}`,
    `Message-ID: <${marker}@client.test>`,
    "",
    `marker ${marker}`,
    ".leading dot",
    "..two dots",
    ".",
    "From the start of a line",
    "caf\u00e9 \u00fcber na\u00efve",
    "x".repeat(990),
  ];
  for (let n = 0; n < bodyBytes; n += filler.length + 2) lines.push(filler);
  lines.push("the end");
  return Buffer.from(`${lines.join("\r\n")}\r\n`, "utf8");
}

/** The queue lines (smtpctl show queue) for a message. */
const queued = (msgid: string) =>
  d
    .smtpctl("show", "queue")
    .out.split("\n")
    .filter((l) => l.startsWith(msgid))
    .map((l) => l.split("|"));

before(async () => {
  if (skip !== false) return;
  port = await freePort();
  lport = await freePort();
  root = mkdtempSync(join(tmpdir(), "facteur-lmtp-"));
  chmodSync(root, 0o711);
  dvDir = join(root, "dovecot");
  mkdirSync(join(dvDir, "home"), { recursive: true, mode: 0o755 });
  chmodSync(dvDir, 0o755);
  mkdirSync(join(root, "home"), { mode: 0o755 });
  for (const u of USERS) {
    spawnSync("userdel", ["-r", u]);
    sh("useradd", ["-m", "-d", join(root, "home", u), "-s", "/bin/sh", u]);
  }
  for (const u of [UK, UQ]) {
    const h = join(dvDir, "home", u);
    mkdirSync(h, { mode: 0o700 });
    chownSync(h, Number(sh("id", ["-u", u])), Number(sh("id", ["-g", u])));
  }
  await startDovecot();
  d = await startDaemon(
    [
      `listen on 127.0.0.1 port ${port} hostname mx.test`,
      `action "lm" lmtp "127.0.0.1:${lport}" rcpt-to`,
      `action "lmu" lmtp "127.0.0.1:${lport}"`,
      `action "lms" lmtp "${join(dvDir, "lmtp.sock")}" rcpt-to`,
      `table virt { "info@lmv.test" = "${UK}@lm.test" }`,
      `action "lmv" lmtp "127.0.0.1:${lport}" rcpt-to virtual <virt>`,
      'action "md" maildir',
      'match from any for domain "lm.test" action "lm"',
      'match from any for domain "lmu.test" action "lmu"',
      'match from any for domain "lms.test" action "lms"',
      'match from any for domain "lmv.test" action "lmv"',
      'match from any for domain "md.test" action "md"',
      "",
    ].join("\n"),
    { root },
  );
});

after(async () => {
  if (skip !== false) return;
  const code = await d?.stop();
  await stopDovecot();
  for (const u of USERS) spawnSync("userdel", ["-r", u]);
  assert.equal(code, 0, logs());
  rmSync(root, { recursive: true, force: true });
});

/** Dovecot's own trace headers, then Facteur's Received, then the message as sent (in LF). */
function assertLanded(file: string, sent: Buffer, deliveredTo: string): void {
  const text = readFileSync(file);
  const want = Buffer.from(sent.toString("latin1").replaceAll("\r\n", "\n"), "latin1");
  assert.ok(text.subarray(text.length - want.length).equals(want), `not byte-exact:\n${text}`);
  const head = text.subarray(0, text.length - want.length).toString("latin1");
  assert.match(head, /^Return-Path: <[^>]+@md\.test>\nDelivered-To: /);
  assert.match(head, new RegExp(`\\nDelivered-To: ${deliveredTo.replaceAll(".", "\\.")}\\n`));
  assert.match(head, /\nReceived: from [^\n]+\n\tby [^\n]+ with LMTP\n/);
  // Facteur's own Received header is the last line before the message.
  assert.match(head, /\nReceived: from py\.test [^\n]*\n\tby mx\.test \(Facteur\) with ESMTP/);
}

test("rcpt-to: the message lands byte-exact in Dovecot's maildir", { skip }, async () => {
  const marker = `tcp-${tag}`;
  const body = message(marker, 100_000);
  const s = send(`${US}@md.test`, [`${UK}@lm.test`], body);
  assert.match(s.rcpts.join(), /^250 2\.1\.5 /);
  const f = await waitFor("Dovecot maildir file", () => withMarker(dovecotFiles(UK), marker));
  assertLanded(f, body, `${UK}@lm.test`);
  await waitFor("an empty queue", () => (queued(s.msgid).length === 0 ? true : null));
});

test("without rcpt-to the LMTP recipient is the user name", { skip }, async () => {
  const marker = `user-${tag}`;
  const body = message(marker);
  send(`${US}@md.test`, [`${UK}@lmu.test`], body);
  const f = await waitFor("Dovecot maildir file", () => withMarker(dovecotFiles(UK), marker));
  assertLanded(f, body, UK);
});

test("a unix socket destination", { skip }, async () => {
  const marker = `unix-${tag}`;
  const body = message(marker, 5000);
  send(`${US}@md.test`, [`${UK}@lms.test`], body);
  const f = await waitFor("Dovecot maildir file", () => withMarker(dovecotFiles(UK), marker));
  assertLanded(f, body, `${UK}@lms.test`);
});

test("rcpt-to: the LMTP recipient is the address after expansion", { skip }, async () => {
  // OpenSMTPD's mail.lmtp -r gives RECIPIENT, that is %{dest}: here UK@lm.test, not info@.
  const marker = `virt-${tag}`;
  const body = message(marker);
  const s = send(`${US}@md.test`, ["info@lmv.test"], body);
  const f = await waitFor("Dovecot maildir file", () => withMarker(dovecotFiles(UK), marker));
  assertLanded(f, body, `${UK}@lm.test`);
  await waitFor("an empty queue", () => (queued(s.msgid).length === 0 ? true : null));
});

test("550 from the LMTP server is permanent: the sender gets a bounce", { skip }, async () => {
  const marker = `perm-${tag}`;
  const s = send(`${US}@md.test`, [`${UX}@lm.test`, `${UK}@lm.test`], message(marker));
  // The other recipient of the same message is delivered all the same.
  await waitFor("the good recipient", () => withMarker(dovecotFiles(UK), marker));
  const f = await waitFor("the bounce", () => withMarker(localFiles(US), `${marker}@client.test`));
  const text = readFileSync(f, "utf8");
  assert.match(text, /^Return-Path: <>\n/);
  assert.match(text, /\nAction: failed\n/);
  assert.match(text, new RegExp(`\\nFinal-Recipient: rfc822; ${UX}@lm\\.test\\n`));
  assert.match(text, /\nDiagnostic-Code: smtp; LMTP RCPT TO: 550 5\.1\.1 [^\n]*User doesn't exist/);
  await waitFor("an empty queue", () => (queued(s.msgid).length === 0 ? true : null));
  assert.equal(withMarker(dovecotFiles(UX), marker), null);
});

test("452 from the LMTP server is temporary: the mail stays queued", { skip }, async () => {
  const marker = `quota-${tag}`;
  const s = send(`${US}@md.test`, [`${UQ}@lm.test`], message(marker, 20_000));
  const line = await waitFor("a tempfail in the queue", () => {
    const l = queued(s.msgid)[0];
    return l !== undefined && Number(l[10]) >= 1 ? l : null;
  });
  assert.match(line[13] ?? "", /^LMTP end of data: 452 4\.2\.2 .*Quota exceeded/);
  assert.equal(line[11], "pending");
  assert.equal(withMarker(localFiles(US), marker), null, "no bounce for a temporary failure");
  assert.equal(withMarker(dovecotFiles(UQ), marker), null);
  assert.equal(d.smtpctl("remove", s.msgid).code, 0);
});

test("a refused connection is temporary; the mail goes once the server is back", {
  skip,
}, async () => {
  await stopDovecot();
  const marker = `down-${tag}`;
  const body = message(marker);
  const s = send(`${US}@md.test`, [`${UK}@lm.test`], body);
  const line = await waitFor("a tempfail in the queue", () => {
    const l = queued(s.msgid)[0];
    return l !== undefined && Number(l[10]) >= 1 ? l : null;
  });
  assert.equal(line[13], `cannot connect to LMTP 127.0.0.1:${lport}`);
  await startDovecot();
  assert.equal(d.smtpctl("schedule", s.msgid).code, 0);
  const f = await waitFor("Dovecot maildir file", () => withMarker(dovecotFiles(UK), marker));
  assertLanded(f, body, `${UK}@lm.test`);
  await waitFor("an empty queue", () => (queued(s.msgid).length === 0 ? true : null));
  assert.equal(withMarker(localFiles(US), marker), null, "no bounce");
});
