// Tests of punycode (RFC 3492 §7.1 samples) and IDNA ToASCII against node:url.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { domainToASCII } from "node:url";
import { punycodeDecode, punycodeEncode, toASCII, toUnicode } from "./punycode.js";

const SAMPLES: [string, string][] = [
  // RFC 3492 §7.1 (A) Arabic, (B) Chinese, (L) Japanese, (S) "-> $1.00 <-"
  [
    "\u0644\u064A\u0647\u0645\u0627\u0628\u062A\u0643\u0644\u0645\u0648\u0634\u0639\u0631\u0628\u064A\u061F",
    "egbpdaj6bu4bxfgehfvwxn",
  ],
  ["\u4ED6\u4EEC\u4E3A\u4EC0\u4E48\u4E0D\u8BF4\u4E2D\u6587", "ihqwcrb4cv8a8dqg056pqjye"],
  ["\u3072\u3068\u3064\u5C4B\u6839\u306E\u4E0B2", "2-u9tlzr9756bt3uc0v"],
  ["-> $1.00 <-", "-> $1.00 <--"],
  ["bücher", "bcher-kva"],
  ["😀", "e28h"],
];

describe("punycode", () => {
  it("encodes and decodes the RFC 3492 samples", () => {
    for (const [u, a] of SAMPLES) {
      assert.deepEqual(punycodeEncode(u), { ok: true, value: a });
      assert.deepEqual(punycodeDecode(a), { ok: true, value: u });
    }
  });
  it("rejects bad input without throwing", () => {
    assert.equal(punycodeDecode("999999999999").ok, false);
    assert.equal(punycodeDecode("ab!").ok, false);
    assert.equal(punycodeDecode("a-").ok, true);
  });
  it("agrees with domainToASCII on U-labels", () => {
    for (const d of [
      "bücher.test",
      "Bücher.Example",
      "ドメイン.テスト",
      "müller.straße.test",
      "ascii.test",
      "xn--bcher-kva.test",
    ]) {
      const r = toASCII(d);
      assert.ok(r.ok);
      assert.equal(r.value.toLowerCase(), domainToASCII(d), d);
    }
    assert.equal(toUnicode("xn--bcher-kva.test"), "bücher.test");
    assert.equal(toASCII("-bü.test").ok, false);
  });
});
