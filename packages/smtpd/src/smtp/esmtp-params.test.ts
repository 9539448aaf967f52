import assert from "node:assert/strict";
import { test } from "node:test";
import {
  parseMailParams,
  parseNotify,
  parseOrcpt,
  parseRcptParams,
  xtextDecode,
  xtextEncode,
} from "./esmtp-params.js";

const MO = { dsn: true, isSecure: true, maxMessageBytes: 1000 };

test("xtext round trip and strictness (RFC 3461 §4)", () => {
  for (const s of ["", "plain", "a+b=c", "sp ace", "<x@y>", "ünï"]) {
    const e = xtextEncode(s);
    assert.match(e, /^[!-~]*$/);
    assert.ok(!e.includes("="));
    if (/^[\x00-\x7f]*$/.test(s)) assert.equal(xtextDecode(e), s);
  }
  assert.equal(xtextDecode("a+2Bb"), "a+b");
  assert.equal(xtextDecode("a+2bb"), null);
  assert.equal(xtextDecode("a+2"), null);
  assert.equal(xtextDecode("a=b"), null);
  assert.equal(xtextDecode("a b"), null);
  assert.equal(xtextDecode("+FF"), null);
});

test("MAIL parameters", () => {
  const r = parseMailParams(
    "SIZE=10 BODY=8bitmime SMTPUTF8 RET=hdrs ENVID=id+2B1 AUTH=<> REQUIRETLS",
    MO,
  );
  assert.deepEqual(r, {
    kind: "ok",
    params: {
      size: 10,
      body: "8BITMIME",
      smtputf8: true,
      ret: "HDRS",
      envid: "id+1",
      requireTls: true,
    },
  });
  const code = (t: string, o = MO): string => {
    const x = parseMailParams(t, o);
    return x.kind === "ok" ? "ok" : `${x.reply.code} ${x.reply.esc}`;
  };
  assert.equal(code("SIZE=1001"), "552 5.3.4");
  assert.equal(code("SIZE=1000"), "ok");
  assert.equal(code("SIZE="), "501 5.5.4");
  assert.equal(code("SIZE"), "501 5.5.4");
  assert.equal(code("X-FOO=1"), "555 5.5.4");
  assert.equal(code("RET=FULL", { ...MO, dsn: false }), "555 5.5.4");
  assert.equal(code("REQUIRETLS", { ...MO, isSecure: false }), "555 5.5.4");
  assert.equal(code("ENVID=" + "a".repeat(101)), "501 5.5.4");
  assert.equal(code("ENVID=" + "a".repeat(100)), "ok");
  assert.equal(code("BODY=7BIT body=8BITMIME"), "501 5.5.4");
  assert.equal(code("=x"), "501 5.5.2");
  assert.equal(code("SMTPUTF8=yes"), "501 5.5.4");
  assert.equal(code("AUTH=ü"), "501 5.5.4");
  assert.equal(code("AUTH=ü SMTPUTF8"), "ok");
});

test("RCPT parameters", () => {
  assert.deepEqual(parseNotify("success,Delay"), ["SUCCESS", "DELAY"]);
  assert.equal(parseNotify("NEVER,FAILURE"), null);
  assert.equal(parseNotify("SUCCESS,SUCCESS"), null);
  assert.equal(parseNotify(""), null);
  assert.deepEqual(parseOrcpt("rfc822;a+40b"), { addrType: "rfc822", addr: "a@b" });
  assert.equal(parseOrcpt(";a"), null);
  assert.equal(parseOrcpt("rfc822;"), null);
  assert.equal(parseOrcpt("rfc822;+0D+0A"), null);
  assert.equal(parseOrcpt("rfc822;" + "a".repeat(500)), null);
  const r = parseRcptParams("NOTIFY=NEVER ORCPT=rfc822;x+40y", { dsn: true, smtputf8: false });
  assert.deepEqual(r, {
    kind: "ok",
    params: { notify: ["NEVER"], orcpt: { addrType: "rfc822", addr: "x@y" } },
  });
  const n = parseRcptParams("NOTIFY=NEVER", { dsn: false, smtputf8: false });
  assert.equal(n.kind === "error" && n.reply.code, 555);
});
