import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { cryptHash, describeHash, hashPassword, isSupportedHash, verifyPassword } from "./crypt.js";

// The test vectors of Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512":
// [setting, password, crypt(password, setting)].
const LONG = "a very much longer text to encrypt.  This one even stretches over morethan one line.";
const SHA_VECTORS: [string, string, string][] = [
  ["$5$saltstring", "Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"],
  [
    "$5$rounds=10000$saltstringsaltstring",
    "Hello world!",
    "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
  ],
  [
    "$5$rounds=5000$toolongsaltstring",
    "This is just a test",
    "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5",
  ],
  [
    "$5$rounds=1400$anotherlongsaltstring",
    LONG,
    "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1",
  ],
  [
    "$5$rounds=77777$short",
    "we have a short salt string but not a short password",
    "$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/",
  ],
  [
    "$5$rounds=123456$asaltof16chars..",
    "a short string",
    "$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD",
  ],
  [
    "$5$rounds=10$roundstoolow",
    "the minimum number is still observed",
    "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
  ],
  [
    "$6$saltstring",
    "Hello world!",
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
  ],
  [
    "$6$rounds=10000$saltstringsaltstring",
    "Hello world!",
    "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
  ],
  [
    "$6$rounds=5000$toolongsaltstring",
    "This is just a test",
    "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
  ],
  [
    "$6$rounds=1400$anotherlongsaltstring",
    LONG,
    "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
  ],
  [
    "$6$rounds=77777$short",
    "we have a short salt string but not a short password",
    "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
  ],
  [
    "$6$rounds=123456$asaltof16chars..",
    "a short string",
    "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1",
  ],
  [
    "$6$rounds=10$roundstoolow",
    "the minimum number is still observed",
    "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
  ],
];

// Deterministic long passwords (the same formulas made the fixtures below with python).
const PW300 = Array.from({ length: 300 }, (_, i) => String.fromCharCode(33 + ((i * 7) % 90))).join(
  "",
);
const PW255 =
  "a" + Array.from({ length: 254 }, (_, i) => String.fromCharCode(33 + ((i * 11) % 90))).join("");
const PW72 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

