// The reserved words of smtpd.conf(5), sorted. An unquoted word in this list is a keyword;
// the same text in quotes is a plain string (OpenSMTPD parse.y `lookup`).
export const KEYWORDS = [
  "action", "admd", "alias", "any", "auth", "auth-optional", "backup", "bounce", "bypass", "ca",
  "cert", "chain", "chroot", "ciphers", "commit", "compression", "connect", "data", "data-line",
  "dhe", "disconnect", "domain", "ehlo", "encryption", "expand-only", "fcrdns", "filter", "for",
  "forward-only", "from", "group", "helo", "helo-src", "host", "hostname", "hostnames", "include",
  "inet4", "inet6", "junk", "key", "limit", "listen", "lmtp", "local", "mail-from", "maildir",
  "mask-src", "masquerade", "match", "max-deferred", "max-message-size", "mbox", "mda", "mta",
  "mx", "no-dsn", "no-verify", "noop", "on", "phase", "pki", "port", "proc", "proc-exec",
  "protocols", "proxy-v2", "queue", "quit", "rcpt-to", "rdns", "received-auth", "recipient",
  "regex", "reject", "relay", "report", "rewrite", "rset", "scheduler", "senders", "smtp",
  "smtp-in", "smtp-out", "smtps", "socket", "src", "srs", "sub-addr-delim", "table", "tag",
  "tagged", "tls", "tls-require", "ttl", "user", "userbase", "verify", "virtual",
  "warn-interval", "wrapper",
] as const;

export type Keyword = (typeof KEYWORDS)[number];

const set: ReadonlySet<string> = new Set(KEYWORDS);
export const isKeyword = (s: string): s is Keyword => set.has(s);
