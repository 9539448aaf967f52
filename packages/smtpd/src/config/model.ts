// The configuration as the daemon uses it (parent and every role): listeners with their
// facts and defaults, tables, actions and rules, built from a parsed smtpd.conf.
import { hostname as osHostname } from "node:os";
import type {
  Config,
  Directive,
  InlineEntries,
  ListenOption,
  MatchOption,
  TableArg,
} from "./ast.js";

export type TlsMode = "none" | "starttls" | "starttls-required" | "smtps";

export interface ListenerModel {
  readonly index: number;
  /** null for the unix socket listener */
  readonly ifx: string | null;
  readonly family: "inet4" | "inet6" | null;
  readonly port: number;
  readonly tls: TlsMode;
  readonly tlsVerify: boolean;
  readonly pkis: readonly string[];
  readonly ca: string | null;
  readonly authMode: "none" | "optional" | "required";
  readonly authTable: TableArg | null;
  readonly hostname: string;
  readonly hostnames: TableArg | null;
  readonly senders: TableArg | null;
  readonly masquerade: boolean;
  readonly tag: string | null;
  readonly maskSrc: boolean;
  readonly receivedAuth: boolean;
  readonly dsn: boolean;
  readonly proxyV2: boolean;
  readonly filter: string | readonly string[] | null;
  readonly ciphers: string | null;
  readonly protocols: string | null;
}

export type ActionModel = Extract<Directive, { kind: "action" }>;
export type RuleModel = {
  readonly index: number;
  readonly options: readonly MatchOption[];
  readonly action: string | null;
};

export type TableModel =
  | { readonly kind: "inline"; readonly entries: InlineEntries }
  | { readonly kind: "backend"; readonly backend: string; readonly config: string | null };

