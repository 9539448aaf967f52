// Integration tests against the local DNS bed: nsd (authoritative) behind a validating
// unbound. Needs nsd, unbound and ldnsutils (ci/apt/asr.list): under CI=true a missing tool
// fails the run, elsewhere the suite is skipped with the reason.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { getaddrinfo } from "./addrinfo.js";
import { extendedError } from "./codec.js";
import { ResolverContext } from "./context.js";
import { type DnsBed, missingTools, startBed, TLSA_HEX } from "./dns-bed.js";
import { lookupTlsa, resolveDane, resolveMx, resolveMxAddresses } from "./mx.js";
import { getrrsetbyname, resQuery } from "./query.js";
import { TYPES } from "./rdata.js";

const missing = missingTools();
const inCi = process.env.CI === "true";
const skip =
  missing.length > 0 && !inCi
    ? `missing ${missing.join(", ")} (apt-get install $(cat ci/apt/asr.list))`
    : false;

let bed: DnsBed;
let ctx: ResolverContext;
let nsd: ResolverContext;

describe("DNS bed", { skip, timeout: 60000 }, () => {
  before(async () => {
    assert.deepEqual(missing, [], "CI must have the bed's tools");
    bed = await startBed(async (rc) => {
      const r = await resQuery(
        new ResolverContext({ resolvConfText: rc, hostsText: "" }),
        "mx.signed.test",
        TYPES.A,
      );
      return r.ad;
    });
    ctx = new ResolverContext({ resolvConfText: bed.resolvConf, hostsText: "" });
    nsd = new ResolverContext({
      resolvConfText: `nameserver 127.0.0.1:${bed.nsdPort}\noptions timeout:2\n`,
      hostsText: "",
    });
  });
  after(async () => {
    await bed?.stop();
  });

  it("gets AD=1 for the signed zone and AD=0 for the unsigned one", async () => {
    const s = await resQuery(ctx, "mx.signed.test", TYPES.A);
    assert.equal(s.ad, true);
    assert.equal(s.rcodeName, "NOERROR");
    const u = await resQuery(ctx, "mx1.unsigned.test", TYPES.A);
    assert.equal(u.ad, false);
    assert.equal(u.hErrno, "NETDB_SUCCESS");
  });
  it("gives SERVFAIL with EDE for a bogus signature, and EAI_AGAIN", async () => {
    const b = await resQuery(ctx, "bogus.signed.test", TYPES.A);
    assert.equal(b.rcodeName, "SERVFAIL");
    assert.equal(b.hErrno, "TRY_AGAIN");
    if (b.message) assert.equal(extendedError(b.message)?.infoCode, 6);
    assert.equal((await getaddrinfo(ctx, "bogus.signed.test")).error, "EAI_AGAIN");
  });
  it("validates TLSA through getrrsetbyname", async () => {
    const r = await getrrsetbyname(ctx, "_25._tcp.mx.signed.test", 1, TYPES.TLSA);
    assert.equal(r.errno, "ERRSET_SUCCESS");
    assert.equal(r.validated, true);
    assert.ok(r.sigs.length > 0, "DO=1 brings the RRSIGs");
    const d = r.rdatas[0];
    assert.ok(d?.type === "TLSA");
    assert.equal(d.data.toString("hex"), TLSA_HEX);
    const u = await getrrsetbyname(ctx, "_25._tcp.mx1.unsigned.test", 1, TYPES.TLSA);
    assert.equal(u.errno, "ERRSET_SUCCESS");
    assert.equal(u.validated, false);
  });
  it("decides DANE per RFC 7672", async () => {
    const dane = await resolveDane(ctx, "mx.signed.test");
    assert.equal(dane.kind, "dane");
    assert.deepEqual(await resolveDane(ctx, "mx2.signed.test"), {
      kind: "no-dane",
      reason: "nxdomain",
    });
    assert.deepEqual(await resolveDane(ctx, "mx1.unsigned.test"), {
      kind: "no-dane",
      reason: "insecure-host",
    });
    assert.deepEqual(await lookupTlsa(ctx, "_25._tcp.mx1.unsigned.test"), {
      kind: "no-dane",
      reason: "insecure",
    });
    assert.deepEqual(await lookupTlsa(ctx, "_25._tcp.www.signed.test"), {
      kind: "no-dane",
      reason: "nxdomain",
    });
    assert.equal(
      (await resolveDane(ctx, "dane-bogus.signed.test")).kind,
      "tempfail",
      "bogus TLSA defers, never downgrades",
    );
  });
  it("makes MX decisions through the validating resolver", async () => {
    const s = await resolveMx(ctx, "signed.test");
    assert.equal(s.result, "mx");
    assert.equal(s.secure, true);
    assert.deepEqual(
      s.hosts.map((h) => h.exchange),
      ["mx.signed.test", "mx2.signed.test"],
    );
    const u = await resolveMx(ctx, "unsigned.test");
    assert.deepEqual([u.result, u.secure], ["mx", false]);
    const cases: [string, string][] = [
      ["nullmx.unsigned.test", "null-mx"],
      ["mx-localhost.unsigned.test", "null-mx"],
      ["implicit.unsigned.test", "implicit"],
      ["nodata.unsigned.test", "implicit"],
      ["doesnotexist.unsigned.test", "nxdomain"],
      ["loop1.unsigned.test", "tempfail"],
    ];
    for (const [dom, want] of cases) assert.equal((await resolveMx(ctx, dom)).result, want, dom);
    const dangling = await resolveMxAddresses(ctx, "mx-dangling.unsigned.test");
    assert.equal(dangling.result, "ok");
    assert.deepEqual(
      dangling.targets.map((t) => t.addresses.length > 0),
      [false, true],
    );
  });
  it("follows CNAMEs, matches names case-insensitively, keeps TXT strings apart", async () => {
    const a = await getaddrinfo(ctx, "cname1.unsigned.test", undefined, { family: "inet4" });
    assert.equal(a.canonname, "implicit.unsigned.test");
    assert.deepEqual(
      a.addresses.map((x) => x.address),
      ["127.0.0.12"],
    );
    const m = await getaddrinfo(ctx, "mixedcase.UNSIGNED.test", undefined, { family: "inet4" });
    assert.deepEqual(
      m.addresses.map((x) => x.address),
      ["127.0.0.14"],
    );
    const t = await resQuery(ctx, "spf-split.unsigned.test", TYPES.TXT);
    const d = t.message?.answers[0]?.data;
    assert.ok(d?.type === "TXT");
    assert.equal(d.strings.length, 3);
  });
  it("shows rcode, AD and TLSA answers through the bundled CLI", {}, async () => {
    const rc = join(bed.dir, "cli-resolv.conf");
    writeFileSync(rc, bed.resolvConf);
    const run = (args: string[]) =>
      new Promise<{ status: number; stdout: string }>((res) => {
        execFile(
          process.execPath,
          [fileURLToPath(new URL("../bin/asr.cjs", import.meta.url)), "-c", rc, "--json", ...args],
          { timeout: 10000 },
          (e, stdout) => res({ status: e ? Number(e.code ?? 1) : 0, stdout }),
        );
      });
    const t = await run(["_25._tcp.mx.signed.test", "TLSA"]);
    assert.equal(t.status, 0);
    const j = JSON.parse(t.stdout);
    assert.equal(j.rcode, "NOERROR");
    assert.equal(j.ad, true);
    // unbound may answer from its cache, with the TTL counted down: 300 or a little less.
    assert.equal(j.answers.length, 1);
    const { ttl, ...rest } = j.answers[0];
    assert.ok(ttl > 250 && ttl <= 300, `ttl ${ttl}`);
    assert.deepEqual(rest, {
      name: "_25._tcp.mx.signed.test",
      type: "TLSA",
      data: `3 1 1 ${TLSA_HEX}`,
    });
    const mx = JSON.parse((await run(["mx", "nullmx.unsigned.test"])).stdout);
    assert.deepEqual([mx.result, mx.hosts], ["null-mx", []]);
  });
  it("gets a large answer from nsd over TCP after truncation, and authoritative flags", async () => {
    const noEdns = new ResolverContext({
      resolvConfText: `nameserver 127.0.0.1:${bed.nsdPort}\noptions no-edns0 timeout:2\n`,
      hostsText: "",
    });
    const r = await resQuery(noEdns, "bigtxt.unsigned.test", TYPES.TXT);
    assert.equal(r.ancount, 30);
    assert.ok((r.packet?.length ?? 0) > 1232);
    const aa = await resQuery(nsd, "mx1.unsigned.test", TYPES.A);
    assert.equal(aa.message?.flags.aa, true);
  });
});
