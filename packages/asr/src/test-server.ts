// A scripted DNS server in Node for tests and the bed: UDP and TCP on one loopback port,
// answering from a small record map, with per-name misbehaviour (drops, slow answers,
// wrong IDs or questions, junk, truncation, SERVFAIL, REFUSED, AD from an untrusted server).

import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Socket, type Server as TcpServer } from "node:net";
import {
  decodeMessage,
  encodeMessage,
  type Message,
  NO_FLAGS,
  RCODES,
  type ResourceRecord,
} from "./codec.js";
import { canonicalName } from "./names.js";
import { CLASS_IN, dataTypeCode, type RecordData } from "./rdata.js";

export type Zone = Record<string, RecordData[]>;

export type Action =
  | { kind: "answer"; message: Message; delayMs?: number; before?: Buffer[] }
  | { kind: "drop" }
  | { kind: "raw"; data: Buffer }
  | { kind: "close" }
  /** Over TCP: the framed reply written one octet per write. */
  | { kind: "trickle"; message: Message };

export type Handler = (q: Message, via: "udp" | "tcp") => Action;

export type TestServer = {
  address: string;
  port: number;
  queries: { name: string; type: number; via: string }[];
  close(): Promise<void>;
};

/** Builds a reply to `q`; records from `zone` (names are canonical, CNAMEs followed once). */
export function reply(q: Message, zone: Zone, extra: Partial<Message> = {}): Message {
  const question = q.questions[0];
  const answers: ResourceRecord[] = [];
  let rcode: number = RCODES.NOERROR;
  if (question) {
    let name = canonicalName(question.name);
    for (let hop = 0; hop < 8; hop++) {
      const rrs = zone[name];
      if (!rrs) {
        rcode = RCODES.NXDOMAIN;
        break;
      }
      const match = rrs.filter((d) => dataTypeCode(d) === question.type);
      const cname = rrs.find((d) => d.type === "CNAME");
      for (const d of match) answers.push({ name, class: CLASS_IN, ttl: 60, data: d });
      if (match.length > 0 || !cname || cname.type !== "CNAME") break;
      answers.push({ name, class: CLASS_IN, ttl: 60, data: cname });
      name = canonicalName(cname.target);
    }
  }
  return {
    id: q.id,
    opcode: 0,
    flags: { ...NO_FLAGS, qr: true, rd: q.flags.rd, ra: true },
    rcode,
    questions: q.questions,
    answers,
    authorities: [],
    additionals: [],
    edns: q.edns ? { udpSize: 1232, version: 0, dnssecOk: false, options: [] } : null,
    ...extra,
  };
}

function bytes(m: Message): Buffer {
  const e = encodeMessage(m);
  if (!e.ok) throw new Error(e.error);
  return e.value;
}

const frame = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);

export async function startTestServer(
  handler: Handler,
  address = "127.0.0.1",
): Promise<TestServer> {
  const queries: TestServer["queries"] = [];
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, f: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      f();
    }, ms);
    timers.add(t);
  };
  const tcp: TcpServer = createServer();
  const sockets = new Set<Socket>();
  await new Promise<void>((res, rej) => {
    tcp.once("error", rej);
    tcp.listen(0, address, () => res());
  });
  const addr = tcp.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  const udp: UdpSocket = createSocket(address.includes(":") ? "udp6" : "udp4");
  await new Promise<void>((res, rej) => {
    udp.once("error", rej);
    udp.bind(port, address, () => res());
  });
  const run = (
    raw: Buffer,
    via: "udp" | "tcp",
    send: (b: Buffer) => void,
    close: () => void,
    trickle: (b: Buffer) => void = send,
  ) => {
    const d = decodeMessage(raw);
    if (!d.ok) return;
    const q = d.value.questions[0];
    if (q) queries.push({ name: q.name, type: q.type, via });
    const a = handler(d.value, via);
    if (a.kind === "drop") return;
    if (a.kind === "close") return close();
    if (a.kind === "raw") return send(a.data);
    if (a.kind === "trickle") return trickle(bytes(a.message));
    for (const b of a.before ?? []) send(b);
    const out = bytes(a.message);
    if (a.delayMs) later(a.delayMs, () => send(out));
    else send(out);
  };
  udp.on("message", (raw, rinfo) => {
    run(
      raw,
      "udp",
      (b) => udp.send(b, rinfo.port, rinfo.address),
      () => {},
    );
  });
  tcp.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    let buf = Buffer.alloc(0);
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const trickle = (b: Buffer) => {
          const f = frame(b);
          for (let i = 0; i < f.length; i++)
            later(i, () => s.writable && s.write(f.subarray(i, i + 1)));
        };
        run(
          msg,
          "tcp",
          (b) => s.writable && s.write(frame(b)),
          () => s.destroy(),
          trickle,
        );
      }
    });
  });
  return {
    address,
    port,
    queries,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      udp.close();
      await new Promise<void>((res) => tcp.close(() => res()));
    },
  };
}

/** The misbehaving "quirk.test" server of the bed, also serving a plain zone. */
export function quirkHandler(zone: Zone): Handler {
  const A: RecordData = { type: "A", address: "127.0.0.77" };
  return (q, via) => {
    const name = canonicalName(q.questions[0]?.name ?? "");
    const label = name.endsWith(".quirk.test") ? name.slice(0, -".quirk.test".length) : "";
    const z: Zone = { ...zone, [name]: zone[name] ?? [A] };
    const ok = reply(q, label ? z : zone);
    switch (label) {
      case "drop":
        return { kind: "drop" };
      case "slow":
        return { kind: "answer", message: ok, delayMs: 1500 };
      case "badid":
        return {
          kind: "answer",
          message: ok,
          before: [bytes({ ...ok, id: (ok.id + 1) & 0xffff })],
        };
      case "badname":
        return {
          kind: "answer",
          message: ok,
          before: [
            bytes({
              ...ok,
              questions: [{ name: "evil.test", type: q.questions[0]?.type ?? 1, class: 1 }],
            }),
          ],
        };
      case "garbage":
        return { kind: "answer", message: ok, before: [Buffer.from("\x00\x01garbage\xff\xff")] };
      case "tc":
        return via === "udp"
          ? { kind: "answer", message: { ...ok, answers: [], flags: { ...ok.flags, tc: true } } }
          : { kind: "answer", message: ok };
      case "tcsplit":
        return via === "udp"
          ? { kind: "answer", message: { ...ok, answers: [], flags: { ...ok.flags, tc: true } } }
          : { kind: "trickle", message: ok };
      case "tcfail":
        return via === "udp"
          ? { kind: "answer", message: { ...ok, answers: [], flags: { ...ok.flags, tc: true } } }
          : { kind: "close" };
      case "servfail":
        return { kind: "answer", message: { ...ok, answers: [], rcode: RCODES.SERVFAIL } };
      case "refused":
        return { kind: "answer", message: { ...ok, answers: [], rcode: RCODES.REFUSED } };
      case "ad":
        return { kind: "answer", message: { ...ok, flags: { ...ok.flags, ad: true } } };
      case "ednsformerr":
        return q.edns
          ? { kind: "answer", message: { ...ok, answers: [], edns: null, rcode: RCODES.FORMERR } }
          : { kind: "answer", message: ok };
      default:
        return { kind: "answer", message: ok };
    }
  };
}
