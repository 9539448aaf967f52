// smtpd-tables(7) protocol 0.1, the table side, I/O-free: handshake, request parsing, reply
// formatting (and reply parsing, for the smtpd side and tests). Used by every table-* program
// of packages/extras through table-server.ts; man/smtpd-tables.7 is the specification.

/** The one protocol version this library speaks (smtpd-tables(7), OpenSMTPD 7.6 and later). */
export const TABLE_PROTOCOL_VERSION = "0.1";

/** Every service name smtpd may register or query (table.5, smtpd-tables(7), 7.6+). */
export const TABLE_SERVICES = [
  "alias",
  "domain",
  "credentials",
  "netaddr",
  "userinfo",
  "source",
  "mailaddr",
  "addrname",
  "mailaddrmap",
  "relayhost",
  "string",
  "regex",
  "auth",
] as const;
export type TableService = (typeof TABLE_SERVICES)[number];

export const isTableService = (s: string): s is TableService =>
  (TABLE_SERVICES as readonly string[]).includes(s);

export type TableOperation = "update" | "check" | "lookup" | "fetch";

/** The fields common to every request: `table|<version>|<timestamp>|<table name>|<op>|...`. */
interface RequestHead {
  readonly timestamp: string;
  readonly table: string;
  readonly id: string;
}

/** One request from smtpd. `service` is the raw field: an unknown name is answered with an
 * error reply by the server, not treated as a protocol violation. */
export type TableRequest =
  | (RequestHead & { readonly op: "update" })
  | (RequestHead & { readonly op: "check"; readonly service: string; readonly key: string })
  | (RequestHead & { readonly op: "lookup"; readonly service: string; readonly key: string })
  | (RequestHead & { readonly op: "fetch"; readonly service: string });

export type UpdateResult = { readonly kind: "ok" } | TableError;
export type CheckResult = { readonly kind: "found" } | { readonly kind: "not-found" } | TableError;
export type LookupResult =
  | { readonly kind: "found"; readonly value: string }
  | { readonly kind: "not-found" }
  | TableError;
/** fetch answers like lookup: the next value (wrapping around), or not-found when empty. */
export type FetchResult = LookupResult;
/** `message` is logged by smtpd ("table-proc: NAME lookup failed: MESSAGE"); keep it short. */
export type TableError = { readonly kind: "error"; readonly message?: string };

export type TableReply =
  | { readonly op: "update"; readonly id: string; readonly result: UpdateResult }
  | { readonly op: "check"; readonly id: string; readonly result: CheckResult }
  | { readonly op: "lookup"; readonly id: string; readonly result: LookupResult }
  | { readonly op: "fetch"; readonly id: string; readonly result: FetchResult };

/** A line the peer should never have sent: the program reports `reason` and exits non-zero
 * (smtpd-tables(7) tables may not go on after a protocol error they cannot answer). */
export type Violation = { readonly kind: "violation"; readonly reason: string };

// ---------------------------------------------------------------------------------------
// Handshake: config|KEY|VALUE lines up to config|ready, answered by register lines.

export interface TableConfig {
  /** `config|smtpd-version|V`, when smtpd sent it. */
  readonly smtpdVersion: string | undefined;
  /** `config|protocol|V`; "0.1" when smtpd did not say. */
  readonly protocol: string;
  /** `config|tablename|NAME`: the name in smtpd.conf, for log lines. */
  readonly tableName: string | undefined;
  /** Any other config key, kept for forward compatibility. */
  readonly extra: Readonly<Record<string, string>>;
}

export type HandshakeStep =
  | { readonly kind: "continue" }
  | { readonly kind: "ready"; readonly config: TableConfig }
  | Violation;

/** Consumes the config lines smtpd sends first; `ready` comes with config|ready. */
export class Handshake {
  #smtpdVersion: string | undefined;
  #protocol = TABLE_PROTOCOL_VERSION;
  #tableName: string | undefined;
  #extra: Record<string, string> = {};

