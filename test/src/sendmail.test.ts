// sendmail end to end: the smtpctl bundle run through a link named sendmail, as unprivileged
// users the test creates, submits over the enqueue socket to a real daemon and the mail lands
// in their maildirs; -t (Bcc removed), -f, added From/Date; ~/dead.letter on a refusal; with
// the daemon down the message waits in offline/ (exit 75) and is delivered at the next start.
// Needs root (useradd, runuser).
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
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Daemon, SMTPCTL, startDaemon } from "./harness.js";

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : "needs root to create users and run sendmail as them";
const tag = process.pid.toString(36);
const U1 = `fsm1${tag}`.slice(0, 16);
const U2 = `fsm2${tag}`.slice(0, 16);

let d: Daemon;
let root = "";
let home = "";
let config = "";

const uidOf = (u: string) => Number(spawnSync("id", ["-u", u], { encoding: "utf8" }).stdout);
const gidOf = (u: string) => Number(spawnSync("id", ["-g", u], { encoding: "utf8" }).stdout);

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
}

/** Runs a program of the multicall bundle (through its link) as `user`. */
function run(user: string, prog: string, args: string[], input = "") {
  const r = spawnSync("runuser", ["-u", user, "--", join(root, "bin", prog), ...args], {
    input,
    encoding: "utf8",
    cwd: "/",
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const sendmail = (user: string, args: string[], input: string) =>
  run(user, "sendmail", ["--root", root, ...args], input);

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

/** The maildir file of `user` that contains `marker`. */
function mailWith(user: string, marker: string): string | null {
  const dir = join(home, user, "Maildir", "new");
  if (!existsSync(dir)) return null;
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), "utf8");
    if (text.includes(marker)) return text;
  }
  return null;
}

const headerOf = (text: string) => text.slice(0, text.indexOf("\n\n") + 1);

before(async () => {
  if (!isRoot) return;
  root = mkdtempSync(join(tmpdir(), "facteur-sendmail-"));
  chmodSync(root, 0o711);
  home = join(root, "home");
  mkdirSync(home, { mode: 0o755 });
  mkdirSync(join(root, "bin"), { mode: 0o755 });
  for (const p of ["sendmail", "mailq", "newaliases"]) symlinkSync(SMTPCTL, join(root, "bin", p));
  for (const u of [U1, U2]) {
    spawnSync("userdel", ["-r", u]);
    sh("useradd", ["-m", "-d", join(home, u), "-s", "/bin/sh", "-c", "Test User,,,", u]);
  }
  writeFileSync(join(root, "aliases"), `listmaster: ${U1}\n`);
  config = [
    `table aliases file:${join(root, "aliases")}`,
    'action "md" maildir alias <aliases>',
    'match from local for local action "md"',
    "",
  ].join("\n");
  d = await startDaemon(config, { root });
});

after(async () => {
  if (!isRoot) return;
  const code = await d.stop();
  for (const u of [U1, U2]) spawnSync("userdel", ["-r", u]);
  rmSync(root, { recursive: true, force: true });
  assert.equal(code, 0, d.log());
});

test("cron-like `echo body | sendmail user` as a user lands in the maildir", { skip }, async () => {
  const marker = `cron-${tag}`;
  const r = sendmail(U1, [U1], `${marker} output\n`);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out + r.err, "");
  const text = await waitFor("maildir", () => mailWith(U1, marker));
  const h = headerOf(text);
  assert.match(h, new RegExp(`^Return-Path: <${U1}@[^>]+>\n`));
  // From (with the GECOS name), Date and Message-ID were missing: sendmail added them.
  assert.match(h, new RegExp(`\nFrom: Test User <${U1}@[^>]+>\n`));
  assert.match(h, /\nDate: \w{3}, \d+ \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\n/);
  assert.match(h, /\nMessage-ID: <[^>]+>\n/);
  assert.ok(text.endsWith(`\n\n${marker} output\n`), text);
});

test("a header without From or Date gets both, once", { skip }, async () => {
  const marker = `hdr-${tag}`;
  const r = sendmail(U2, [U2], `Subject: ${marker}\n\nbody\n`);
  assert.equal(r.code, 0, r.err);
  const h = headerOf(await waitFor("maildir", () => mailWith(U2, marker)));
  assert.equal(h.match(/^From: /gm)?.length, 1, h);
  assert.equal(h.match(/^Date: /gm)?.length, 1, h);
  assert.match(h, new RegExp(`\nSubject: ${marker}\n`));
});

test("-t reads To, Cc and Bcc; Bcc is removed from every copy", { skip }, async () => {
  const marker = `bcc-${tag}`;
  const msg = `To: ${U1}\nBcc: ${U2}\nSubject: ${marker}\n\nfor both\n`;
  const r = sendmail(U1, ["-t"], msg);
  assert.equal(r.code, 0, r.err);
  for (const u of [U1, U2]) {
    const text = await waitFor(`${u}'s copy`, () => mailWith(u, marker));
    assert.doesNotMatch(headerOf(text), /^Bcc:/im);
    assert.match(headerOf(text), new RegExp(`\nTo: ${U1}@`));
  }
});

