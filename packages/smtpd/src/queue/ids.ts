// Message and envelope ids of the queue role, as OpenSMTPD makes them (reference §5):
// msgid = 32 random bits (8 hex), evpid = msgid << 32 | 32 random bits (16 hex).
import { randomBytes } from "node:crypto";

const MSGID_RE = /^[0-9a-f]{8}$/;
const EVPID_RE = /^[0-9a-f]{16}$/;

function random32NonZero(): number {
  for (;;) {
    const n = randomBytes(4).readUInt32BE(0);
    if (n !== 0) return n;
  }
}

const hex8 = (n: number): string => n.toString(16).padStart(8, "0");

/** A new msgid: 8 lowercase hex digits, never 00000000. */
export function newMsgid(): string {
  return hex8(random32NonZero());
}

/** A new evpid for `msgid`: the msgid followed by 32 random bits (never all zero). */
export function newEvpid(msgid: string): string {
  if (!isMsgid(msgid)) throw new Error(`invalid msgid "${msgid}"`);
  return msgid + hex8(random32NonZero());
}

/** 8 lowercase hex digits, not all zero. */
export function isMsgid(s: string): boolean {
  return MSGID_RE.test(s) && s !== "00000000";
}

/** 16 lowercase hex digits whose msgid half is valid. */
export function isEvpid(s: string): boolean {
  return EVPID_RE.test(s) && isMsgid(s.slice(0, 8));
}

/** The msgid half of an evpid. */
export function msgidOf(evpid: string): string {
  return evpid.slice(0, 8);
}

/** The queue/ bucket of a message: msgid >> 24 as 2 hex digits. */
export function bucketOf(msgid: string): string {
  return msgid.slice(0, 2);
}
