import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { Passwd } from "@facteur/compat";
import {
  ctime,
  dotStuff,
  exitCode,
  parseSendmailArgs,
  type SendmailEnv,
  saveDeadLetter,
  sendmailMain,
  writeOffline,
  xtext,
} from "./sendmail.js";
import { mailname } from "./sendmail-identity.js";

const tmp = mkdtempSync(join(tmpdir(), "facteur-sendmail-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("flags: -f/-r, -F, -t, -v, -S, DSN; ignored ones; -bi, -bp and -q", () => {
  const a = parseSendmailArgs([
    "-oi",
    "-t",
    "-r",
    "a@x",
    "-F",
    "Me",
    "-N",
    "never",
    "-Rhdrs",
    "-V",
    "e 1",
    "-S",
    "-v",
    "-em",
    "-x",
    "u",
  ]);
  assert.equal(a.mode, "send");
  if (a.mode !== "send") return;
  assert.deepEqual(a.opts, {
    from: "a@x",
    fromName: "Me",
    readRcpts: true,
    verbose: true,
    noGetlogin: true,
    dsnNotify: "never",
    dsnRet: "hdrs",
    dsnEnvid: "e 1",
    rcpts: ["u"],
    root: null,
  });
  assert.deepEqual(parseSendmailArgs(["-t", "-bi"]), { mode: "newaliases", root: null });
  assert.deepEqual(parseSendmailArgs(["-bp", "--root", "/r"]), { mode: "mailq", root: "/r" });
  assert.deepEqual(parseSendmailArgs(["-q"]), { mode: "queue-run" });
  assert.deepEqual(parseSendmailArgs(["-C", "x"]), {
    mode: "error",
    error: "invalid option -- 'C'",
  });
});

test("xtext, dot-stuffing, ctime", () => {
  assert.equal(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
  assert.equal(dotStuff([".", "..a", "b"]).toString(), "..\r\n...a\r\nb\r\n");
  assert.equal(ctime(new Date(2026, 0, 5, 7, 8, 9)), "Mon Jan  5 07:08:09 2026");
});

test("exit codes follow sysexits", () => {
  const r = (code: number, step: "rcpt" | "mail" | "message") => ({
    kind: "refused" as const,
    step,
    reply: { code, lines: [`${code} x`] },
  });
  assert.equal(exitCode(r(550, "rcpt")), 67);
  assert.equal(exitCode(r(552, "message")), 65);
  assert.equal(exitCode(r(553, "mail")), 69);
  assert.equal(exitCode(r(451, "message")), 75);
  assert.equal(exitCode({ kind: "failed", step: "data", error: "closed" }), 75);
  assert.equal(exitCode({ kind: "failed", step: "connect", error: "EACCES" }), 69);
});

test("offline files: 0600, arguments joined by |, then the message as read", () => {
  const dir = join(tmp, "offline");
  mkdirSync(dir);
  const errs: string[] = [];
  const env = { stderr: (s: string) => void errs.push(s) };
  const raw = Buffer.from("Subject: x\r\n\r\nbody\r\n");
  assert.equal(writeOffline(dir, ["-t", "-f", "a@b"], raw, env, new Date(1e12)), 75);
  const [name] = readdirSync(dir);
  assert.match(name!, /^1000000000\.[A-Za-z0-9]{10}$/);
  assert.equal(statSync(join(dir, name!)).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(dir, name!), "latin1"), `-t|-f|a@b\n${raw.toString("latin1")}`);
  assert.equal(writeOffline(dir, ["a|b"], raw, env, new Date()), 70);
  assert.deepEqual(errs, ["sendmail: a|b contains illegal character\n"]);
  assert.equal(writeOffline(join(tmp, "none"), [], raw, env, new Date()), 69);
});

test("dead.letter is appended in mbox form, From lines quoted", () => {
  const home = join(tmp, "home");
  mkdirSync(home);
  const d = new Date(2026, 0, 5, 7, 8, 9);
  assert.equal(
    saveDeadLetter(home, "u@h", ["Subject: a", "", "From me"], d),
    join(home, "dead.letter"),
  );
  saveDeadLetter(home, "", ["b"], d);
  assert.equal(
    readFileSync(join(home, "dead.letter"), "utf8"),
    "From u@h Mon Jan  5 07:08:09 2026\nSubject: a\n\n>From me\n\nFrom MAILER-DAEMON Mon Jan  5 07:08:09 2026\nb\n\n",
  );
  assert.equal(statSync(join(home, "dead.letter")).mode & 0o777, 0o600);
});