test("-f sets the envelope sender (and the added From)", { skip }, async () => {
  const marker = `from-${tag}`;
  const r = sendmail(U2, ["-f", "boss@example.org", U2], `Subject: ${marker}\n\nx\n`);
  assert.equal(r.code, 0, r.err);
  const h = headerOf(await waitFor("maildir", () => mailWith(U2, marker)));
  assert.match(h, /^Return-Path: <boss@example\.org>\n/);
  assert.match(h, /\nFrom: <boss@example\.org>\n/);
});

test("-v shows the dialogue; an alias of the aliases table works", { skip }, async () => {
  const marker = `alias-${tag}`;
  const r = sendmail(U2, ["-v", "listmaster"], `Subject: ${marker}\n\nx\n`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^<<< 220 /);
  assert.match(r.out, /\n>>> EHLO localhost\n/);
  assert.match(r.out, /\n>>> RCPT TO:<listmaster@[^>]+>\n<<< 250 /);
  await waitFor("aliased copy", () => mailWith(U1, marker));
});

test("a refused recipient: the message is kept in ~/dead.letter, exit 67", { skip }, () => {
  const marker = `dead-${tag}`;
  const r = sendmail(U1, [`nosuchuser${tag}`], `${marker}\n`);
  assert.equal(r.code, 67, r.err);
  assert.match(r.err, /command failed: 550 5\.1\.1 /);
  const dead = join(home, U1, "dead.letter");
  assert.match(
    readFileSync(dead, "utf8"),
    new RegExp(`^From ${U1}@.*\nFrom: Test User <[^\n]*\n[^]*\n\n${marker}\n\n$`),
  );
  assert.equal(statSync(dead).uid, uidOf(U1));
  assert.equal(statSync(dead).mode & 0o777, 0o600);
});

test("mailq and newaliases (root)", { skip }, () => {
  const q = spawnSync(join(root, "bin", "mailq"), ["--root", root], { encoding: "utf8" });
  assert.equal(q.status, 0, q.stderr);
  const conf = join(root, "smtpd.conf");
  const n = spawnSync(join(root, "bin", "newaliases"), ["--root", root, "-f", conf], {
    encoding: "utf8",
  });
  assert.equal(n.status, 0, n.stderr);
  assert.equal(n.stdout, `${join(root, "aliases")}: 1 aliases\n`);
});

test("smtpd down: offline/ keeps the message (exit 75); the next start delivers it", {
  skip,
}, async () => {
  assert.equal(await d.stop(), 0, d.log());
  const offline = join(root, "spool", "offline");
  const st = statSync(offline);
  assert.equal(st.mode & 0o7777, 0o3733);
  assert.equal(st.uid, 0);

  const marker = `offline-${tag}`;
  const r = sendmail(U2, ["-f", "cron@example.org", U2], `Subject: ${marker}\n\nwhile down\n`);
  assert.equal(r.code, 75, r.err);
  assert.equal(r.out + r.err, "");
  const files = readdirSync(offline);
  assert.equal(files.length, 1);
  const file = join(offline, files[0]!);
  const fst = statSync(file);
  assert.equal(fst.uid, uidOf(U2));
  assert.equal(fst.gid, st.gid); // the directory's group, from its setgid bit
  assert.equal(fst.mode & 0o777, 0o600);
  assert.equal(
    readFileSync(file, "utf8"),
    `-f|cron@example.org|${U2}\nSubject: ${marker}\n\nwhile down\n`,
  );
  // Users may drop files but neither list nor remove them.
  assert.notEqual(spawnSync("runuser", ["-u", U1, "--", "ls", offline]).status, 0);
  assert.notEqual(spawnSync("runuser", ["-u", U1, "--", "rm", "-f", file]).status, 0);
  assert.ok(existsSync(file));
  // A file whose group is not the directory's is not replayed (OpenSMTPD's check).
  const stray = join(offline, "1.stray");
  writeFileSync(stray, `${U1}\nSubject: stray\n\nno\n`);
  chownSync(stray, uidOf(U1), gidOf(U1));

  d = await startDaemon(config, { root });
  const text = await waitFor("offline message", () => mailWith(U2, marker));
  assert.match(text, /^Return-Path: <cron@example\.org>\n/);
  await waitFor("offline/ emptied", () => (existsSync(file) ? null : true));
  assert.ok(existsSync(stray));
  assert.equal(mailWith(U1, "Subject: stray"), null);
  // Stop only once the queue is empty: no delivery is in flight during the shutdown.
  await waitFor("an empty queue", () => {
    const q = d.smtpctl("show", "queue");
    return q.code === 0 && q.out === "" ? true : null;
  });
});
