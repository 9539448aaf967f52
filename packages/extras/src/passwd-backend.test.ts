// Tests of the table-passwd backend: file format rules, credentials/userinfo values, the auth
// check against the SHA-crypt specification's vectors, openssl-made hashes and bcrypt, update.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  checkAuth,
  PasswdBackend,
  type PasswdEntry,
  parsePasswdArgs,
  parsePasswdTable,
} from "./passwd-backend.js";

const dir = mkdtempSync(join(tmpdir(), "facteur-passwd-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const table = (text: string): ReadonlyMap<string, PasswdEntry> => {
  const p = parsePasswdTable(text);
  assert.equal(p.kind, "ok", JSON.stringify(p));
  return (p as { entries: ReadonlyMap<string, PasswdEntry> }).entries;
};

async function open(text: string): Promise<PasswdBackend> {
  const path = join(dir, `t${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, text);
  const b = await PasswdBackend.open(path);
  assert.ok(b instanceof PasswdBackend, JSON.stringify(b));
  return b;
}

// Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512", test vectors (every one of them).
const SPEC_VECTORS: [string, string][] = [
  ["Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"],
  ["Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"],
  [
    "This is just a test",
    "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5",
  ],
  [
    "a very much longer text to encrypt.  This one even stretches over morethan one line.",
    "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1",
  ],
  [
    "we have a short salt string but not a short password",
    "$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/",
  ],
  [
    "a short string",
    "$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD",
  ],
  [
    "the minimum number is still observed",
    "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
  ],
  [
    "Hello world!",
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
  ],
  [
    "Hello world!",
    "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
  ],
  [
    "This is just a test",
    "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
  ],
  [
    "a very much longer text to encrypt.  This one even stretches over morethan one line.",
    "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
  ],
  [
    "we have a short salt string but not a short password",
    "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
  ],
  [
    "a short string",
    "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1",
  ],
  [
    "the minimum number is still observed",
    "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
  ],
];

test("file format: comments, blank lines, optional fields, Dovecot extras, last duplicate wins", () => {
  const t = table(
    "# users\n" +
      "gilles:*:1000:1000:Gilles:/home/gilles:/sbin/nologin\n" +
      "\n   \n" +
      "eric:$6$x$y:1001:1001:Eric:/home/eric # trailing comment\n" +
      "dove:{PLAIN}x:::::::userdb_quota_rule=*:storage=1G\n" +
      "chl:old:1:1::/old:/bin/sh\n" +
      "chl:new:1002:1002:Charles:/home/chl:/sbin/nologin",
  );
  assert.deepEqual([...t.keys()], ["gilles", "eric", "dove", "chl"]);
  assert.equal(t.get("eric")?.home, "/home/eric ");
  assert.equal(t.get("chl")?.password, "new");
  assert.equal(t.get("chl")?.line, 8);
});

test("file format: one bad line rejects the whole file, with its line number", () => {
  assert.deepEqual(parsePasswdTable("ok:x:1:1::/h\nshort:x:1:1:gecos\n"), {
    kind: "error",
    line: 2,
    reason: "expected at least 6 ':'-separated fields, got 5",
  });
  assert.deepEqual(parsePasswdTable(":x:1:1::/h\n"), {
    kind: "error",
    line: 1,
    reason: "empty user name",
  });
});

test("credentials and userinfo lookups give table.5's value formats", async () => {
  const b = await open(
    "alice:$6$salt$hash:1000:100:Alice:/home/alice:/bin/sh\n" +
      "nopw::1001:100::/home/nopw:\n" +
      "virt:*:0010:abc::/home/virt\n" +
      "nohome:*:1:1::\n",
  );
  assert.deepEqual(b.lookup("credentials", "alice"), {
    kind: "found",
    value: "alice:$6$salt$hash",
  });
  assert.deepEqual(b.lookup("userinfo", "alice"), { kind: "found", value: "1000:100:/home/alice" });
  assert.deepEqual(b.lookup("credentials", "bob"), { kind: "not-found" });
  assert.deepEqual(b.lookup("userinfo", "bob"), { kind: "not-found" });
  assert.deepEqual(b.lookup("userinfo", "nopw"), { kind: "found", value: "1001:100:/home/nopw" });
  assert.equal(b.lookup("credentials", "nopw").kind, "error");
  assert.equal(b.lookup("userinfo", "virt").kind, "error");
  assert.equal(b.lookup("userinfo", "nohome").kind, "error");
  assert.deepEqual(b.lookup("credentials", "virt"), { kind: "found", value: "virt:*" });
  assert.deepEqual(await b.check("userinfo", "alice"), { kind: "found" });
  assert.deepEqual(await b.check("credentials", "bob"), { kind: "not-found" });
  assert.equal(b.lookup("alias", "alice").kind, "error");
  assert.equal(b.fetch("credentials").kind, "error");
  assert.deepEqual(b.services, ["credentials", "userinfo", "auth"]);
});

test("auth: every SHA-crypt specification vector, and the wrong password is not-found", async () => {
  const t = table(SPEC_VECTORS.map(([, h], i) => `u${i}:${h}:1:1::/h`).join("\n"));
  for (const [i, [pw]] of SPEC_VECTORS.entries()) {
    assert.deepEqual(await checkAuth(t, `u${i}:${pw}`), { kind: "found" }, `vector ${i}`);
    assert.deepEqual(
      await checkAuth(t, `u${i}:${pw}x`),
      { kind: "not-found" },
      `vector ${i}, wrong`,
    );
  }
});

test("auth: bcrypt ($2b$, $2a$), locked and unsupported hashes, malformed keys", async () => {
  const t = table(
    "bsd:$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW:1:1::/h\n" +
      "old:$2a$05$CCCCCCCCCCCCCCCCCCCCC.Bw3BobdGs1SFsKsRLIx9rC4T.Q7DtEm:1:1::/h\n" +
      "locked:*:1:1::/h\nbang:!$6$saltstring$x:1:1::/h\nempty::1:1::/h\n" +
      "md5:$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z1:1:1::/h\n" +
      "des:abJnggxhB/yWI:1:1::/h\n",
  );
  assert.deepEqual(await checkAuth(t, "bsd:U*U"), { kind: "found" });
  assert.deepEqual(await checkAuth(t, "bsd:U*V"), { kind: "not-found" });
  assert.deepEqual(await checkAuth(t, "old:U*U*U"), { kind: "found" });
  for (const u of ["locked", "bang", "empty"])
    assert.deepEqual(await checkAuth(t, `${u}:`), { kind: "not-found" });
  const md5 = await checkAuth(t, "md5:password");
  assert.equal(md5.kind, "error");
  assert.match(
    (md5 as { message: string }).message,
    /unsupported password hash for md5: md5-crypt/,
  );
  assert.equal((await checkAuth(t, "des:password")).kind, "error");
  assert.equal((await checkAuth(t, "nobody-here")).kind, "error");
  assert.equal((await checkAuth(t, ":pw")).kind, "error");
  assert.deepEqual(await checkAuth(t, "unknown:U*U"), { kind: "not-found" });
});

const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

test("auth: hashes made by `openssl passwd -5/-6` (passwords with ':', '|', UTF-8)", {
  skip: !hasOpenssl,
}, async () => {
  const passwords = ["secret", "pa:ss|wo rd", "pässwörd€", "x".repeat(100)];
  const lines: string[] = [];
  for (const [i, pw] of passwords.entries()) {
    for (const alg of ["-5", "-6"]) {
      const salt = `s${i}${alg}abc`.replace("-", "z");
      const hash = execFileSync("openssl", ["passwd", alg, "-salt", salt, "-stdin"], { input: pw })
        .toString()
        .trim();
      assert.match(hash, /^\$[56]\$/);
      lines.push(`u${i}${alg}:${hash}:1:1::/h`);
    }
  }
  const t = table(lines.join("\n"));
  for (const [i, pw] of passwords.entries()) {
    for (const alg of ["-5", "-6"]) {
      assert.deepEqual(await checkAuth(t, `u${i}${alg}:${pw}`), { kind: "found" }, `${alg} ${pw}`);
      assert.deepEqual(await checkAuth(t, `u${i}${alg}:${pw.slice(1)}`), { kind: "not-found" });
    }
  }
});

test("update rereads the file; a broken or missing file keeps the old table", async () => {
  const b = await open("alice:*:1:1::/home/alice\n");
  writeFileSync(b.path, "alice:*:1:1::/home/alice2\nbob:*:2:2::/home/bob\n");
  assert.deepEqual(await b.update(), { kind: "ok" });
  assert.deepEqual(b.lookup("userinfo", "alice"), { kind: "found", value: "1:1:/home/alice2" });
  assert.equal(b.size, 2);
  writeFileSync(b.path, "alice:*:1:1::/home/alice3\nbroken\n");
  const r = await b.update();
  assert.equal(r.kind, "error");
  assert.match((r as { message: string }).message, /:2: expected at least 6/);
  assert.deepEqual(b.lookup("userinfo", "alice"), { kind: "found", value: "1:1:/home/alice2" });
  rmSync(b.path);
  assert.match(((await b.update()) as { message: string }).message, /ENOENT/);
  assert.equal(b.size, 2);
  assert.deepEqual(await PasswdBackend.open(join(dir, "none")), {
    kind: "error",
    reason: `${join(dir, "none")}: ENOENT`,
  });
});

test("arguments: FILE, or NAME FILE as execl(argv0=name, argv1=file) gives without a shebang", () => {
  assert.deepEqual(parsePasswdArgs(["/etc/mail/passwd"]), {
    kind: "run",
    path: "/etc/mail/passwd",
    tableName: undefined,
  });
  assert.deepEqual(parsePasswdArgs(["users", "/etc/mail/passwd"]), {
    kind: "run",
    path: "/etc/mail/passwd",
    tableName: "users",
  });
  assert.deepEqual(parsePasswdArgs(["--", "-odd"]), {
    kind: "run",
    path: "-odd",
    tableName: undefined,
  });
  assert.equal(parsePasswdArgs([]).kind, "usage");
  assert.equal(parsePasswdArgs(["a", "b", "c"]).kind, "usage");
  assert.equal(parsePasswdArgs(["-v", "/etc/x"]).kind, "usage");
});
