// The dispatcher role: the SMTP server side. Receives the listening sockets the parent bound,
// runs one SmtpSession per connection (the I/O-free core in ./smtp), and wires the session's
// ports to the lookup and queue roles. Runs as the unprivileged smtpd user.
import { randomBytes } from "node:crypto";
import type { Server, Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { getnameinfo, ResolverContext } from "@facteur/asr";
import type { ListenerModel, Model } from "../config/model.js";
import type { EnvelopeDraft, SessionFacts, WireReply } from "../ipc/messages.js";
import type { RoleEnv } from "../ipc/role-boot.js";
import { log } from "../log.js";
import { pathToString } from "../smtp/address.js";
import { formatReply, type Reply, replyText } from "../smtp/reply.js";
import { SmtpSession } from "./smtp/session.js";
import type {
  ConnectionFacts,
  ListenerFacts,
  Output,
  SessionPorts,
  SessionView,
  TransactionView,
} from "./smtp/types.js";
import { buildTlsContexts, type TlsContexts } from "./tls.js";

/** OpenSMTPD's SMTPD_SESSION_TIMEOUT: five minutes without a complete command. */
export const SESSION_TIMEOUT_MS = 300_000;
/** A reverse lookup that takes longer than this leaves the client without an rDNS name. */
const RDNS_TIMEOUT_MS = 10_000;
/** Sessions beyond this are answered 421 and closed (OpenSMTPD: max-sessions). */
const MAX_SESSIONS = 1024;

/** Log text from client bytes: printable ASCII only. */
const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, "?");

const tempfail = (text: string): Reply => ({ code: 451, esc: "4.3.0", lines: [text] });
const asReply = (w: WireReply): Reply => ({
  code: w.code,
  lines: w.lines,
  ...(w.esc !== undefined ? { esc: w.esc } : {}),
  ...(w.code === 421 ? { close: true as const } : {}),
});

export function listenerFacts(l: ListenerModel, model: Model): ListenerFacts {
  return {
    hostname: l.hostname,
    isLocal: l.ifx === null,
    port: l.port,
    tls: l.tls,
    authMode: l.authMode,
    dsn: l.dsn,
    maskSrc: l.maskSrc,
    receivedAuth: l.receivedAuth,
    tag: l.tag,
    maxMessageBytes: model.maxMessageBytes,
    maxRcpt: model.maxRcpt,
    maxMails: model.maxMails,
    subAddrDelim: model.subAddrDelim,
  };
}

/** One envelope per accepted recipient, as the queue stores them. */
export function envelopeDrafts(
  l: ListenerModel,
  conn: ConnectionFacts,
  tx: TransactionView,
): EnvelopeDraft[] {
  const s = tx.session;
  const sender = pathToString(tx.sender);
  return tx.recipients.map((r) => {
    const rcpt = pathToString(r.path);
    return {
      dispatcher: r.action,
      tag: l.tag ?? "",
      smtpname: l.hostname,
      helo: s.helo ?? "",
      hostname: conn.rdns ?? conn.remoteAddress,
      username: s.authUser ?? "",
      sockaddr: conn.remoteAddress,
      sender,
      rcpt,
      dest: r.dest ?? rcpt,
      authenticated: s.authUser !== null,
      dsnNotify: r.notify ?? [],
      dsnRet: tx.params.ret ?? "",
      dsnEnvid: tx.params.envid ?? "",
      dsnOrcpt: r.orcpt !== null ? `${r.orcpt.addrType};${r.orcpt.addr}` : "",
      smtputf8: tx.params.smtputf8,
      requiretls: tx.params.requireTls,
    };
  });
}

function sessionFacts(l: ListenerModel, s: SessionView): SessionFacts {
  return {
    listener: l.index,
    remoteAddress: s.conn.remoteAddress,
    rdns: s.conn.rdns,
    helo: s.helo,
    isSecure: s.isSecure,
    authUser: s.authUser,
    tag: l.tag,
    isLocal: l.ifx === null || /^(127\.|::1$|::ffff:127\.)/.test(s.conn.remoteAddress),
    isSocket: l.ifx === null,
  };
}

const tlsInfo = (t: TLSSocket): string => {
  const c = t.getCipher();
  const bits = (c as { bits?: number }).bits ?? 0;
  return `${t.getProtocol() ?? "TLS"}:${c.standardName ?? c.name}:${bits}`;
};

