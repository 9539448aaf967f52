// The privileged parent (`smtpd`): checks the config, prepares the spool, starts the roles
// with reduced credentials, routes their messages, binds listeners for the dispatcher,
// reaps children. It never parses network input.
import { type ChildProcess, fork } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:net";
import { hostname as osHostname, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { getpwnam, type PlatformFacts, platformFacts } from "@facteur/compat";
import type { SmtpdArgs } from "../cli/smtpd.js";
import type { Config } from "../config/ast.js";
import { formatDiagnostic } from "../config/errors.js";
import { loadConfig } from "../config/load.js";
import { buildModel, type Model } from "../config/model.js";
import { printConfig } from "../config/printer.js";
import { type Frame, IPC_VERSION, isFrame, type Requests } from "../ipc/messages.js";
import { log, setLogVerbose } from "../log.js";
import { SPOOL_DIRS } from "../queue/fs-backend.js";
import { DeliveryPool } from "./delivery-pool.js";
import { type Bound, bindListener, bindUnixSocket } from "./listeners.js";
import { OFFLINE_DIR_MODE, pickupOffline } from "./offline.js";

const CHILD_ROLES = ["queue", "lookup", "dispatcher", "control"] as const;
type ChildRole = (typeof CHILD_ROLES)[number];
const START_TIMEOUT_MS = 15_000;

function mailname(facts: PlatformFacts): string {
  try {
    const n = readFileSync(facts.mailnameFile, "utf8").trim();
    if (n !== "") return n;
  } catch {
    // no mailname: the host name
  }
  return osHostname();
}

/** Refuse to start twice: a pid file whose process is alive. */
function claimPidFile(path: string): string | null {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
        return `already running (pid ${pid})`;
      } catch {
        // stale
      }
    }
  } catch {
    // none
  }
  writeFileSync(path, `${process.pid}\n`);
  return null;
}

function bindControlSocket(path: string): Promise<Server> {
  return bindUnixSocket(path, 0o600);
}

/** Certificates and keys of every pki, and the ca certificates, read as root. */
function readPkiMaterial(
  model: Model,
  config: Config,
): { pki: Record<string, { cert: string; key: string }>; ca: Record<string, string> } {
  const pki: Record<string, { cert: string; key: string }> = {};
  const ca: Record<string, string> = {};
  for (const [name, p] of model.pkis) {
    if (p.cert !== null && p.key !== null)
      pki[name] = { cert: readFileSync(p.cert, "utf8"), key: readFileSync(p.key, "utf8") };
  }
  for (const d of config.directives) if (d.kind === "ca") ca[d.name] = readFileSync(d.cert, "utf8");
  return { pki, ca };
}

/** The listeners as a comparable text: a reload cannot change them (they are bound). */
const listenerKey = (m: Model) => JSON.stringify(m.listeners);

interface Child {
  readonly role: ChildRole;
  readonly proc: ChildProcess;
  hello: boolean;
  ready: boolean;
}