// [password, hash]: made with python3.11's crypt (libxcrypt), e.g.
// crypt.crypt("U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC."), and Openwall's crypt_blowfish vectors.
const BCRYPT_FIXTURES: [string, string][] = [
  ["U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"],
  ["", "$2b$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s."],
  ["correct horse battery staple", "$2b$10$abcdefghijklmnopqrstuuGGgFFcYeueaAql8Z7U7CnCTRw4DR77W"],
  [PW72, "$2b$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui"],
  [PW72 + "chars beyond 72", "$2b$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui"],
  ["p\u00e4ssw\u00f6rd \u2603", "$2y$07$XXXXXXXXXXXXXXXXXXXXXOThJ2pKa79bRBYURpDez98Ekeckkm1Ye"],
  ["U*U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.Bw3BobdGs1SFsKsRLIx9rC4T.Q7DtEm"],
  // Openwall crypt_blowfish's own vectors.
  ["U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"],
  ["U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"],
  ["U*U*U", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a"],
  [
    PW72 + "chars after 72 are ignored",
    "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
  ],
  ["", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy"],
];

function wrong(pw: string): string[] {
  const flipped = pw === "" ? "x" : String.fromCharCode(pw.charCodeAt(0) ^ 1) + pw.slice(1);
  return [
    flipped,
    pw + "x",
    pw.slice(0, -1),
    pw.toUpperCase() === pw ? pw + " " : pw.toUpperCase(),
  ].filter((w) => w !== pw);
}

test("SHA-crypt: the specification's vectors, rounds clamping and salt truncation included", async () => {
  for (const [setting, pw, expected] of SHA_VECTORS) {
    assert.equal(await cryptHash(pw, setting), expected, setting);
    assert.equal(await cryptHash(pw, expected), expected, `${expected} as its own setting`);
    assert.equal(await verifyPassword(pw, expected), true, expected);
  }
});

test("SHA-crypt: wrong passwords do not verify", async () => {
  for (const [, pw, expected] of SHA_VECTORS.filter(([s]) => !/rounds=(77777|123456)/.test(s))) {
    for (const w of wrong(pw))
      assert.equal(await verifyPassword(w, expected), false, `${w} vs ${expected}`);
  }
});

test("SHA-crypt: the setting is parsed like glibc", async () => {
  // An explicit default count is kept; a huge one is clamped (not run: checked on the prefix).
  assert.match((await cryptHash("x", "$6$rounds=5000$ab")) ?? "", /^\$6\$rounds=5000\$ab\$/);
  assert.match((await cryptHash("x", "$5$rounds=0999$ab")) ?? "", /^\$5\$rounds=1000\$ab\$/);
  // "rounds=" not followed by digits and '$' is salt.
  assert.match(
    (await cryptHash("x", "$6$rounds=x$ab")) ?? "",
    /^\$6\$rounds=x\$[./0-9A-Za-z]{86}$/,
  );
  // Everything after the salt (a stored hash) is ignored; an empty salt works.
  assert.match((await cryptHash("x", "$6$")) ?? "", /^\$6\$\$[./0-9A-Za-z]{86}$/);
  const h = await hashPassword("x", "sha512", { salt: "roundstoolow", rounds: 10 });
  assert.match(h, /^\$6\$rounds=1000\$roundstoolow\$/);
  assert.equal(await verifyPassword("x", h), true);
});

test("bcrypt: fixed vectors from libxcrypt and Openwall", async () => {
  for (const [pw, hash] of BCRYPT_FIXTURES) {
    assert.equal(await verifyPassword(pw, hash), true, `${pw.slice(0, 20)} ${hash}`);
    assert.equal(await cryptHash(pw, hash), hash);
    assert.equal(
      await cryptHash(pw, hash.slice(0, 29)),
      hash,
      "the 29-character setting is enough",
    );
  }
});

test("bcrypt: wrong passwords do not verify, and only 72 bytes count", async () => {
  for (const [pw, hash] of BCRYPT_FIXTURES) {
    if (hash.startsWith("$2b$10$")) continue; // slow; covered by the timing test
    for (const w of wrong(pw)) {
      const expected = w.startsWith(PW72); // the same first 72 bytes: the same hash
      assert.equal(await verifyPassword(w, hash), expected, `${w.slice(0, 20)} vs ${hash}`);
    }
  }
  const h = "$2b$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui";
  assert.equal(await verifyPassword(PW72 + "anything", h), true);
  assert.equal(await verifyPassword(PW72.slice(0, 71), h), false);
});

test("bcrypt: $2a$ versus $2b$ for passwords of 255 bytes and more", async () => {
  // OpenBSD's $2a$ keeps (len + 1) mod 256 bytes of the key: 45 for 300 bytes, and for 255
  // bytes none at all, so that only the first byte is cycled. The fixtures are python's
  // $2b$ hashes of the equivalent short key, relabelled $2a$.
  const openbsd300 = "$2a$04$abcdefghijklmnopqrstuu6AKrV0Gbe8zJag8zB.7MeqpJDyFimru"; // (PW300[:45]*2)[:72]
  const openbsd255 = "$2a$04$abcdefghijklmnopqrstuuBzzIgyKkz7xMWYSzkIjUSnxEQFQ0WNe"; // "a"*72
  assert.equal(await cryptHash(PW300, openbsd300.slice(0, 29)), openbsd300);
  assert.equal(await verifyPassword(PW300, openbsd300), true);
  assert.equal(await verifyPassword(PW255, openbsd255), true);
  assert.equal(await verifyPassword("a".repeat(72), openbsd255), true);
  // $2b$ fixed the wrap: the same digest under $2b$ is not PW300's.
  assert.equal(await verifyPassword(PW300, "$2b$" + openbsd300.slice(4)), false);
  assert.equal(
    await verifyPassword(PW300, "$2b$04$abcdefghijklmnopqrstuuQ82V0iPuKGaT0DgkNzQpAN11jEP3y6."),
    true,
  );
  // libxcrypt (Linux) computes $2a$ like $2b$: such a hash verifies too.
  assert.equal(
    await verifyPassword(PW300, "$2a$04$abcdefghijklmnopqrstuuQ82V0iPuKGaT0DgkNzQpAN11jEP3y6."),
    true,
  );
  assert.equal(await verifyPassword(PW300.slice(0, 299), openbsd300), false);
});

test("bcrypt: malformed hashes are false, not errors", async () => {
  const good = "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
  const bad = [
    good.slice(0, -1),
    good + "x",
    good.replace("$05$", "$03$"),
    good.replace("$05$", "$32$"),
    good.replace("$05$", "$5$"),
    good.replace("E5YP", "E5Y+"),
    // A salt whose last character carries unused bits: crypt(3) prints it canonically.
    good.replace("CCC.E5YP", "CCC/E5YP"),
    "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    "$2$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
  ];
  for (const h of bad) assert.equal(await verifyPassword("U*U", h), false, h);
  assert.equal(isSupportedHash(good), true);
  assert.equal(isSupportedHash(good.replace("$05$", "$32$")), false);
});

test("unknown schemes never verify, and say what they are", async () => {
  const cases: [string, string, RegExp][] = [
    ["password", "sa3tHJ3/KuYvI", /^des/], // crypt("password", "sa")
    ["password", "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/", /^md5-crypt/],
    [
      "password",
      "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$tnSYvahCwPBHKZUspmcxMfb0.WiB9W.zEaKlOBL35rC",
      /^yescrypt/,
    ],
    ["U*U", "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", /2x/],
    ["", "", /locked/],
    ["x", "!", /locked/],
    ["x", "*LK*", /locked/],
  ];
  for (const [pw, hash, desc] of cases) {
    assert.equal(isSupportedHash(hash), false, hash);
    assert.equal(await verifyPassword(pw, hash), false, hash);
    assert.equal(await cryptHash(pw, hash), null, hash);
    assert.match(describeHash(hash), desc);
  }
  assert.equal(describeHash(SHA_VECTORS[7]![2]), "sha512-crypt");
  assert.equal(describeHash(SHA_VECTORS[0]![2]), "sha256-crypt");
  assert.equal(describeHash(BCRYPT_FIXTURES[0]![1]), "bcrypt");
  assert.equal(isSupportedHash(SHA_VECTORS[0]![2]), true);
});

test("a password with a NUL byte never verifies, and cannot be hashed", async () => {
  const h = await hashPassword("abc", "sha512", { salt: "nul" });
  assert.equal(await verifyPassword("abc", h), true);
  assert.equal(await verifyPassword("abc\0def", h), false);
  await assert.rejects(hashPassword("abc\0def"), RangeError);
  assert.equal(await verifyPassword(undefined as unknown as string, h), false);
});

test("hashPassword: shapes, options, round trips", async () => {
  const a = await hashPassword("s3cret");
  const b = await hashPassword("s3cret");
  assert.match(a, /^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
  assert.notEqual(a, b, "random salts");
  assert.equal(await verifyPassword("s3cret", a), true);
  assert.equal(await verifyPassword("s3cret!", a), false);

  const c = await hashPassword("s3cret", "bcrypt", { cost: 5 });
  assert.match(c, /^\$2b\$05\$[./A-Za-z0-9]{53}$/);
  assert.equal(await verifyPassword("s3cret", c), true);
  assert.equal(await verifyPassword("s3creT", c), false);
  assert.equal(
    await hashPassword("U*U", "bcrypt", { cost: 5, salt: "CCCCCCCCCCCCCCCCCCCCC." }),
    "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
  );
  assert.equal(
    await hashPassword("Hello world!", "sha512", { salt: "saltstring" }),
    SHA_VECTORS[7]![2],
  );
  const utf = await hashPassword("m\u00f6t de p\u00e4sse \u{1F511}", "sha512", { rounds: 1000 });
  assert.match(utf, /^\$6\$rounds=1000\$/);
  assert.equal(await verifyPassword("m\u00f6t de p\u00e4sse \u{1F511}", utf), true);

  await assert.rejects(hashPassword("x", "bcrypt", { cost: 3 }), RangeError);
  await assert.rejects(hashPassword("x", "bcrypt", { cost: 32 }), RangeError);
  await assert.rejects(hashPassword("x", "bcrypt", { salt: "short" }), RangeError);
  await assert.rejects(hashPassword("x", "sha512", { salt: "has$dollar" }), RangeError);
  await assert.rejects(hashPassword("x", "sha512", { salt: "seventeen-chars-x" }), RangeError);
  await assert.rejects(hashPassword("x", "md5" as "sha512"), RangeError);
});

test("$6$ and bcrypt verify right and wrong passwords (timings reported)", async (t) => {
  const sha = SHA_VECTORS[7]!;
  await verifyPassword(sha[1], sha[2]); // warm up
  let t0 = performance.now();
  for (let i = 0; i < 5; i++) assert.equal(await verifyPassword(sha[1], sha[2]), true);
  const shaMs = (performance.now() - t0) / 5;

  const [pw, hash] = BCRYPT_FIXTURES[2]!;
  t0 = performance.now();
  assert.equal(await verifyPassword(pw, hash), true);
  const bcryptMs = performance.now() - t0;
  t0 = performance.now();
  assert.equal(await verifyPassword(pw + "!", hash), false);
  const bcryptWrongMs = performance.now() - t0;
  t.diagnostic(
    `$6$ rounds=5000: ${shaMs.toFixed(1)} ms; bcrypt cost 10: ${bcryptMs.toFixed(0)} ms (wrong password ${bcryptWrongMs.toFixed(0)} ms)`,
  );
  // Speeds are reported, not asserted: this machine is shared (figures belong in benchmarks).
});

test("a long hash does not block the event loop", async (t) => {
  let maxGap = 0;
  let ticks = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 2);
  try {
    const t0 = performance.now();
    const [h, v] = await Promise.all([
      hashPassword("pw", "bcrypt", { cost: 11 }),
      verifyPassword("a short string", SHA_VECTORS[12]![2]), // $6$ rounds=123456
    ]);
    assert.equal(v, true);
    assert.equal(await verifyPassword("pw", h), true);
    t.diagnostic(
      `bcrypt cost 11 + $6$ rounds=123456 together: ${(performance.now() - t0).toFixed(0)} ms, longest event-loop stall ${maxGap.toFixed(0)} ms, ${ticks} timer ticks`,
    );
  } finally {
    clearInterval(timer);
  }
  // A hash that never yields lets the timer run once at most while it works (over a second
  // here); one that yields lets it run all along. Timing-independent on a loaded machine.
  assert.ok(ticks >= 20, `the event loop ran only ${ticks} times during the hashes`);
});

// ---------------------------------------------------------------------------------------
// Cross-checks with the system's crypt(3) (libxcrypt through python's crypt module) and
// with `openssl passwd`.

function randomPassword(): string {
  const extra = ["\u00e9", "\u00df", "\u20ac", "\u{1F600}", " ", "$", ":", "\\", '"'];
  const base = randomBytes(6 + (randomBytes(1)[0]! % 30)).toString("base64");
  return base + extra[randomBytes(1)[0]! % extra.length]! + base.slice(0, 3);
}

const python = spawnSync("python3", ["-W", "ignore", "-c", "import crypt"], { encoding: "utf8" });
const havePython = python.status === 0;

function pythonRun(script: string, input: unknown): unknown {
  const r = spawnSync("python3", ["-W", "ignore", "-c", script], {
    input: JSON.stringify(input),
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("cross-check with python's crypt (libxcrypt)", {
  skip: havePython ? false : "python3 with the crypt module is not available",
}, async () => {
  const passwords = Array.from({ length: 4 }, randomPassword);
  // Hashes made by the system, verified here.
  const theirs = pythonRun(
    `import crypt, json, sys
pws = json.load(sys.stdin)
out = []
for i, pw in enumerate(pws):
    out.append([pw, crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))])
    out.append([pw, crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA256))])
    out.append([pw, crypt.crypt(pw, "$6$rounds=%d$%s" % (1000 + 777 * i, crypt.mksalt(crypt.METHOD_SHA512)[3:]))])
    out.append([pw, crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2 ** (4 + i % 3)))])
print(json.dumps(out))`,
    passwords,
  ) as [string, string][];
  assert.equal(theirs.length, 16);
  for (const [pw, hash] of theirs) {
    assert.equal(await verifyPassword(pw, hash), true, `${pw} ${hash}`);
    assert.equal(await verifyPassword(pw + "x", hash), false, `${pw}x ${hash}`);
  }
  // Hashes made here, verified by the system.
  const ours: [string, string][] = [];
  for (const pw of passwords) {
    ours.push([pw, await hashPassword(pw)]);
    ours.push([pw, await hashPassword(pw, "sha512", { rounds: 1234 })]);
    ours.push([pw, await hashPassword(pw, "bcrypt", { cost: 4 })]);
    ours.push([
      pw,
      (await cryptHash(pw, "$5$" + randomPassword().replace(/[^./0-9A-Za-z]/g, "")))!,
    ]);
  }
  const verdicts = pythonRun(
    `import crypt, json, sys
print(json.dumps([crypt.crypt(pw, h) == h for pw, h in json.load(sys.stdin)]))`,
    ours,
  ) as boolean[];
  assert.deepEqual(
    verdicts,
    ours.map(() => true),
    JSON.stringify(ours),
  );
});

const openssl = spawnSync("openssl", ["version"], { encoding: "utf8" });
const haveOpenssl = openssl.status === 0;

test("cross-check with openssl passwd -5/-6", {
  skip: haveOpenssl ? false : "openssl is not available",
}, async () => {
  for (const flag of ["-5", "-6"]) {
    for (let i = 0; i < 3; i++) {
      const pw = randomPassword();
      const salt = randomBytes(12)
        .toString("base64")
        .replace(/[^./0-9A-Za-z]/g, ".")
        .slice(0, 8 + i * 4);
      const r = spawnSync("openssl", ["passwd", flag, "-salt", salt, "-stdin"], {
        input: pw + "\n",
        encoding: "utf8",
      });
      assert.equal(r.status, 0, r.stderr);
      const hash = r.stdout.trim();
      assert.match(hash, new RegExp(`^\\$${flag.slice(1)}\\$`));
      assert.equal(await verifyPassword(pw, hash), true, `${pw} ${hash}`);
      assert.equal(await cryptHash(pw, `$${flag.slice(1)}$${salt}`), hash);
      assert.equal(await verifyPassword(pw.slice(1), hash), false);
    }
  }
});
