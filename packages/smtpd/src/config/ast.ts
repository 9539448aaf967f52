// The typed smtpd.conf syntax tree (parent, lookup, `smtpd -n`). Every node keeps where it
// was written; option lists keep their order so the canonical printer can write them back.
export interface Pos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** `<name>`, a bare string (a one-element list), or an inline `{ ... }` table. */
export type TableArg =
  | { readonly kind: "ref"; readonly name: string; readonly pos: Pos }
  | {
      readonly kind: "inline";
      readonly braced: boolean;
      readonly entries: InlineEntries;
      readonly pos: Pos;
    };

export type InlineEntries =
  | { readonly type: "list"; readonly values: readonly string[] }
  | { readonly type: "map"; readonly pairs: readonly (readonly [string, string])[] };

export interface Duration {
  readonly text: string;
  readonly seconds: number;
}

/** `text` is the NUMBER as written (int64, as strtonum reads it); `value` is for the daemon. */
export type LimitEntry =
  | { readonly key: string; readonly value: number; readonly text: string }
  | { readonly family: "inet4" | "inet6" };

export type TableSource =
  | {
      readonly kind: "backend";
      readonly backend: string;
      readonly config: string | null;
      readonly raw: string;
    }
  | { readonly kind: "inline"; readonly entries: InlineEntries };

export type ListenOption =
  | { readonly kind: "family"; readonly family: "inet4" | "inet6" }
  | { readonly kind: "port"; readonly port: number; readonly text: string }
  | { readonly kind: "filter"; readonly name: string }
  | { readonly kind: "filter-chain"; readonly filters: readonly string[] }
  | {
      readonly kind: "tls-mode";
      readonly mode: "tls" | "tls-require" | "smtps";
      readonly verify: boolean;
    }
  | {
      readonly kind: "ciphers" | "protocols" | "pki" | "ca" | "tag" | "hostname";
      readonly value: string;
    }
  | { readonly kind: "auth"; readonly optional: boolean; readonly table: TableArg | null }
  | { readonly kind: "hostnames"; readonly table: TableArg }
  | { readonly kind: "senders"; readonly table: TableArg; readonly masquerade: boolean }
  | { readonly kind: "mask-src" | "received-auth" | "no-dsn" | "proxy-v2" };

export type ActionMethod =
  | { readonly kind: "mbox" }
  | { readonly kind: "maildir"; readonly path: string | null; readonly junk: boolean }
  | { readonly kind: "lmtp"; readonly destination: string; readonly rcptTo: boolean }
  | { readonly kind: "mda"; readonly command: string }
  | { readonly kind: "forward-only" | "expand-only" | "relay" };

export type ActionOption =
  | {
      readonly kind:
        | "user"
        | "wrapper"
        | "helo"
        | "pki"
        | "ca"
        | "ciphers"
        | "protocols"
        | "mail-from";
      readonly value: string;
    }
  | {
      readonly kind:
        | "alias"
        | "virtual"
        | "userbase"
        | "helo-src"
        | "src"
        | "host"
        | "domain"
        | "auth";
      readonly table: TableArg;
    }
  | { readonly kind: "backup"; readonly mx: string | null }
  | { readonly kind: "tls"; readonly noVerify: boolean }
  | { readonly kind: "filter"; readonly name: string }
  | { readonly kind: "filter-chain"; readonly filters: readonly string[] }
  | { readonly kind: "srs" }
  | { readonly kind: "ttl"; readonly ttl: Duration };

/** A `match` condition. `from`/`for` forms are kinds of their own. */
export type MatchOption = { readonly negated: boolean; readonly pos: Pos } & (
  | {
      readonly kind: "tag" | "helo" | "mail-from" | "rcpt-to";
      readonly regex: boolean;
      readonly table: TableArg;
    }
  | { readonly kind: "auth"; readonly regex: boolean; readonly table: TableArg | null }
  | { readonly kind: "tls" }
  | { readonly kind: "from-socket" | "from-local" | "from-any" | "for-local" | "for-any" }
  | {
      readonly kind: "from-rdns" | "from-auth";
      readonly regex: boolean;
      readonly table: TableArg | null;
    }
  | {
      readonly kind: "from-src" | "from-mail-from" | "for-domain" | "for-rcpt-to";
      readonly regex: boolean;
      readonly table: TableArg;
    }
);

