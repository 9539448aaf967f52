// TLS against the real daemon: SNI choosing between two pkis, tls-require, smtps, client
// certificates with `tls-require verify`, STARTTLS command injection, and AUTH PLAIN/LOGIN
// over TLS against a credentials table of `smtpctl encrypt` hashes (swaks, smtplib, raw).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Daemon, freePort, SMTPCTL, startDaemon } from "./harness.js";
import { makeTestPki, type TestPki } from "./pki.js";
import { SmtpClient, type SmtpReply } from "./smtp-client.js";
import { spoolMessage } from "./spool.js";

let d: Daemon;
let pki: TestPki;
/** Listener ports: STARTTLS offered; STARTTLS + AUTH required; SMTPS; client certificates. */
const port = { starttls: 0, required: 0, smtps: 0, verify: 0 };

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const encrypt = (password: string): string => {
  const r = spawnSync(process.execPath, [SMTPCTL, "encrypt", password], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};

before(async () => {
  pki = makeTestPki();
  const creds = join(pki.dir, "creds");
  writeFileSync(creds, `alice ${encrypt("s3cret pass")}\ndave ${encrypt("other")}\n`);
  // The lookup role reads the table as the unprivileged smtpd user.
  chmodSync(pki.dir, 0o711);
  chmodSync(creds, 0o644);
  for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = await freePort();
  const lmtp = await freePort(); // nothing listens: accepted mail stays queued for inspection
  d = await startDaemon(
    [
      `pki "a" cert "${pki.a.cert}"`,
      `pki "a" key "${pki.a.key}"`,
      `pki "b" cert "${pki.b.cert}"`,
      `pki "b" key "${pki.b.key}"`,
      `ca "testca" cert "${pki.ca.cert}"`,
      `table creds file:${creds}`,
      `listen on 127.0.0.1 port ${port.starttls} hostname mx-a.test tls pki "a" pki "b"`,
      `listen on 127.0.0.1 port ${port.required} hostname mx-a.test tls-require pki "a" auth <creds> received-auth`,
      `listen on 127.0.0.1 port ${port.smtps} hostname mx-a.test smtps pki "a" pki "b" auth-optional <creds>`,
      `listen on 127.0.0.1 port ${port.verify} hostname mx-a.test tls-require verify pki "a" ca "testca"`,
      `action "local" lmtp "127.0.0.1:${lmtp}" user nobody`,
      'match from any for domain "example.test" action "local"',
      'match auth from any for any action "local"',
      "",
    ].join("\n"),
  );
});

after(async () => {
  const code = await d?.stop();
  rmSync(pki.dir, { recursive: true, force: true });
  assert.equal(code, 0, d?.log());
});

async function greeted(p: number): Promise<{ c: SmtpClient; ehlo: SmtpReply }> {
  const c = await SmtpClient.open(p);
  assert.equal((await c.reply()).text, "220 mx-a.test ESMTP Facteur");
  return { c, ehlo: await c.command("EHLO client.test") };
}

/** Connects, says EHLO, STARTTLS, and completes the handshake with `opts`. */
async function upgraded(p: number, opts: Parameters<SmtpClient["startTls"]>[0] = {}) {
  const { c } = await greeted(p);
  assert.equal((await c.command("STARTTLS")).text, "220 2.0.0 Ready to start TLS");
  return c.startTls(opts);
}

const msgidOf = (r: SmtpReply): string => {
  const m = /^250 2\.0\.0 ([0-9a-f]{8}) Message accepted for delivery$/.exec(r.text);
  assert.ok(m, r.text);
  return m[1]!;
};

/** The Received header the daemon prepended to a queued message, unfolded. */
function receivedOf(msgid: string): string {
  const text = spoolMessage(d.root, msgid).toString("utf8");
  const m = /^Received: [^\r]*(?:\r\n[ \t][^\r]*)*/.exec(text);
  assert.ok(m, text.slice(0, 300));
  return m[0].replace(/\r\n[ \t]/g, " ");
}

/** swaks speaks TLS only with Net::SSLeay (Debian: libnet-ssleay-perl). */
const swaksSkip = /^=== TLS supported/m.test(
  ((r) => `${r.stdout}${r.stderr}`)(spawnSync("swaks", ["--support"], { encoding: "utf8" })),
)
  ? false
  : "swaks has no TLS support (Net::SSLeay missing)";

function swaks(args: string[]): string {
  const r = spawnSync(
    "swaks",
    ["--server", "127.0.0.1", "--from", "alice@client.test", "--helo", "swaks.test", ...args],
    { encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return r.stdout;
}

const swaksMsgid = (out: string): string => {
  const m = /<~ {2}250 2\.0\.0 ([0-9a-f]{8}) Message accepted for delivery/.exec(out);
  assert.ok(m, out);
  return m[1]!;
};

test("SNI chooses between the listener's two pkis, over STARTTLS and SMTPS", async () => {
  const cases: [string | undefined, string][] = [
    ["mx-b.test", "mx-b.test"],
    ["mx-a.test", "mx-a.test"],
    [undefined, "mx-a.test"], // no SNI: the first pki
    ["unknown.test", "mx-a.test"], // no certificate names it: the first pki
  ];
  for (const [servername, cn] of cases) {
    const t = await upgraded(port.starttls, servername !== undefined ? { servername } : {});
    assert.equal(t.tls?.getPeerCertificate().subject.CN, cn, `STARTTLS SNI ${servername}`);
    assert.equal((await t.command("NOOP")).text, "250 2.0.0 Ok");
    t.close();
  }
  for (const [servername, cn] of cases.slice(0, 2)) {
    const s = await SmtpClient.openTls(port.smtps, servername ? { servername } : {});
    assert.equal(s.tls?.getPeerCertificate().subject.CN, cn, `SMTPS SNI ${servername}`);
    assert.equal((await s.reply()).text, "220 mx-a.test ESMTP Facteur");
    s.close();
  }
});

test("tls-require: MAIL is refused 530 5.7.0 before STARTTLS, AUTH is not offered before TLS", async () => {
  const { c, ehlo } = await greeted(port.required);
  assert.ok(ehlo.lines.includes("250-STARTTLS"), ehlo.text);
  assert.ok(!ehlo.text.includes("AUTH"), ehlo.text);
  assert.equal(
    (await c.command("MAIL FROM:<alice@client.test>")).text,
    "530 5.7.0 Invalid command: Must issue a STARTTLS command first",
  );
  const unsupported = "503 5.5.1 Invalid command: Command not supported";
  assert.equal((await c.command(`AUTH PLAIN ${b64("\0alice\0s3cret pass")}`)).text, unsupported);
  assert.equal((await c.command("AUTH LOGIN")).text, unsupported);
  assert.equal((await c.command("STARTTLS")).text, "220 2.0.0 Ready to start TLS");
  const t = await c.startTls();
  // RFC 3207 §4.2: the EHLO from before TLS is forgotten.
  assert.equal(
    (await t.command("MAIL FROM:<alice@client.test>")).text,
    "503 5.5.1 Invalid command: Polite people say HELO first",
  );
  const again = await t.command("EHLO client.test");
  assert.ok(!again.text.includes("STARTTLS"), again.text);
  assert.ok(again.lines.includes("250-AUTH PLAIN LOGIN"), again.text);
  assert.equal(
    (await t.command("STARTTLS")).text,
    "503 5.5.1 Invalid command: Channel already secured",
  );
  assert.equal(
    (await t.command("MAIL FROM:<alice@client.test>")).text,
    "530 5.7.0 Invalid command: Must issue an AUTH command first",
  );
  t.close();
});

test("STARTTLS injection: plaintext pipelined after STARTTLS is discarded", async () => {
  // On this listener MAIL would be accepted in plaintext: only the discarding stops it.
  const { c } = await greeted(port.starttls);
  c.sock.setNoDelay(true);
  c.send("STARTTLS\r\nMAIL FROM:<evil@evil.test>\r\nRCPT TO:<bob@example.test>\r\n");
  assert.equal((await c.reply()).text, "220 2.0.0 Ready to start TLS");
  const t = await c.startTls();
  // Were the injected commands run inside TLS, their replies would come first.
  assert.equal(
    (await t.command("RCPT TO:<bob@example.test>")).text,
    "503 5.5.1 Invalid command: Polite people say HELO first",
  );
  assert.equal((await t.command("EHLO client.test")).code, 250);
  assert.equal(
    (await t.command("RCPT TO:<bob@example.test>")).text,
    "503 5.5.1 Invalid command: Need MAIL FROM first",
  );
  t.close();

  // Plaintext sent after the 220 instead of a ClientHello ends the connection unanswered.
  const late = await greeted(port.starttls);
  assert.equal((await late.c.command("STARTTLS")).code, 220);
  late.c.send("MAIL FROM:<evil@evil.test>\r\nRCPT TO:<bob@example.test>\r\n");
  assert.ok(await late.c.closedByPeer(), "the server did not close");
  assert.equal(late.c.unread, "");
});

test("SMTPS: TLS from the first byte, no STARTTLS; relaying needs AUTH", async () => {
  const s = await SmtpClient.openTls(port.smtps);
  await s.reply();
  const ehlo = await s.command("EHLO client.test");
  assert.ok(ehlo.lines.includes("250-AUTH PLAIN LOGIN"), ehlo.text);
  assert.ok(!ehlo.text.includes("STARTTLS"), ehlo.text);
  assert.equal(
    (await s.command("STARTTLS")).text,
    "503 5.5.1 Invalid command: Command not supported",
  );
  // auth-optional: an anonymous client may send, but not relay.
  assert.equal((await s.command("MAIL FROM:<alice@client.test>")).code, 250);
  assert.equal(
    (await s.command("RCPT TO:<carol@elsewhere.test>")).text,
    "550 5.7.1 Invalid recipient: <carol@elsewhere.test>",
  );
  assert.equal((await s.command("RSET")).code, 250);
  assert.equal((await s.command(`AUTH PLAIN ${b64("alice\0alice\0s3cret pass")}`)).code, 235);
  const id = msgidOf(
    await s.sendMail("alice@client.test", ["carol@elsewhere.test"], "Subject: s\r\n\r\ns\r\n"),
  );
  const received = receivedOf(id);
  assert.match(
    received,
    / by mx-a\.test \(Facteur\) with ESMTPSA id [0-9a-f]{8} \(TLSv1\.3:\S+:\d+:NO\) for <carol@elsewhere\.test>;/,
  );
  assert.ok(!received.includes("auth="), received); // no received-auth on this listener
  s.close();
});

test("swaks: SMTPS with AUTH LOGIN, STARTTLS with AUTH PLAIN and LOGIN", {
  skip: swaksSkip,
}, () => {
  const smtps = swaks([
    "--port",
    String(port.smtps),
    "--tls-on-connect",
    "--auth",
    "LOGIN",
    "--auth-user",
    "alice",
    "--auth-password",
    "s3cret pass",
    "--to",
    "carol@elsewhere.test",
  ]);
  assert.match(smtps, /<~ {2}334 VXNlcm5hbWU6/);
  assert.match(smtps, /<~ {2}235 2\.0\.0 Authentication succeeded/);
  assert.match(receivedOf(swaksMsgid(smtps)), / with ESMTPSA id [0-9a-f]{8} \(TLSv1\.3:/);
  for (const mech of ["PLAIN", "LOGIN"]) {
    const out = swaks([
      "--port",
      String(port.required),
      "--tls",
      "--auth",
      mech,
      "--auth-user",
      "alice",
      "--auth-password",
      "s3cret pass",
      "--to",
      "bob@example.test",
    ]);
    assert.match(out, /<~ {2}235 2\.0\.0 Authentication succeeded/);
    assert.match(
      receivedOf(swaksMsgid(out)),
      / by mx-a\.test \(Facteur\) with ESMTPSA id [0-9a-f]{8} \(TLSv1\.3:\S+:\d+:NO\) auth=yes user=alice for <bob@example\.test>;/,
      mech,
    );
  }
});

test("AUTH PLAIN and LOGIN over STARTTLS against smtpctl encrypt hashes; received-auth", async () => {
  const py = [
    "import smtplib",
    `s = smtplib.SMTP("127.0.0.1", ${port.required}, timeout=20)`,
    "s.ehlo('py.test')",
    "s.starttls()",
    "s.ehlo('py.test')",
    "try:",
    "    s.login('alice', 'wrong')",
    "except smtplib.SMTPAuthenticationError as e:",
    "    print('refused', e.smtp_code, e.smtp_error.decode())",
    "s.user, s.password = 'dave', 'other'",
    "print('login', s.auth('LOGIN', s.auth_login, initial_response_ok=False))",
    "print('sent', s.sendmail('dave@client.test', ['bob@example.test'], 'Subject: py\\r\\n\\r\\nhi\\r\\n'))",
    "s.quit()",
  ].join("\n");
  const r = spawnSync("python3", ["-c", py], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(
    r.stdout,
    "refused 535 5.7.8 Authentication failed\n" +
      "login (235, b'2.0.0 Authentication succeeded')\n" +
      "sent {}\n",
  );

  // Raw: wrong password, unknown user, PLAIN with an initial response, LOGIN step by step.
  const t = await upgraded(port.required);
  await t.command("EHLO client.test");
  const failed = "535 5.7.8 Authentication failed";
  assert.equal((await t.command(`AUTH PLAIN ${b64("\0alice\0nope")}`)).text, failed);
  assert.equal((await t.command(`AUTH PLAIN ${b64("\0mallory\0s3cret pass")}`)).text, failed);
  assert.equal((await t.command("AUTH LOGIN")).text, "334 VXNlcm5hbWU6");
  assert.equal((await t.command(b64("alice"))).text, "334 UGFzc3dvcmQ6");
  assert.equal((await t.command(b64("s3cret pass"))).text, "235 2.0.0 Authentication succeeded");
  assert.equal(
    (await t.command(`AUTH PLAIN ${b64("\0alice\0s3cret pass")}`)).text,
    "503 5.5.1 Invalid command: Already authenticated",
  );
  const id = msgidOf(
    await t.sendMail("alice@client.test", ["bob@example.test"], "Subject: raw\r\n\r\nraw\r\n"),
  );
  assert.match(receivedOf(id), / auth=yes user=alice for <bob@example\.test>;/);
  t.close();
});

test("tls-require verify: only a client certificate signed by the ca gets a session", async () => {
  const t = await upgraded(port.verify, { cert: pki.client.certPem, key: pki.client.keyPem });
  assert.equal((await t.command("EHLO client.test")).code, 250);
  const id = msgidOf(
    await t.sendMail("a@client.test", ["bob@example.test"], "Subject: v\r\n\r\nv\r\n"),
  );
  assert.match(receivedOf(id), / with ESMTPS id [0-9a-f]{8} \(TLSv1\.3:\S+:\d+:YES\) for /);
  t.close();

  for (const [what, opts] of [
    ["a self-signed certificate", { cert: pki.impostor.certPem, key: pki.impostor.keyPem }],
    ["no certificate", {}],
  ] as const) {
    let answered: SmtpReply | null = null;
    try {
      const u = await upgraded(port.verify, opts);
      answered = await u.command("EHLO client.test");
    } catch {
      // The handshake fails, or the server closes right after it (TLS 1.3 checks the
      // client's certificate after the client considers the handshake done).
    }
    assert.equal(answered, null, `${what}: got ${answered?.text}`);
  }
  // The daemon carries on.
  const again = await upgraded(port.verify, { cert: pki.client.certPem, key: pki.client.keyPem });
  assert.equal((await again.command("EHLO client.test")).code, 250);
  again.close();
});