  accept(line: string): HandshakeStep {
    if (!line.startsWith("config|")) {
      return violation(`expected a config line during the handshake, got ${quoteLine(line)}`);
    }
    const rest = line.slice("config|".length);
    if (rest === "ready") {
      return {
        kind: "ready",
        config: {
          smtpdVersion: this.#smtpdVersion,
          protocol: this.#protocol,
          tableName: this.#tableName,
          extra: { ...this.#extra },
        },
      };
    }
    const bar = rest.indexOf("|");
    const key = bar === -1 ? rest : rest.slice(0, bar);
    const value = bar === -1 ? "" : rest.slice(bar + 1);
    if (key === "") return violation(`config line without a key: ${quoteLine(line)}`);
    if (key === "protocol") {
      if (value !== TABLE_PROTOCOL_VERSION) {
        return violation(
          `unsupported table protocol version ${JSON.stringify(value)} ` +
            `(this table speaks ${TABLE_PROTOCOL_VERSION})`,
        );
      }
      this.#protocol = value;
    } else if (key === "smtpd-version") this.#smtpdVersion = value;
    else if (key === "tablename") this.#tableName = value;
    else this.#extra[key] = value;
    return { kind: "continue" };
  }
}

/** The lines a table answers config|ready with: one register line per service, then ready.
 * smtpd refuses a table that registers nothing, so an empty list is a bug of the caller. */
export function registerLines(services: readonly TableService[]): string[] {
  if (services.length === 0) throw new RangeError("a table must register at least one service");
  return [...new Set(services)].map((s) => `register|${s}`).concat("register|ready");
}

// ---------------------------------------------------------------------------------------
// Requests

/**
 * Parses one request line (without its LF). smtpd-tables(7): `|` separates fields and may
 * appear verbatim only in the last field, so a check/lookup key keeps every `|` after the
 * id, and no other field may hold one.
 */
export function parseRequest(
  line: string,
): { readonly kind: "request"; readonly request: TableRequest } | Violation {
  if (!line.startsWith("table|")) {
    if (line.startsWith("config|"))
      return violation(`config line after config|ready: ${quoteLine(line)}`);
    return violation(`malformed request (expected "table|..."): ${quoteLine(line)}`);
  }
  const f = splitFields(line.slice("table|".length), 4);
  const [version, timestamp, table, op, rest] = f;
  if (version === undefined) return violation(`malformed request: ${quoteLine(line)}`);
  if (version !== TABLE_PROTOCOL_VERSION) {
    return violation(
      `unsupported table protocol version ${JSON.stringify(version)} in request ` +
        `(this table speaks ${TABLE_PROTOCOL_VERSION})`,
    );
  }
  if (timestamp === undefined || table === undefined || op === undefined || rest === undefined) {
    return violation(`malformed request: missing fields: ${quoteLine(line)}`);
  }
  const head = { timestamp, table };
  switch (op) {
    case "update": {
      if (!isId(rest)) return violation(`malformed update request: bad id: ${quoteLine(line)}`);
      return request({ ...head, op, id: rest });
    }
    case "fetch": {
      const [service, id] = splitFields(rest, 1);
      if (service === undefined || service === "" || id === undefined || !isId(id)) {
        return violation(`malformed fetch request: ${quoteLine(line)}`);
      }
      return request({ ...head, op, service, id });
    }
    case "check":
    case "lookup": {
      const [service, id, key] = splitFields(rest, 2);
      if (
        service === undefined ||
        service === "" ||
        id === undefined ||
        !isId(id) ||
        key === undefined
      ) {
        return violation(`malformed ${op} request: ${quoteLine(line)}`);
      }
      return request({ ...head, op, service, id, key });
    }
    default:
      return violation(`unknown table operation ${JSON.stringify(op)}: ${quoteLine(line)}`);
  }
}

const request = (r: TableRequest) => ({ kind: "request", request: r }) as const;

/** Request ids are opaque tokens (smtpd sends 8 hex digits, the man page shows 7). */
const isId = (s: string): boolean => s !== "" && !s.includes("|");

/** Splits at the first `count` bars; the last element is the rest, bars included. */
function splitFields(s: string, count: number): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const bar = s.indexOf("|", start);
    if (bar === -1) {
      out.push(s.slice(start));
      return out;
    }
    out.push(s.slice(start, bar));
    start = bar + 1;
  }
  out.push(s.slice(start));
  return out;
}

