// DNS message codec (RFC 1035 §4, EDNS0 per RFC 6891). decodeMessage never throws: malformed,
// truncated or trailing input gives an error value. Used by the resolver and the test servers.

import { DecodeError, EncodeError, fail, ok, type Result } from "./errors.js";
import { plainWireLength, writePlainName } from "./names.js";
import {
  CLASS_IN,
  dataTypeCode,
  decodeRdata,
  type EdnsOption,
  encodeRdata,
  type RecordData,
  TYPES,
} from "./rdata.js";
import { Reader, Writer } from "./wire.js";

export const RCODES = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADVERS: 16,
} as const;
export type RcodeName = keyof typeof RCODES;

const RCODE_NAMES: string[] = [];
for (const [k, v] of Object.entries(RCODES)) RCODE_NAMES[v] = k;

export function rcodeName(code: number): string {
  return RCODE_NAMES[code] ?? `RCODE${code}`;
}

export const OPCODE_QUERY = 0;

export type Question = { name: string; type: number; class: number };
export type ResourceRecord = { name: string; class: number; ttl: number; data: RecordData };
export type Edns = { udpSize: number; version: number; dnssecOk: boolean; options: EdnsOption[] };
export type Flags = {
  qr: boolean;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  z: boolean;
  ad: boolean;
  cd: boolean;
};

export type Message = {
  id: number;
  opcode: number;
  flags: Flags;
  /** Full rcode: the header's 4 bits plus the OPT record's extended bits. */
  rcode: number;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  /** Additional records other than OPT. */
  additionals: ResourceRecord[];
  edns: Edns | null;
};

export const NO_FLAGS: Flags = {
  qr: false,
  aa: false,
  tc: false,
  rd: false,
  ra: false,
  z: false,
  ad: false,
  cd: false,
};

function decode(buf: Buffer, qname: string | null): Message {
  const r = new Reader(buf);
  const id = r.u16("header");
  const f = r.u16("header");
  const qdcount = r.u16("header");
  const ancount = r.u16("header");
  const nscount = r.u16("header");
  const arcount = r.u16("header");
  const flags: Flags = {
    qr: (f & 0x8000) !== 0,
    aa: (f & 0x0400) !== 0,
    tc: (f & 0x0200) !== 0,
    rd: (f & 0x0100) !== 0,
    ra: (f & 0x0080) !== 0,
    z: (f & 0x0040) !== 0,
    ad: (f & 0x0020) !== 0,
    cd: (f & 0x0010) !== 0,
  };
  const questions: Question[] = [];
  for (let i = 0; i < qdcount; i++) {
    const name = i === 0 && qname !== null ? r.knownName(qname) : r.name();
    questions.push({ name, type: r.u16("qtype"), class: r.u16("qclass") });
  }
  const answers: ResourceRecord[] = [];
  const authorities: ResourceRecord[] = [];
  const additionals: ResourceRecord[] = [];
  let edns: Edns | null = null;
  let rcode = f & 0x0f;
  for (let s = 0; s < 3; s++) {
    const n = s === 0 ? ancount : s === 1 ? nscount : arcount;
    const out = s === 0 ? answers : s === 1 ? authorities : additionals;
    for (let i = 0; i < n; i++) {
      const at = r.pos;
      const name = r.name();
      const type = r.u16("type");
      const klass = r.u16("class");
      const ttl = r.u32("ttl");
      const data = decodeRdata(r, type, r.u16("rdlength"));
      if (type === TYPES.OPT) {
        // RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root.
        if (s !== 2 || edns !== null || name !== "." || data.type !== "OPT")
          throw new DecodeError("misplaced OPT record", at);
        edns = {
          udpSize: klass,
          version: (ttl >>> 16) & 0xff,
          dnssecOk: (ttl & 0x8000) !== 0,
          options: data.options,
        };
        rcode |= ((ttl >>> 24) & 0xff) << 4;
        continue;
      }
      out.push({ name, class: klass, ttl, data });
    }
  }
  if (r.pos !== buf.length) throw new DecodeError("trailing octets after last record", r.pos);
  return {
    id,
    opcode: (f >>> 11) & 0x0f,
    flags,
    rcode,
    questions,
    answers,
    authorities,
    additionals,
    edns,
  };
}

/** Decodes a whole message strictly. Never throws. */
export function decodeMessage(buf: Uint8Array): Result<Message> {
  return decodeReply(Buffer.isBuffer(buf) ? buf : Buffer.from(buf), null);
}

/**
 * decodeMessage for a reply whose first QNAME the caller has compared octet for octet with
 * the wire form of `qname`, a name without escapes (so its text is known without reading it).
 */
export function decodeReply(buf: Buffer, qname: string | null): Result<Message> {
  try {
    return ok(decode(buf, qname));
  } catch (e) {
    if (e instanceof DecodeError) return fail(e.message);
    return fail(`malformed message: ${String(e)}`);
  }
}

