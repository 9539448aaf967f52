// The only replies without an enhanced status code (RFC 2034 §3): the banner and the
// HELO/EHLO answers, in OpenSMTPD's wording and EHLO line order (dispatcher/smtp).
import { bracketAddress } from "../../smtp/headers.js";
import type { Reply } from "../../smtp/reply.js";

/** Product name in the banner, HELP and Received ("by host (Facteur)"). */
export const SERVER_NAME = "Facteur";

export const banner = (hostname: string): Reply => ({
  code: 220,
  lines: [`${hostname} ESMTP ${SERVER_NAME}`],
});

const hello = (hostname: string, helo: string, addr: string): string =>
  `${hostname} Hello ${helo} ${bracketAddress(addr)}, pleased to meet you`;

export const heloReply = (hostname: string, helo: string, addr: string): Reply => ({
  code: 250,
  lines: [hello(hostname, helo, addr)],
});

export interface EhloFacts {
  readonly hostname: string;
  readonly helo: string;
  readonly remoteAddress: string;
  readonly maxMessageBytes: number;
  readonly dsn: boolean;
  readonly isSecure: boolean;
  readonly offerStartTls: boolean;
  readonly offerAuth: boolean;
}

/** OpenSMTPD's order, with PIPELINING, SMTPUTF8, CHUNKING and REQUIRETLS after DSN. */
export function ehloReply(f: EhloFacts): Reply {
  const lines = [
    hello(f.hostname, f.helo, f.remoteAddress),
    "8BITMIME",
    "ENHANCEDSTATUSCODES",
    `SIZE ${f.maxMessageBytes}`,
  ];
  if (f.dsn) lines.push("DSN");
  lines.push("PIPELINING", "SMTPUTF8", "CHUNKING");
  if (f.isSecure) lines.push("REQUIRETLS");
  if (f.offerStartTls) lines.push("STARTTLS");
  if (f.offerAuth) lines.push("AUTH PLAIN LOGIN");
  lines.push("HELP");
  return { code: 250, lines };
}