/** A fake smtpd on <root>/enqueue.sock: answers each command late and notes pipelining. */
function fakeSmtpd(
  root: string,
  rcptReply = "250 2.1.5 Ok",
): Promise<{ server: Server; log: string[]; pipelined: () => boolean }> {
  const log: string[] = [];
  let early = false;
  return new Promise((resolve) => {
    const server = createServer((s: Socket) => {
      let buf = "";
      let inData = false;
      let busy = false;
      const reply = (text: string) => {
        busy = true;
        setTimeout(() => {
          busy = false;
          s.write(`${text}\r\n`);
        }, 20);
      };
      s.setEncoding("latin1");
      s.on("data", (d: string) => {
        if (busy && !inData) early = true;
        buf += d;
        for (let nl = buf.indexOf("\r\n"); nl >= 0; nl = buf.indexOf("\r\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          log.push(line);
          if (inData) {
            if (line === ".") {
              inData = false;
              reply("250 2.0.0 abc Message accepted for delivery");
            }
            continue;
          }
          if (line.startsWith("EHLO"))
            reply("250-h Hello\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8");
          else if (line.startsWith("MAIL")) reply("250 2.0.0 Ok");
          else if (line.startsWith("RCPT")) reply(rcptReply);
          else if (line === "DATA") {
            inData = true;
            reply('354 Enter mail, end with "." on a line by itself');
          } else if (line === "QUIT") reply("221 2.0.0 Bye");
        }
      });
      s.write("220 h ESMTP\r\n");
    });
    server.listen(join(root, "enqueue.sock"), () =>
      resolve({ server, log, pipelined: () => early }),
    );
  });
}

const user: Passwd = {
  name: "tester",
  uid: 1234,
  gid: 1234,
  home: "",
  shell: "/bin/sh",
  gecos: "Test User,,,",
};
function env(argv: string[], input: string, home: string, out: string[]): SendmailEnv {
  return {
    argv,
    stdin: [Buffer.from(input, "utf8")],
    stdout: (b) => void out.push(b.toString()),
    stderr: (s) => void out.push(s),
    identity: {
      uid: 1234,
      getlogin: () => null,
      getpwnam: () => null,
      getpwuid: () => ({ ...user, home }),
    },
    now: () => new Date(),
    isReplay: false,
  };
}
const none = { newaliases: async () => 0, mailq: async () => 0 };

test("the dialogue: one command per reply, -t recipients, DSN parameters, Bcc gone", async () => {
  const root = mkdtempSync(join(tmp, "root-"));
  const f = await fakeSmtpd(root);
  const out: string[] = [];
  const msg = "To: a@x.test\nBcc: hidden@x.test\nSubject: s\n\n.leading dot\ncafé\n";
  const code = await sendmailMain(
    env(
      ["--root", root, "-t", "-N", "success,failure", "-R", "hdrs", "-V", "id+1", "extra"],
      msg,
      root,
      out,
    ),
    none,
  );
  f.server.close();
  assert.equal(code, 0, out.join(""));
  assert.equal(f.pipelined(), false);
  const host = mailname("/etc/mailname");
  assert.deepEqual(f.log.slice(0, 6), [
    "EHLO localhost",
    `MAIL FROM:<tester@${host}> RET=HDRS ENVID=id+2B1 BODY=8BITMIME`,
    `RCPT TO:<extra@${host}> NOTIFY=SUCCESS,FAILURE`,
    "RCPT TO:<a@x.test> NOTIFY=SUCCESS,FAILURE",
    "RCPT TO:<hidden@x.test> NOTIFY=SUCCESS,FAILURE",
    "DATA",
  ]);
  const data = f.log.slice(6, f.log.indexOf("."));
  assert.equal(data[0], `From: Test User <tester@${host}>`);
  assert.ok(!data.some((l) => /hidden/.test(l)));
  assert.ok(data.includes("..leading dot"));
  assert.ok(data.includes(Buffer.from("café").toString("latin1")));
  assert.equal(f.log.at(-1), "QUIT");
  assert.ok(host === hostname() || host !== "");
});

test("a refused recipient: error, dead.letter, EX_NOUSER; no socket: offline file, 75", async () => {
  const root = mkdtempSync(join(tmp, "root-"));
  const f = await fakeSmtpd(root, "550 5.1.1 Invalid recipient");
  const out: string[] = [];
  const code = await sendmailMain(env(["--root", root, "nobody"], "hi\n", root, out), none);
  f.server.close();
  assert.equal(code, 67);
  assert.match(out.join(""), /command failed: 550 5\.1\.1 Invalid recipient/);
  assert.match(readFileSync(join(root, "dead.letter"), "utf8"), /\n\nhi\n\n$/);

  const down = mkdtempSync(join(tmp, "root-"));
  mkdirSync(join(down, "spool", "offline"), { recursive: true });
  const code2 = await sendmailMain(env(["--root", down, "-f", "<>", "u"], "hi\n", down, []), none);
  assert.equal(code2, 75);
  const [name] = readdirSync(join(down, "spool", "offline"));
  assert.equal(readFileSync(join(down, "spool", "offline", name!), "utf8"), "-f|<>|u\nhi\n");
});