function writeRecord(
  w: Writer,
  rr: { name: string; type: number; class: number; ttl: number; data: RecordData },
): void {
  w.name(rr.name);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lenAt = w.pos;
  w.u16(0);
  encodeRdata(w, rr.data);
  const len = w.pos - lenAt - 2;
  if (len > 0xffff) throw new EncodeError("rdata longer than 65535 octets");
  w.setU16(lenAt, len);
}

function encode(m: Message): Buffer {
  const w = new Writer();
  w.u16(m.id);
  const f = m.flags;
  const bits =
    (f.qr ? 0x8000 : 0) |
    ((m.opcode & 0x0f) << 11) |
    (f.aa ? 0x0400 : 0) |
    (f.tc ? 0x0200 : 0) |
    (f.rd ? 0x0100 : 0) |
    (f.ra ? 0x0080 : 0) |
    (f.z ? 0x0040 : 0) |
    (f.ad ? 0x0020 : 0) |
    (f.cd ? 0x0010 : 0) |
    (m.rcode & 0x0f);
  if (m.rcode > 0x0f && !m.edns) throw new EncodeError("extended rcode needs EDNS");
  w.u16(bits);
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authorities.length);
  w.u16(m.additionals.length + (m.edns ? 1 : 0));
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of [...m.answers, ...m.authorities, ...m.additionals])
    writeRecord(w, { ...rr, type: dataTypeCode(rr.data) });
  if (m.edns) {
    const e = m.edns;
    const ttl =
      (((m.rcode >>> 4) & 0xff) << 24) | ((e.version & 0xff) << 16) | (e.dnssecOk ? 0x8000 : 0);
    writeRecord(w, {
      name: ".",
      type: TYPES.OPT,
      class: e.udpSize,
      ttl: ttl >>> 0,
      data: { type: "OPT", options: e.options },
    });
  }
  return w.result();
}

/** Encodes a message. Bad names, addresses or oversize data give an error value. */
export function encodeMessage(m: Message): Result<Buffer> {
  try {
    return ok(encode(m));
  } catch (e) {
    if (e instanceof EncodeError) return fail(e.message);
    throw e;
  }
}

export type QueryOptions = {
  id: number;
  name: string;
  type: number;
  klass?: number;
  rd?: boolean;
  ad?: boolean;
  cd?: boolean;
  /** EDNS0 UDP payload size; null sends no OPT record. */
  udpSize?: number | null;
  dnssecOk?: boolean;
};

/** A query message; the same octets as encodeMessage would give, written directly. */
export function buildQuery(q: QueryOptions): Result<Buffer> {
  const qlen = plainWireLength(q.name);
  if (qlen > 0) {
    const opt = q.udpSize ? 11 : 0;
    const b = Buffer.allocUnsafe(12 + qlen + 4 + opt);
    b.writeUInt16BE(q.id & 0xffff, 0);
    const rd = (q.rd ?? true) ? 0x0100 : 0;
    b.writeUInt16BE(rd | (q.ad ? 0x0020 : 0) | (q.cd ? 0x0010 : 0), 2);
    b.writeUInt32BE(0x00010000, 4); // QDCOUNT 1, ANCOUNT 0
    b.writeUInt32BE(opt ? 1 : 0, 8); // NSCOUNT 0, ARCOUNT
    writePlainName(q.name, qlen, b, 12);
    let at = 12 + qlen;
    b.writeUInt16BE(q.type & 0xffff, at);
    b.writeUInt16BE((q.klass ?? CLASS_IN) & 0xffff, at + 2);
    at += 4;
    if (q.udpSize) {
      // RFC 6891 §6.1.2: root owner, TYPE OPT, CLASS = payload size, TTL = ext-rcode/version/DO.
      b[at] = 0;
      b.writeUInt16BE(TYPES.OPT, at + 1);
      b.writeUInt16BE(q.udpSize & 0xffff, at + 3);
      b.writeUInt32BE(q.dnssecOk ? 0x8000 : 0, at + 5);
      b.writeUInt16BE(0, at + 9);
    }
    return ok(b);
  }
  return encodeMessage({
    id: q.id,
    opcode: OPCODE_QUERY,
    flags: { ...NO_FLAGS, rd: q.rd ?? true, ad: q.ad ?? false, cd: q.cd ?? false },
    rcode: 0,
    questions: [{ name: q.name, type: q.type, class: q.klass ?? CLASS_IN }],
    answers: [],
    authorities: [],
    additionals: [],
    edns: q.udpSize
      ? { udpSize: q.udpSize, version: 0, dnssecOk: q.dnssecOk ?? false, options: [] }
      : null,
  });
}

/** RFC 8914 Extended DNS Error, if the reply carries one. */
export function extendedError(m: Message): { infoCode: number; text: string } | null {
  const o = m.edns?.options.find((x) => x.code === 15);
  if (!o || o.data.length < 2) return null;
  return { infoCode: o.data.readUInt16BE(0), text: o.data.subarray(2).toString("utf8") };
}