/** TLS contexts of every listener, from the pki material the parent read. */
function listenerTls(
  model: Model,
  pkiMaterial: Record<string, { cert: string; key: string }>,
  caMaterial: Record<string, string>,
): Map<number, TlsContexts> {
  const tls = new Map<number, TlsContexts>();
  for (const l of model.listeners) {
    if (l.tls === "none" && l.pkis.length === 0) continue;
    // Without `pki`, OpenSMTPD uses the pki named after the listener's hostname.
    const names = l.pkis.length > 0 ? l.pkis : [l.hostname.toLowerCase()];
    const pkis = names.flatMap((n) => {
      const m = pkiMaterial[n];
      return m !== undefined ? [{ name: n, cert: m.cert, key: m.key }] : [];
    });
    if (pkis.length === 0) {
      if (l.tls !== "none") throw new Error(`listener ${l.index}: TLS without a pki`);
      continue;
    }
    tls.set(
      l.index,
      buildTlsContexts(pkis, {
        ciphers: l.ciphers,
        protocols: l.protocols,
        // `ca` names are case-insensitive, as pki names are (config lowercases the declaration).
        caPem: l.ca !== null ? (caMaterial[l.ca.toLowerCase()] ?? caMaterial[l.ca] ?? null) : null,
        verify: l.tlsVerify,
      }),
    );
  }
  return tls;
}

