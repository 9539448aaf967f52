// Record types and RDATA codecs: A, AAAA, NS, CNAME, PTR, MX, TXT, SOA, SRV, TLSA, OPT;
// anything else is kept raw (RFC 3597). Each decoder must consume exactly RDLENGTH octets.

import { DecodeError, EncodeError } from "./errors.js";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "./ip.js";
import type { Reader, Writer } from "./wire.js";

export const TYPES = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  TLSA: 52,
  ANY: 255,
} as const;
export type TypeName = keyof typeof TYPES;

export const CLASS_IN = 1;

export function typeCode(name: string): number | null {
  const up = name.toUpperCase();
  if (up in TYPES) return TYPES[up as TypeName];
  const m = /^TYPE([0-9]{1,5})$/.exec(up);
  if (m && Number(m[1]) <= 65535) return Number(m[1]);
  return null;
}

export function typeName(code: number): string {
  for (const [k, v] of Object.entries(TYPES)) if (v === code) return k;
  return `TYPE${code}`;
}

export type EdnsOption = { code: number; data: Buffer };

export type RecordData =
  | { type: "A"; address: string }
  | { type: "AAAA"; address: string }
  | { type: "NS"; host: string }
  | { type: "CNAME"; target: string }
  | { type: "PTR"; host: string }
  | { type: "MX"; preference: number; exchange: string }
  | { type: "TXT"; strings: Buffer[] }
  | {
      type: "SOA";
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    }
  | { type: "SRV"; priority: number; weight: number; port: number; target: string }
  | { type: "TLSA"; usage: number; selector: number; matchingType: number; data: Buffer }
  | { type: "OPT"; options: EdnsOption[] }
  | { type: "UNKNOWN"; code: number; raw: Buffer };

export function dataTypeCode(d: RecordData): number {
  return d.type === "UNKNOWN" ? d.code : TYPES[d.type];
}

/** Decodes RDATA of `type` spanning [r.pos, r.pos + len). */
export function decodeRdata(r: Reader, type: number, len: number): RecordData {
  const start = r.pos;
  const end = start + len;
  if (end > r.buf.length) throw new DecodeError("truncated rdata", start);
  const d = decodeBody(r, type, len, end);
  if (r.pos !== end) throw new DecodeError("rdata length mismatch", start);
  return d;
}

function decodeBody(r: Reader, type: number, len: number, end: number): RecordData {
  switch (type) {
    case TYPES.A:
      if (len !== 4) throw new DecodeError("A rdata is not 4 octets", r.pos);
      return { type: "A", address: formatIPv4(r.bytes(4)) };
    case TYPES.AAAA:
      if (len !== 16) throw new DecodeError("AAAA rdata is not 16 octets", r.pos);
      return { type: "AAAA", address: formatIPv6(r.bytes(16)) };
    case TYPES.NS:
      return { type: "NS", host: r.name() };
    case TYPES.CNAME:
      return { type: "CNAME", target: r.name() };
    case TYPES.PTR:
      return { type: "PTR", host: r.name() };
    case TYPES.MX:
      return { type: "MX", preference: r.u16(), exchange: r.name() };
    case TYPES.TXT: {
      const strings: Buffer[] = [];
      while (r.pos < end) strings.push(r.bytes(r.u8(), "character-string"));
      return { type: "TXT", strings };
    }
    case TYPES.SOA:
      return {
        type: "SOA",
        mname: r.name(),
        rname: r.name(),
        serial: r.u32(),
        refresh: r.u32(),
        retry: r.u32(),
        expire: r.u32(),
        minimum: r.u32(),
      };
    case TYPES.SRV:
      return { type: "SRV", priority: r.u16(), weight: r.u16(), port: r.u16(), target: r.name() };
    case TYPES.TLSA: {
      if (len < 3) throw new DecodeError("TLSA rdata too short", r.pos);
      return {
        type: "TLSA",
        usage: r.u8(),
        selector: r.u8(),
        matchingType: r.u8(),
        data: r.bytes(len - 3),
      };
    }
    case TYPES.OPT: {
      const options: EdnsOption[] = [];
      while (r.pos < end) {
        const code = r.u16("option code");
        options.push({ code, data: r.bytes(r.u16("option length"), "option data") });
      }
      return { type: "OPT", options };
    }
    default:
      return { type: "UNKNOWN", code: type, raw: r.bytes(len) };
  }
}

/** Encodes RDATA (without the length prefix). Names in RDATA are compressed only where RFC 3597 allows. */
export function encodeRdata(w: Writer, d: RecordData): void {
  switch (d.type) {
    case "A": {
      const b = parseIPv4(d.address);
      if (!b) throw new EncodeError(`bad IPv4 address: ${d.address}`);
      w.bytes(b);
      return;
    }
    case "AAAA": {
      const b = parseIPv6(d.address);
      if (!b) throw new EncodeError(`bad IPv6 address: ${d.address}`);
      w.bytes(b);
      return;
    }
    case "NS":
      w.name(d.host);
      return;
    case "CNAME":
      w.name(d.target);
      return;
    case "PTR":
      w.name(d.host);
      return;
    case "MX":
      w.u16(d.preference);
      w.name(d.exchange);
      return;
    case "TXT":
      for (const s of d.strings) {
        if (s.length > 255) throw new EncodeError("TXT character-string longer than 255 octets");
        w.u8(s.length);
        w.bytes(s);
      }
      return;
    case "SOA":
      w.name(d.mname);
      w.name(d.rname);
      for (const v of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) w.u32(v);
      return;
    case "SRV":
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      w.name(d.target, true);
      return;
    case "TLSA":
      w.u8(d.usage);
      w.u8(d.selector);
      w.u8(d.matchingType);
      w.bytes(d.data);
      return;
    case "OPT":
      for (const o of d.options) {
        w.u16(o.code);
        w.u16(o.data.length);
        w.bytes(o.data);
      }
      return;
    case "UNKNOWN":
      w.bytes(d.raw);
      return;
  }
}

/** Presentation-ish text of RDATA, for the CLI and logs. */
export function rdataText(d: RecordData): string {
  switch (d.type) {
    case "A":
    case "AAAA":
      return d.address;
    case "NS":
    case "PTR":
      return d.host;
    case "CNAME":
      return d.target;
    case "MX":
      return `${d.preference} ${d.exchange}`;
    case "TXT":
      return d.strings.map((s) => JSON.stringify(s.toString("latin1"))).join(" ");
    case "SOA":
      return `${d.mname} ${d.rname} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    case "SRV":
      return `${d.priority} ${d.weight} ${d.port} ${d.target}`;
    case "TLSA":
      return `${d.usage} ${d.selector} ${d.matchingType} ${d.data.toString("hex")}`;
    case "OPT":
      return d.options.map((o) => `${o.code}:${o.data.toString("hex")}`).join(" ");
    case "UNKNOWN":
      return `\\# ${d.raw.length} ${d.raw.toString("hex")}`;
  }
}
