import assert from "node:assert/strict";
import { test } from "node:test";
import { formatReply, more, multiline, ok, permFail, replyText, tempFail } from "./reply.js";

test("replies carry their enhanced code on every line; 3xx carry none", () => {
  assert.equal(formatReply(ok(250, "2.0.0", "Ok")), "250 2.0.0 Ok\r\n");
  assert.equal(formatReply(more(354, "go")), "354 go\r\n");
  assert.equal(
    formatReply(multiline(ok(214, "2.0.0", ""), ["a", "b"])),
    "214-2.0.0 a\r\n214 2.0.0 b\r\n",
  );
  assert.equal(replyText(permFail(550, "5.1.1", "no")), "550 5.1.1 no");
});

test("221 and 421 close; others do not", () => {
  assert.equal(ok(221, "2.0.0", "Bye").close, true);
  assert.equal(tempFail(421, "4.4.2", "t").close, true);
  assert.equal(tempFail(451, "4.3.0", "t").close, undefined);
});

test("reply text cannot inject lines", () => {
  assert.equal(
    formatReply(permFail(550, "5.0.0", "a\r\n250 ok\0\xe9")),
    "550 5.0.0 a??250 ok??\r\n",
  );
});
