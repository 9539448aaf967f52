// The loop every table-* program of packages/extras runs: smtpd-tables(7) 0.1 over a byte
// stream (stdin/stdout, which smtpd makes one socketpair), calling a TableBackend.
// serveTable is stream-generic for tests; runTableProgram wires it to the process.

import type { Writable } from "node:stream";
import { LineReader } from "./line-reader.js";
import {
  type CheckResult,
  type FetchResult,
  formatReply,
  Handshake,
  isTableService,
  type LookupResult,
  parseRequest,
  registerLines,
  type TableConfig,
  type TableReply,
  type TableRequest,
  type TableService,
  type UpdateResult,
} from "./table-protocol.js";

type Awaitable<T> = T | Promise<T>;

/** A table backend: the services it registers and what it answers. An operation left out is
 * answered with `error|<op> not supported`; a thrown exception with `error|internal error`. */
export interface TableBackend {
  readonly services: readonly TableService[];
  update?(): Awaitable<UpdateResult>;
  check?(service: TableService, key: string): Awaitable<CheckResult>;
  lookup?(service: TableService, key: string): Awaitable<LookupResult>;
  fetch?(service: TableService): Awaitable<FetchResult>;
}

export type ServeOutcome =
  /** smtpd closed its end: the normal way a table ends. */
  | { readonly kind: "eof"; readonly requests: number }
  /** A line the protocol does not allow; the caller reports it and exits non-zero. */
  | { readonly kind: "violation"; readonly reason: string };

export interface ServeOptions {
  readonly input: AsyncIterable<Uint8Array | string>;
  readonly output: Writable;
  /** Warnings for the log (stderr in a table program). */
  readonly log?: (message: string) => void;
  readonly maxLineBytes?: number;
  /** Called once the handshake is done, with what smtpd said in it. */
  readonly onReady?: (config: TableConfig) => void;
}

/**
 * Runs the protocol until the input ends or breaks it. Requests are answered one at a time in
 * the order they came, so an update is seen by every later request; smtpd itself waits for
 * each reply, and a pipelining peer still gets one reply per request, matched by id.
 */
export async function serveTable(backend: TableBackend, opts: ServeOptions): Promise<ServeOutcome> {
  const log = opts.log ?? (() => {});
  const reader = new LineReader(opts.maxLineBytes);
  const handshake = new Handshake();
  let config: TableConfig | undefined;
  let requests = 0;

  for await (const chunk of opts.input) {
    const split = reader.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk);
    for (const line of split.lines) {
      if (config === undefined) {
        const step = handshake.accept(line);
        if (step.kind === "violation") return step;
        if (step.kind === "ready") {
          config = step.config;
          opts.onReady?.(config);
          await writeLines(opts.output, registerLines(backend.services));
        }
        continue;
      }
      const parsed = parseRequest(line);
      if (parsed.kind === "violation") return parsed;
      requests++;
      const reply = await answer(backend, parsed.request, log);
      await writeLines(opts.output, [formatReply(reply)]);
    }
    if (split.kind === "too-long") {
      return { kind: "violation", reason: `line longer than ${split.limitBytes} bytes` };
    }
  }
  if (reader.pendingBytes > 0)
    log(`input ended inside a line (${reader.pendingBytes} bytes dropped)`);
  if (config === undefined) {
    return {
      kind: "violation",
      reason: "input ended before the handshake finished (no config|ready)",
    };
  }
  return { kind: "eof", requests };
}

/** Answers one request through the backend. Never throws: a failing backend is an error
 * reply, logged without the key (an auth key holds a cleartext password). */
export async function answer(
  backend: TableBackend,
  req: TableRequest,
  log: (message: string) => void = () => {},
): Promise<TableReply> {
  const fail = (message: string) => ({ kind: "error", message }) as const;
  try {
    if (req.op === "update") {
      return {
        op: "update",
        id: req.id,
        result: backend.update ? await backend.update() : { kind: "ok" },
      };
    }
    const service = req.service;
    let refused: string | undefined;
    if (!isTableService(service)) refused = `unknown service ${service}`;
    else if (!backend.services.includes(service)) refused = `service ${service} not registered`;
    else if (backend[req.op] === undefined) refused = `${req.op} not supported`;
    if (refused !== undefined || !isTableService(service)) {
      const result = fail(refused ?? "unknown service");
      return { op: req.op, id: req.id, result };
    }
    switch (req.op) {
      case "check":
        return { op: "check", id: req.id, result: await backend.check!(service, req.key) };
      case "lookup":
        return { op: "lookup", id: req.id, result: await backend.lookup!(service, req.key) };
      case "fetch":
        return { op: "fetch", id: req.id, result: await backend.fetch!(service) };
    }
  } catch (e) {
    const what = req.op === "update" ? "update" : `${req.op} ${req.service}`;
    log(`${what} failed: ${e instanceof Error ? e.message : String(e)}`);
    return { op: req.op, id: req.id, result: fail("internal error") } as TableReply;
  }
}

function writeLines(out: Writable, lines: readonly string[]): Promise<void> {
  const data = lines.map((l) => `${l}\n`).join("");
  return new Promise((resolve, reject) => {
    if (out.destroyed || out.writableEnded) {
      reject(new Error("output closed"));
      return;
    }
    out.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Runs a table program on stdin/stdout and exits: 0 when smtpd closes the stream, 1 after a
 * protocol violation or a fault, with one line on stderr saying why (never a stack trace).
 */
export async function runTableProgram(name: string, backend: TableBackend): Promise<never> {
  let label = name;
  const warn = (msg: string) => process.stderr.write(`${label}: ${msg}\n`);
  const die = (msg: string, code: number): never => {
    warn(msg);
    process.exit(code);
  };
  process.on("uncaughtException", (e) => die(`fatal: ${e.message}`, 1));
  process.on("unhandledRejection", (e) =>
    die(`fatal: ${e instanceof Error ? e.message : String(e)}`, 1),
  );
  // smtpd gone while we write: nothing left to answer.
  process.stdout.on("error", (e: NodeJS.ErrnoException) =>
    e.code === "EPIPE" ? process.exit(0) : die(`stdout: ${e.message}`, 1),
  );
  let outcome: ServeOutcome;
  try {
    outcome = await serveTable(backend, {
      input: process.stdin,
      output: process.stdout,
      log: (m) => warn(`warn: ${m}`),
      onReady: (config) => {
        if (config.tableName !== undefined) label = `${name}[${config.tableName}]`;
      },
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "EPIPE" || err.message === "output closed") process.exit(0);
    return die(`fatal: ${err.message}`, 1);
  }
  if (outcome.kind === "violation") return die(`protocol error: ${outcome.reason}`, 1);
  process.exit(0);
}
