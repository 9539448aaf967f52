// Tests of name text handling and IP helpers.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatIPv6, normalizeAddress, parseIPv6, reverseName } from "./ip.js";
import {
  canonicalName,
  countDots,
  hostnameOk,
  labelsToName,
  namesEqual,
  nameToLabels,
} from "./names.js";

describe("names", () => {
  it("parses and formats with escapes", () => {
    const r = nameToLabels("a\\.b.c\\065.");
    assert.ok(r.ok);
    assert.deepEqual(
      r.value.map((b) => b.toString()),
      ["a.b", "cA"],
    );
    assert.equal(labelsToName(r.value), "a\\.b.cA");
    assert.deepEqual(nameToLabels("."), { ok: true, value: [] });
    assert.equal(nameToLabels("a..b").ok, false);
    assert.equal(nameToLabels("bücher.test").ok, false);
  });
  it("compares case-insensitively", () => {
    assert.ok(namesEqual("MixedCase.Example.TEST.", "mixedcase.example.test"));
    assert.equal(canonicalName("A.B."), "a.b");
    assert.ok(namesEqual("a\\065.b", "aa.B."), "escapes take the slow path");
    assert.equal(namesEqual("ab.test", "ac.test"), false);
    assert.equal(namesEqual("\u212a.test", "k.test"), false, "only ASCII folds");
    assert.equal(countDots("a.b\\.c"), 1);
  });
  it("checks host names leniently", () => {
    assert.ok(hostnameOk("_25._tcp.mx.example.test"));
    assert.ok(hostnameOk("mx1.example.test."));
    assert.equal(hostnameOk("bad name.test"), false);
    assert.equal(hostnameOk("a..b"), false);
  });
});

describe("ip", () => {
  it("formats IPv6 per RFC 5952", () => {
    for (const [i, o] of [
      ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
      ["::", "::"],
      ["::1", "::1"],
      ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
      ["::ffff:1.2.3.4", "::ffff:102:304"],
      ["fe80::1%eth0", "fe80::1"],
    ] as const) {
      const b = parseIPv6(i);
      assert.ok(b, i);
      assert.equal(formatIPv6(b), o);
    }
    assert.equal(parseIPv6("1.2.3.4"), null);
  });
  it("builds reverse names", () => {
    assert.equal(reverseName("127.0.0.27"), "27.0.0.127.in-addr.arpa");
    assert.equal(reverseName("::1"), `1.${"0.".repeat(31)}ip6.arpa`);
    assert.equal(reverseName("nope"), null);
    assert.equal(normalizeAddress("0:0::1"), "::1");
  });
});