/** Formats a request as smtpd sends it (for tests and for the daemon's table client). */
export function formatRequest(r: TableRequest): string {
  const head = `table|${TABLE_PROTOCOL_VERSION}|${r.timestamp}|${r.table}|${r.op}`;
  switch (r.op) {
    case "update":
      return `${head}|${r.id}`;
    case "fetch":
      return `${head}|${r.service}|${r.id}`;
    case "check":
    case "lookup":
      return `${head}|${r.service}|${r.id}|${r.key}`;
  }
}

// ---------------------------------------------------------------------------------------
// Replies

/**
 * Formats a reply line (without LF). A value smtpd could not take back is turned into an
 * error here, once for every backend: a value holding CR or LF would split the line, and
 * smtpd treats an empty found value as fatal ("table-proc: empty response").
 */
export function formatReply(reply: TableReply): string {
  const head = `${reply.op}-result|${reply.id}`;
  const r = reply.result;
  switch (r.kind) {
    case "ok":
    case "not-found":
      return `${head}|${r.kind}`;
    case "error":
      return r.message === undefined || r.message === ""
        ? `${head}|error`
        : `${head}|error|${r.message.replace(/[\r\n]+/g, " ")}`;
    case "found":
      if (!("value" in r)) return `${head}|found`;
      if (r.value === "") return `${head}|error|empty value`;
      if (/[\r\n]/.test(r.value)) return `${head}|error|value contains a line break`;
      return `${head}|found|${r.value}`;
  }
}

/**
 * Parses a reply to the request (op, id) smtpd has outstanding, as smtpd's table-proc does:
 * anything else (other op, other id, unknown result word) is a violation.
 */
export function parseReply(
  line: string,
  op: TableOperation,
  id: string,
): { readonly kind: "reply"; readonly reply: TableReply } | Violation {
  const prefix = `${op}-result|${id}|`;
  if (!line.startsWith(prefix))
    return violation(`unexpected reply to ${op} ${id}: ${quoteLine(line)}`);
  const rest = line.slice(prefix.length);
  const bar = rest.indexOf("|");
  const word = bar === -1 ? rest : rest.slice(0, bar);
  const arg = bar === -1 ? undefined : rest.slice(bar + 1);
  if (word === "error") {
    const result: TableError =
      arg === undefined ? { kind: "error" } : { kind: "error", message: arg };
    return reply({ op, id, result } as TableReply);
  }
  if (op === "update") {
    if (word === "ok" && arg === undefined) return reply({ op, id, result: { kind: "ok" } });
  } else if (word === "not-found" && arg === undefined) {
    return reply({ op, id, result: { kind: "not-found" } });
  } else if (word === "found") {
    if (op === "check" && arg === undefined) return reply({ op, id, result: { kind: "found" } });
    if (op !== "check" && arg !== undefined && arg !== "") {
      return reply({ op, id, result: { kind: "found", value: arg } });
    }
  }
  return violation(`malformed reply to ${op} ${id}: ${quoteLine(line)}`);
}

// ---------------------------------------------------------------------------------------

const violation = (reason: string): Violation => ({ kind: "violation", reason });
const reply = (r: TableReply) => ({ kind: "reply", reply: r }) as const;

/** A line for an error message: quoted, control characters escaped, cut at 200 chars, and
 * the key of an auth request (`user:cleartext-password`) left out: it must never be logged. */
function quoteLine(line: string): string {
  const auth = /\|auth\|[^|]*\|/.exec(line);
  const safe = auth ? `${line.slice(0, auth.index + auth[0].length)}<auth key hidden>` : line;
  const cut = safe.length > 200 ? `${safe.slice(0, 200)}...` : safe;
  return JSON.stringify(cut);
}