export const FILTER_PHASES = [
  "connect",
  "helo",
  "ehlo",
  "auth",
  "mail-from",
  "rcpt-to",
  "data",
  "commit",
] as const;
export type FilterPhase = (typeof FILTER_PHASES)[number];

export type FilterCheck = { readonly negated: boolean } & (
  | { readonly kind: "fcrdns" | "rdns" | "auth" }
  | {
      readonly kind: "rdns-table" | "src" | "helo" | "auth-table" | "mail-from" | "rcpt-to";
      readonly regex: boolean;
      readonly table: TableArg;
    }
);

export type FilterDecision =
  | { readonly kind: "junk" | "bypass" }
  | { readonly kind: "reject" | "disconnect" | "rewrite" | "report"; readonly value: string };

export type Directive = { readonly pos: Pos } & (
  | { readonly kind: "include"; readonly path: string }
  | { readonly kind: "admd"; readonly value: string }
  | { readonly kind: "bounce"; readonly warnIntervals: readonly Duration[] }
  | { readonly kind: "ca"; readonly name: string; readonly cert: string }
  | {
      readonly kind: "pki";
      readonly name: string;
      readonly param: "cert" | "key" | "dhe";
      readonly value: string;
    }
  | { readonly kind: "pki-name"; readonly name: string }
  | { readonly kind: "mda-wrapper"; readonly name: string; readonly command: string }
  | { readonly kind: "mda-limit"; readonly limits: readonly LimitEntry[] }
  | { readonly kind: "mta-max-deferred"; readonly value: number; readonly text: string }
  | {
      readonly kind: "mta-limit";
      readonly domain: string | null;
      readonly limits: readonly LimitEntry[];
    }
  | {
      readonly kind: "proc";
      readonly name: string;
      readonly command: string;
      readonly user: string | null;
      readonly group: string | null;
      readonly chroot: string | null;
    }
  | { readonly kind: "queue-compression" }
  | { readonly kind: "queue-encryption"; readonly key: string | null }
  | { readonly kind: "queue-ttl"; readonly ttl: Duration }
  | { readonly kind: "scheduler-limit"; readonly limits: readonly LimitEntry[] }
  | { readonly kind: "smtp-limit"; readonly limits: readonly LimitEntry[] }
  | { readonly kind: "smtp-ciphers"; readonly value: string }
  | { readonly kind: "smtp-max-message-size"; readonly bytes: number; readonly text: string }
  | { readonly kind: "smtp-sub-addr-delim"; readonly value: string }
  | { readonly kind: "srs-key"; readonly backup: boolean; readonly value: string }
  | { readonly kind: "srs-ttl"; readonly ttl: Duration }
  | { readonly kind: "table"; readonly name: string; readonly source: TableSource }
  | {
      readonly kind: "listen";
      readonly target: { readonly socket: true } | { readonly ifx: string };
      readonly options: readonly ListenOption[];
    }
  | {
      readonly kind: "action";
      readonly name: string;
      readonly method: ActionMethod;
      readonly options: readonly ActionOption[];
    }
  | {
      readonly kind: "match";
      readonly options: readonly MatchOption[];
      readonly action: string | null;
    }
  | { readonly kind: "filter-proc"; readonly name: string; readonly proc: string }
  | {
      readonly kind: "filter-proc-exec";
      readonly name: string;
      readonly command: string;
      readonly user: string | null;
      readonly group: string | null;
      readonly chroot: string | null;
    }
  | { readonly kind: "filter-chain"; readonly name: string; readonly filters: readonly string[] }
  | {
      readonly kind: "filter-builtin";
      readonly name: string;
      readonly phase: FilterPhase;
      readonly check: FilterCheck;
      readonly decision: FilterDecision;
    }
);

export interface Config {
  readonly directives: readonly Directive[];
}