export async function runDispatcher(env: RoleEnv): Promise<void> {
  const { channel, start } = env;
  // Replaced on reload: new sessions use the new listener facts, limits and certificates;
  // sessions in progress keep what they started with.
  let model = env.model;
  const resolver = new ResolverContext();
  const counters: Record<string, number> = {
    "smtp.session": 0,
    "smtp.session.inet4": 0,
    "smtp.session.inet6": 0,
    "smtp.session.local": 0,
    "smtp.tls": 0,
    "smtp.kick": 0,
  };
  let tls = listenerTls(model, start.pki, start.ca);
  env.onReload((next, update) => {
    const t = listenerTls(next, update.pki, update.ca);
    model = next;
    tls = t;
    log("info", "dispatcher: configuration reloaded");
  });
  let active = 0;
  // `smtpctl pause smtp`: new sessions get 421 until resumed (running ones go on).
  let paused = false;
  channel.handle("dispatcher.pause", (req) => {
    paused = req.paused;
    return { ok: true };
  });

  const rdnsOf = async (addr: string): Promise<string | null> => {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<null>((r) => {
      timer = setTimeout(() => r(null), RDNS_TIMEOUT_MS);
    });
    try {
      const r = await Promise.race([getnameinfo(resolver, addr, { nameRequired: true }), limit]);
      return r !== null && r.error === null ? r.host : null;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  };

  const accept = async (l: ListenerModel, raw: Socket): Promise<void> => {
    const isSocket = l.ifx === null;
    raw.on("error", () => raw.destroy());
    // serve() ends the connection itself after a half-close (a TLSSocket inherits this).
    raw.allowHalfOpen = true;
    if (paused) {
      raw.end(formatReply({ code: 421, esc: "4.3.2", lines: ["Service temporarily unavailable"] }));
      return;
    }
    if (active >= MAX_SESSIONS) {
      counters["smtp.kick"]!++;
      raw.end(formatReply({ code: 421, esc: "4.3.2", lines: ["Too many connections"] }));
      return;
    }
    active++;
    raw.once("close", () => active--);
    counters["smtp.session"]!++;
    const family = isSocket ? "local" : raw.remoteFamily === "IPv6" ? "inet6" : "inet4";
    counters[`smtp.session.${family}`]!++;
    const remoteAddress = isSocket ? "local" : (raw.remoteAddress ?? "unknown");
    const rdns = isSocket ? "localhost" : await rdnsOf(remoteAddress);
    if (raw.destroyed) return;
    const ctxs = tls.get(l.index);
    let sock: Socket = raw;
    let secure = false;
    let info: string | undefined;
    let verified = false;
    // OpenSMTPD's session id: every log line of the session starts with it.
    const tag = randomBytes(8).toString("hex");
    log("info", `${tag} smtp connected address=${remoteAddress} host=${rdns ?? remoteAddress}`);
    if (l.tls === "smtps") {
      if (ctxs === undefined) return void raw.destroy();
      const t = await handshake(raw, ctxs, l.tlsVerify, tag);
      if (t === null) return;
      sock = t;
      secure = true;
      info = tlsInfo(t);
      verified = peerVerifyError(t) === null;
      counters["smtp.tls"]!++;
      log("info", `${tag} smtp tls ciphers=${info}`);
    }
    const conn: ConnectionFacts = {
      remoteAddress,
      remotePort: raw.remotePort ?? 0,
      rdns,
      localAddress: raw.localAddress ?? "",
      isSecure: secure,
      ...(info !== undefined ? { tlsInfo: info, tlsVerified: verified } : {}),
    };
    const ports: SessionPorts = {
      authenticate: async (user, password) => {
        const { result } = await channel.request("lookup", "lookup.authenticate", {
          listener: l.index,
          user,
          password,
        });
        const shown = result === "ok" ? "ok" : result === "fail" ? "permfail" : "tempfail";
        log("info", `${tag} smtp authentication user=${printable(user)} result=${shown}`);
        return result;
      },
      checkSender: async (s, from) => {
        const r = await channel.request("lookup", "lookup.check-sender", {
          session: sessionFacts(l, s),
          sender: pathToString(from),
        });
        return r.kind === "ok" ? r : { kind: "reject", reply: asReply(r.reply) };
      },
      checkRecipient: async (s, rcpt, from) => {
        const r = await channel.request("lookup", "lookup.check-recipient", {
          session: sessionFacts(l, s),
          sender: pathToString(from),
          rcpt: pathToString(rcpt),
        });
        return r.kind === "ok"
          ? { kind: "ok", action: r.action, dest: r.dest }
          : { kind: "reject", reply: asReply(r.reply) };
      },
      openMessage: async () => {
        const r = await channel.request("queue", "queue.message-open", {});
        return r.kind === "ok"
          ? r
          : { kind: "tempfail", reply: tempfail("Temporary failure: queue unavailable") };
      },
      writeMessage: async (msgid, chunk) => {
        const r = await channel.request("queue", "queue.message-write", { msgid, chunk });
        if (r.kind !== "ok") throw new Error(`queue write: ${r.reason}`);
      },
      commitMessage: async (msgid, tx) => {
        const r = await channel.request("queue", "queue.message-commit", {
          msgid,
          envelopes: envelopeDrafts(l, conn, tx),
        });
        if (r.kind === "ok") {
          const from = printable(pathToString(tx.sender));
          const proto = tx.session.isEsmtp ? "ESMTP" : "SMTP";
          log(
            "info",
            `${tag} smtp message msgid=${msgid} size=${tx.messageBytes} nrcpt=${tx.recipients.length} proto=${proto}`,
          );
          tx.recipients.forEach((rc, i) => {
            const evpid = r.evpids?.[i] ?? msgid;
            log(
              "info",
              `${tag} smtp envelope evpid=${evpid} from=<${from}> to=<${printable(pathToString(rc.path))}>`,
            );
          });
          return { kind: "ok" };
        }
        log("warn", `${tag} msgid=${msgid} queue commit failed: ${r.reason}`);
        return { kind: "tempfail", reply: tempfail("Temporary failure: queue commit failed") };
      },
      abortMessage: async (msgid) => {
        await channel.request("queue", "queue.message-abort", { msgid });
      },
      log: (level, message) => log(level === "error" ? "warn" : level, `${tag} ${message}`),
      failedCommand: (command, reply) =>
        log(
          "info",
          `${tag} smtp failed-command command="${printable(command)}" result="${replyText(reply)}"`,
        ),
    };
    const session = new SmtpSession(listenerFacts(l, model), conn, ports);
    serve(session, sock, { ctxs, verify: l.tlsVerify, tag }, counters);
  };

  channel.handle("dispatcher.stats", () => ({ counters: { ...counters } }));
  channel.onNotice("parent.listen", ({ listener }, handle) => {
    const first = model.listeners[listener];
    const server = handle as Server | undefined;
    if (first === undefined || server === undefined || typeof server.on !== "function") {
      log("warn", `dispatcher: bad listener handle for ${listener}`);
      return;
    }
    server.on("connection", (s: Socket) => {
      // The listener as the current configuration describes it (a reload keeps its index).
      const l = model.listeners[listener] ?? first;
      accept(l, s).catch((e: unknown) => {
        log("warn", `dispatcher: session setup failed: ${(e as Error).message}`);
        s.destroy();
      });
    });
  });
}

/**
 * Why the client's certificate is not verified against the listener's `ca`, or null when it
 * is. Node fills `authorized` only on sockets a tls.Server made; ours wrap sockets by hand
 * (STARTTLS), so the check tls.Server does is done here, failing closed.
 */
function peerVerifyError(t: TLSSocket): string | null {
  if (t.getPeerX509Certificate() === undefined) return "no certificate";
  const h = (t as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof h?.verifyError !== "function") return "cannot check";
  const e = h.verifyError();
  return e === null ? null : ((e as Error & { code?: string }).code ?? e.message);
}

/**
 * Server side of a TLS handshake (SMTPS or after STARTTLS). With `verify` (`tls-require
 * verify`, `smtps verify`) a client certificate signed by the listener's `ca` is mandatory,
 * as libtls' tls_config_verify_client() makes it in OpenSMTPD: without one the handshake
 * fails and the connection is closed.
 */
function handshake(
  raw: Socket,
  ctxs: TlsContexts,
  verify: boolean,
  tag: string,
): Promise<TLSSocket | null> {
  return new Promise((resolve) => {
    raw.removeAllListeners("data");
    const t = new TLSSocket(raw, {
      isServer: true,
      secureContext: ctxs.defaultContext,
      SNICallback: ctxs.sniCallback,
      requestCert: verify,
      rejectUnauthorized: verify,
    });
    const timer = setTimeout(() => {
      t.destroy();
      resolve(null);
    }, SESSION_TIMEOUT_MS);
    t.once("secure", () => {
      clearTimeout(timer);
      const why = peerVerifyError(t);
      if (verify && why !== null) {
        log("info", `${tag} TLS client certificate refused: ${why}`);
        t.destroy();
        return resolve(null);
      }
      resolve(t);
    });
    t.once("error", (e: Error) => {
      clearTimeout(timer);
      log("info", `${tag} TLS handshake failed: ${e.message}`);
      t.destroy();
      resolve(null);
    });
    raw.resume();
  });
}

/** The I/O loop of one session: bytes in, outputs out, with backpressure both ways. */
function serve(
  session: SmtpSession,
  first: Socket,
  tlsOpts: { ctxs: TlsContexts | undefined; verify: boolean; tag: string },
  counters: Record<string, number>,
): void {
  const { ctxs, verify, tag } = tlsOpts;
  let sock = first;
  let closed = false;
  const finish = (reason: string) => {
    if (closed) return;
    closed = true;
    log("info", `${tag} smtp disconnected reason=${reason}`);
    void session.disconnected();
  };
  const write = (r: Reply) => {
    if (!sock.destroyed) sock.write(formatReply(r));
  };
  let reason = "disconnect";
  const run = async (outs: Output[]) => {
    for (const o of outs) {
      if (o.kind === "reply") {
        write(o.reply);
        if (o.reply.code === 221) reason = "quit";
        else if (o.reply.code === 421) reason = o.reply.esc === "4.4.2" ? "timeout" : "error";
      } else if (o.kind === "close") {
        sock.end();
        finish(reason);
        return;
      } else if (o.kind === "starttls") {
        if (ctxs === undefined) {
          sock.end();
          finish("error");
          return;
        }
        const t = await handshake(sock, ctxs, verify, tag);
        if (t === null) {
          finish("tls-error");
          return;
        }
        counters["smtp.tls"]!++;
        log("info", `${tag} smtp tls ciphers=${tlsInfo(t)}`);
        session.tlsEstablished(tlsInfo(t), peerVerifyError(t) === null);
        attach(t);
        return;
      }
    }
    if (!closed) sock.resume();
  };
  // The last chunk's processing; a half-close waits for it.
  let pending: Promise<void> = Promise.resolve();
  const attach = (s: Socket) => {
    sock = s;
    s.setTimeout(SESSION_TIMEOUT_MS, () => {
      void run(session.timeout());
    });
    s.on("data", (buf: Buffer) => {
      s.pause();
      pending = session.feed(buf).then(run, () => {
        s.destroy();
        finish("error");
      });
    });
    // A client that half-closes after its last command (`nc -N`, scripts) still gets the
    // replies to what it sent, then the connection is closed, as Postfix does. Anything
    // unfinished (a message without its final dot) is dropped by finish().
    s.on("end", () => {
      void pending.then(() => {
        if (closed || sock !== s) return;
        s.end();
        finish("disconnect");
      });
    });
    s.on("close", () => finish("disconnect"));
    s.on("error", () => s.destroy());
  };
  attach(first);
  write(session.greeting());
  first.resume();
}