export interface Model {
  readonly hostname: string;
  readonly listeners: readonly ListenerModel[];
  readonly tables: ReadonlyMap<string, TableModel>;
  readonly actions: ReadonlyMap<string, ActionModel>;
  readonly rules: readonly RuleModel[];
  readonly pkis: ReadonlyMap<string, { cert: string | null; key: string | null }>;
  readonly maxMessageBytes: number;
  readonly maxRcpt: number;
  readonly maxMails: number;
  readonly subAddrDelim: string;
  readonly queueTtlSeconds: number;
  /** `bounce warn-interval`: delay notices after these ages (default one at 4 h). */
  readonly bounceWarnSeconds: readonly number[];
  /** `mda wrapper NAME "command"`: commands that run an action's mda command (%{mda}). */
  readonly wrappers: ReadonlyMap<string, string>;
  readonly queueCompression: boolean;
  readonly queueKey: string | null;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 35 * 1024 * 1024;

function listenerModel(
  index: number,
  d: Extract<Directive, { kind: "listen" }>,
  serverName: string,
): ListenerModel {
  const opt = <K extends ListenOption["kind"]>(k: K) =>
    d.options.find((o) => o.kind === k) as Extract<ListenOption, { kind: K }> | undefined;
  const str = (k: "ciphers" | "protocols" | "ca" | "tag" | "hostname"): string | null => {
    const o = d.options.find((x) => x.kind === k);
    return o !== undefined && "value" in o ? o.value : null;
  };
  const mode = opt("tls-mode");
  const tls: TlsMode =
    mode === undefined
      ? "none"
      : mode.mode === "smtps"
        ? "smtps"
        : mode.mode === "tls-require"
          ? "starttls-required"
          : "starttls";
  const port = opt("port")?.port ?? (tls === "smtps" ? 465 : 25);
  const auth = opt("auth");
  const filter = opt("filter");
  const chain = opt("filter-chain");
  const senders = opt("senders");
  return {
    index,
    ifx: "socket" in d.target ? null : d.target.ifx,
    family: opt("family")?.family ?? null,
    port,
    tls,
    tlsVerify: mode?.verify ?? false,
    pkis: d.options.flatMap((o) => (o.kind === "pki" ? [o.value.toLowerCase()] : [])),
    ca: str("ca"),
    authMode: auth === undefined ? "none" : auth.optional ? "optional" : "required",
    authTable: auth?.table ?? null,
    hostname: str("hostname") ?? serverName,
    hostnames: opt("hostnames")?.table ?? null,
    senders: senders?.table ?? null,
    masquerade: senders?.masquerade ?? false,
    tag: str("tag"),
    maskSrc: opt("mask-src") !== undefined,
    receivedAuth: opt("received-auth") !== undefined,
    dsn: opt("no-dsn") === undefined,
    proxyV2: opt("proxy-v2") !== undefined,
    filter: filter?.name ?? chain?.filters ?? null,
    ciphers: str("ciphers"),
    protocols: str("protocols"),
  };
}

/** Build the model; `serverName` is the host's mail name (/etc/mailname or the host name). */
export function buildModel(config: Config, serverName: string = osHostname()): Model {
  const listeners: ListenerModel[] = [];
  const tables = new Map<string, TableModel>();
  const actions = new Map<string, ActionModel>();
  const rules: RuleModel[] = [];
  const pkis = new Map<string, { cert: string | null; key: string | null }>();
  let maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
  let maxRcpt = 1000;
  let maxMails = 100;
  let subAddrDelim = "+";
  let queueTtlSeconds = 4 * 86400;
  let bounceWarnSeconds: number[] = [4 * 3600];
  const wrappers = new Map<string, string>();
  let queueCompression = false;
  let queueKey: string | null = null;
  let socketSeen = false;
  for (const d of config.directives) {
    switch (d.kind) {
      case "listen":
        if ("socket" in d.target) socketSeen = true;
        listeners.push(listenerModel(listeners.length, d, serverName));
        break;
      case "table":
        tables.set(
          d.name,
          d.source.kind === "inline"
            ? { kind: "inline", entries: d.source.entries }
            : { kind: "backend", backend: d.source.backend, config: d.source.config },
        );
        break;
      case "action":
        actions.set(d.name, d);
        break;
      case "match":
        rules.push({ index: rules.length, options: d.options, action: d.action });
        break;
      case "pki":
      case "pki-name": {
        const p = pkis.get(d.name) ?? { cert: null, key: null };
        if (d.kind === "pki" && d.param === "cert") p.cert = d.value;
        if (d.kind === "pki" && d.param === "key") p.key = d.value;
        pkis.set(d.name, p);
        break;
      }
      case "smtp-max-message-size":
        maxMessageBytes = d.bytes;
        break;
      case "smtp-limit":
        for (const l of d.limits) {
          if ("key" in l && l.key === "max-rcpt") maxRcpt = l.value;
          if ("key" in l && l.key === "max-mails") maxMails = l.value;
        }
        break;
      case "smtp-sub-addr-delim":
        subAddrDelim = d.value;
        break;
      case "queue-ttl":
        queueTtlSeconds = d.ttl.seconds;
        break;
      case "queue-compression":
        queueCompression = true;
        break;
      case "mda-wrapper":
        wrappers.set(d.name, d.command);
        break;
      case "bounce":
        bounceWarnSeconds = d.warnIntervals.map((w) => w.seconds).sort((a, b) => a - b);
        break;
      case "queue-encryption":
        queueKey = d.key;
        break;
      default:
        break;
    }
  }
  if (!socketSeen) {
    // OpenSMTPD always has a socket listener for the local enqueuer.
    const implicit: Extract<Directive, { kind: "listen" }> = {
      kind: "listen",
      target: { socket: true },
      options: [],
      pos: { file: "<implicit>", line: 0, col: 0 },
    };
    listeners.push(listenerModel(listeners.length, implicit, serverName));
  }
  return {
    hostname: serverName,
    listeners,
    tables,
    actions,
    rules,
    pkis,
    maxMessageBytes,
    maxRcpt,
    maxMails,
    subAddrDelim,
    queueTtlSeconds,
    bounceWarnSeconds,
    wrappers,
    queueCompression,
    queueKey,
  };
}