export async function runParent(args: SmtpdArgs): Promise<number> {
  setLogVerbose(args.verbose);
  const facts = platformFacts(args.root !== null ? { root: args.root } : {});
  const configFile = args.file ?? facts.configPath;
  const loaded = await loadConfig(configFile, {
    defines: args.defines,
    syntaxOnly: false,
    libexecDir: facts.libexecDir,
  });
  if ("error" in loaded) {
    process.stderr.write(`smtpd: ${loaded.error}\n`);
    return 1;
  }
  for (const d of loaded.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
  if (!loaded.ok) return 1;
  // The roles get the configuration in canonical form: included files in place, macros
  // expanded (it reads back to the same configuration), so they never read files themselves.
  let configText = printConfig(loaded.result.config);
  const parsed = loaded.result;
  const hostname = mailname(facts);
  let model = buildModel(parsed.config, hostname);

  const isRoot = process.getuid?.() === 0;
  for (const d of [
    args.root,
    facts.spoolDir,
    dirname(facts.controlSocket),
    dirname(facts.pidFile),
  ]) {
    if (d !== null) mkdirSync(d, { recursive: true, mode: 0o711 });
  }
  const ids = (user: string) => {
    if (!isRoot) return {};
    const pw = getpwnam(user);
    if (pw === null) throw new Error(`unknown user ${user}: create it (see smtpd(8))`);
    return { uid: pw.uid, gid: pw.gid };
  };
  let roleIds: Record<ChildRole, { uid?: number; gid?: number }>;
  try {
    const smtpd = ids(facts.smtpdUser);
    const smtpq = ids(facts.smtpqUser);
    roleIds = { queue: smtpq, lookup: smtpd, dispatcher: smtpd, control: smtpd };
    // The spool is root's (0711); what is inside belongs to the queue user alone.
    if (isRoot && smtpq.uid !== undefined) {
      chownSync(facts.spoolDir, 0, 0);
      chmodSync(facts.spoolDir, 0o711);
      for (const [name, mode] of SPOOL_DIRS) {
        const dir = join(facts.spoolDir, name);
        mkdirSync(dir, { recursive: true, mode });
        // offline/ is root:<queue group> 3733: any user drops files, none lists them.
        if (name === "offline") {
          chownSync(dir, 0, smtpq.gid ?? 0);
          chmodSync(dir, OFFLINE_DIR_MODE);
        } else {
          chownSync(dir, smtpq.uid, smtpq.gid ?? 0);
          chmodSync(dir, mode);
        }
      }
    }
  } catch (e) {
    log("crit", (e as Error).message);
    return 1;
  }
  // Private keys are read here, as root, and handed to the dispatcher only (TLS in Node
  // cannot delegate signing to another process; documented in smtpd(8)).
  let pki: Record<string, { cert: string; key: string }>;
  let ca: Record<string, string>;
  try {
    ({ pki, ca } = readPkiMaterial(model, parsed.config));
  } catch (e) {
    log("crit", `cannot read pki material: ${(e as Error).message}`);
    return 1;
  }

  const pidError = claimPidFile(facts.pidFile);
  if (pidError !== null) {
    log("crit", `smtpd: ${pidError}`);
    return 1;
  }

  // The control socket is bound here, as root, and only root may use it (0600).
  let control: Server;
  try {
    control = await bindControlSocket(facts.controlSocket);
    // Until the control role has the socket, the parent answers (rather than leave smtpctl
    // waiting for its own timeout on a connection nobody reads).
    control.on("connection", (s) =>
      s.end(`${JSON.stringify({ ok: false, text: "smtpd is starting, try again\n" })}\n`),
    );
  } catch (e) {
    log("crit", `cannot bind control socket ${facts.controlSocket}: ${(e as Error).message}`);
    rmSync(facts.pidFile, { force: true });
    return 1;
  }

  // mbox deliveries: /var/mail, or a world-writable sticky directory under --root for tests.
  let mboxDir = "/var/mail";
  if (args.root !== null) {
    mboxDir = join(args.root, "mail");
    mkdirSync(mboxDir, { recursive: true });
    chmodSync(mboxDir, 0o1777);
  }
  const pool = new DeliveryPool({
    entry: process.argv[1]!,
    mboxDir,
    mailname: hostname,
    subAddrDelim: model.subAddrDelim,
    verbose: args.verbose,
  });

  log("info", `Facteur smtpd starting (pid ${process.pid})`);
  const children = new Map<ChildRole, Child>();
  const bound: Bound[] = [];
  let stopping = false;
  let exitCode = 0;
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => {
    resolveDone = r;
  });

  const stop = (code: number, why: string) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log(code === 0 ? "info" : "warn", why);
    for (const b of bound) b.server.close();
    pool.stop();
    for (const c of children.values()) {
      if (c.proc.exitCode === null && c.proc.connected)
        c.proc.send({ t: "note", from: "parent", to: c.role, kind: "parent.stop", body: {} });
    }
    const killTimer = setTimeout(() => {
      for (const c of children.values()) if (c.proc.exitCode === null) c.proc.kill("SIGKILL");
    }, 5000);
    killTimer.unref();
    const check = () => {
      if (
        [...children.values()].every((c) => c.proc.exitCode !== null || c.proc.signalCode !== null)
      ) {
        clearTimeout(killTimer);
        for (const p of [facts.pidFile, facts.controlSocket, facts.enqueueSocket])
          rmSync(p, { force: true });
        resolveDone(exitCode);
      }
    };
    for (const c of children.values()) c.proc.once("exit", check);
    check();
  };

  const route = (from: Child, f: Frame, handle: unknown) => {
    if (f.from !== from.role) return; // a role may not speak for another
    if (f.to === "parent") return onParentFrame(from, f);
    const target = children.get(f.to as ChildRole);
    if (target?.proc.connected) target.proc.send(f, handle as never);
  };

  const onParentFrame = (from: Child, f: Frame) => {
    /** The answer to request `f` (the child may be gone: see the "error" handler). */
    const reply = (body: unknown) => {
      if (f.t === "req")
        from.proc.send({ t: "res", from: "parent", to: from.role, id: f.id, ok: true, body });
    };
    if (f.t === "note" && f.kind === "role.hello") {
      const body = f.body as { version: number };
      if (body.version !== IPC_VERSION) {
        stop(1, `${from.role}: IPC version ${body.version}, expected ${IPC_VERSION}`);
        return;
      }
      from.hello = true;
      if ([...children.values()].every((c) => c.hello)) startRoles();
    } else if (f.t === "note" && f.kind === "role.ready") {
      from.ready = true;
      if ([...children.values()].every((c) => c.ready)) {
        // -P: paused before the scheduler starts and before the listeners open.
        for (const what of args.paused) setPaused(what, true, () => undefined);
        for (const c of children.values())
          c.proc.send({ t: "note", from: "parent", to: c.role, kind: "parent.ready", body: {} });
        void openListeners();
      }
    } else if (f.t === "req" && f.kind === "parent.status") {
      const st = (p: boolean) => (p ? "paused" : "running");
      reply({ mda: st(paused.mda), mta: st(paused.mta), smtp: st(paused.smtp) });
    } else if (f.t === "req" && f.kind === "parent.pause" && from.role === "control") {
      const { what, paused: p } = f.body as Requests["parent.pause"]["req"];
      setPaused(what, p, () => reply({ ok: true }));
    } else if (f.t === "res" && pendingParent.has(f.id)) {
      pendingParent.get(f.id)!();
      pendingParent.delete(f.id);
    } else if (f.t === "req" && f.kind === "parent.log" && from.role === "control") {
      const { verbose } = f.body as Requests["parent.log"]["req"];
      setLogVerbose(verbose);
      for (const c of children.values())
        c.proc.send({
          t: "note",
          from: "parent",
          to: c.role,
          kind: "parent.log-level",
          body: { verbose },
        });
      reply({ ok: true });
    } else if (f.t === "req" && f.kind === "parent.reload" && from.role === "control") {
      void reload().then(reply);
    } else if (f.t === "req" && f.kind === "parent.forward" && from.role === "lookup") {
      pool
        .readForward((f.body as Requests["parent.forward"]["req"]).user)
        .then(reply, (e: unknown) => reply({ kind: "tempfail", reason: String(e) }));
    } else if (f.t === "req" && f.kind === "parent.deliver" && from.role === "queue") {
      pool
        .deliver(f.body as Requests["parent.deliver"]["req"])
        .then(reply, (e: unknown) => reply({ result: "tempfail", text: String(e) }));
    } else if (f.t === "req") {
      from.proc.send({
        t: "res",
        from: "parent",
        to: from.role,
        id: f.id,
        ok: false,
        body: `parent: no handler for ${f.kind}`,
      });
    }
  };

  const paused = { mda: false, mta: false, smtp: false };
  const pendingParent = new Map<number, () => void>();
  let nextParentId = -1; // parent-originated request ids are negative: answers come back here

  /** `smtpctl pause|resume mda|mta|smtp` and `smtpd -P`: tells the role that does the work. */
  const setPaused = (what: "mda" | "mta" | "smtp", p: boolean, done: () => void) => {
    paused[what] = p;
    const id = nextParentId--;
    pendingParent.set(id, done);
    children.get(what === "smtp" ? "dispatcher" : "queue")?.proc.send(
      what === "smtp"
        ? {
            t: "req",
            from: "parent",
            to: "dispatcher",
            id,
            kind: "dispatcher.pause",
            body: { paused: p },
          }
        : {
            t: "req",
            from: "parent",
            to: "queue",
            id,
            kind: "queue.control",
            body: { op: p ? "pause" : "resume", target: what },
          },
    );
  };

  /** SIGHUP and `smtpctl reload`: check the new configuration fully; apply it only if valid. */
  let reloading: Promise<{ ok: boolean; text: string }> | null = null;
  const reload = (): Promise<{ ok: boolean; text: string }> => {
    reloading ??= doReload().finally(() => {
      reloading = null;
    });
    return reloading;
  };
  const doReload = async (): Promise<{ ok: boolean; text: string }> => {
    const next = await loadConfig(configFile, {
      defines: args.defines,
      syntaxOnly: false,
      libexecDir: facts.libexecDir,
    });
    if ("error" in next) return refused(next.error);
    if (!next.ok) return refused(next.diagnostics.map((d) => formatDiagnostic(d)).join("\n"));
    const nextModel = buildModel(next.result.config, hostname);
    if (listenerKey(nextModel) !== listenerKey(model))
      return refused("listen directives changed: restart smtpd to apply them");
    let material: ReturnType<typeof readPkiMaterial>;
    try {
      material = readPkiMaterial(nextModel, next.result.config);
    } catch (e) {
      return refused(`cannot read pki material: ${(e as Error).message}`);
    }
    configText = printConfig(next.result.config);
    model = nextModel;
    pki = material.pki;
    ca = material.ca;
    for (const c of children.values())
      c.proc.send({
        t: "note",
        from: "parent",
        to: c.role,
        kind: "parent.reload",
        body: {
          configText,
          pki: c.role === "dispatcher" ? pki : {},
          ca: c.role === "dispatcher" ? ca : {},
        },
      });
    log("info", "configuration reloaded");
    return { ok: true, text: "configuration reloaded\n" };
  };
  const refused = (why: string) => {
    log("warn", `reload refused, the running configuration stays: ${why}`);
    return { ok: false, text: `reload refused, the running configuration stays:\n${why}\n` };
  };

  const startRoles = () => {
    for (const c of children.values()) {
      c.proc.send({
        t: "note",
        from: "parent",
        to: c.role,
        kind: "parent.start",
        body: {
          role: c.role,
          configText,
          configFile,
          hostname,
          spoolDir: facts.spoolDir,
          controlSocket: facts.controlSocket,
          smtpdUser: isRoot ? facts.smtpdUser : userInfo().username,
          verbose: args.verbose,
          defines: args.defines,
          pki: c.role === "dispatcher" ? pki : {},
          ca: c.role === "dispatcher" ? ca : {},
        },
      });
      if (c.role === "control")
        c.proc.send(
          { t: "note", from: "parent", to: "control", kind: "parent.control", body: {} },
          control,
          () => control.close(),
        );
    }
  };

  const openListeners = async () => {
    try {
      for (const l of model.listeners) bound.push(...(await bindListener(l, facts.enqueueSocket)));
    } catch (e) {
      stop(1, `cannot bind listener: ${(e as Error).message}`);
      return;
    }
    const dispatcher = children.get("dispatcher")!;
    for (const b of bound) {
      dispatcher.proc.send(
        {
          t: "note",
          from: "parent",
          to: "dispatcher",
          kind: "parent.listen",
          body: { listener: b.listener },
        },
        b.server,
        () => b.server.close(),
      );
      log("info", `listening on ${b.address}`);
    }
    log("info", "smtpd ready");
    // Mail that sendmail wrote to offline/ while smtpd was down (OpenSMTPD does this at start).
    void pickupOffline({
      spoolDir: facts.spoolDir,
      root: args.root,
      entry,
      queueGid: roleIds.queue.gid ?? null,
    });
  };

  const entry = process.argv[1]!;
  for (const role of CHILD_ROLES) {
    const proc = fork(entry, ["-x", role, ...(args.verbose ? ["-v"] : [])], {
      ...roleIds[role],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    // A message to a child that has just exited (during a stop, or before "exit" is seen)
    // fails with ERR_IPC_CHANNEL_CLOSED: the child's exit is handled on its own; never crash.
    proc.on("error", (e) => log("debug", `${role}: ${e.message}`));
    const c: Child = { role, proc, hello: false, ready: false };
    children.set(role, c);
    proc.on("message", (m: unknown, handle: unknown) => {
      if (isFrame(m)) route(c, m, handle);
    });
    proc.on("exit", (code, signal) => {
      if (!stopping)
        stop(1, `lost child: ${role} exited abnormally (${signal ?? `status ${code}`})`);
    });
  }
  const startTimer = setTimeout(() => {
    if (![...children.values()].every((c) => c.ready)) stop(1, "roles did not start in time");
  }, START_TIMEOUT_MS);
  startTimer.unref();

  process.on("SIGTERM", () => stop(0, "received SIGTERM, shutting down"));
  process.on("SIGINT", () => stop(0, "received SIGINT, shutting down"));
  process.on("SIGHUP", () => {
    log("info", "received SIGHUP, reloading the configuration");
    void reload();
  });
  return done;
}
