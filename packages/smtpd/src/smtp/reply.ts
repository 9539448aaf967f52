// SMTP replies as values (STYLE §4): every 2xx/4xx/5xx reply carries an RFC 2034/3463 enhanced
// status code whose class matches the reply class; 3xx replies carry none. Shared by the
// inbound session (dispatcher/smtp) and anything else that answers SMTP clients.

type Esc<C extends 2 | 4 | 5> = `${C}.${number}.${number}`;

export type Reply = {
  readonly code: number;
  readonly esc?: string;
  readonly lines: readonly string[];
  /** The connection is closed once this reply is written (221, 421). */
  readonly close?: true;
};

export const ok = (
  code: 214 | 220 | 221 | 235 | 250 | 251 | 252,
  esc: Esc<2>,
  text: string,
): Reply => ({ code, esc, lines: [text], ...(code === 221 ? { close: true as const } : {}) });

export const tempFail = (
  code: 421 | 450 | 451 | 452 | 454 | 455,
  esc: Esc<4>,
  text: string,
): Reply => ({ code, esc, lines: [text], ...(code === 421 ? { close: true as const } : {}) });

export const permFail = (
  code: 500 | 501 | 502 | 503 | 504 | 521 | 530 | 535 | 550 | 552 | 553 | 554 | 555,
  esc: Esc<5>,
  text: string,
): Reply => ({ code, esc, lines: [text] });

export const more = (code: 334 | 354, text: string): Reply => ({ code, lines: [text] });

/** Same reply with several text lines (HELP); every line gets the code and the enhanced code. */
export const multiline = (r: Reply, lines: readonly string[]): Reply => ({ ...r, lines });

/**
 * Reply text never carries client bytes verbatim into the stream: anything outside printable
 * ASCII (CR, LF, NUL, controls, 8-bit) becomes "?", so no reply can split into two.
 */
function clean(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?");
}

/** The one writer that turns a Reply into wire bytes ("250-first\r\n250 last\r\n"). */
export function formatReply(r: Reply): string {
  const lines = r.lines.length > 0 ? r.lines : [""];
  let out = "";
  lines.forEach((line, i) => {
    const sep = i < lines.length - 1 ? "-" : " ";
    const esc = r.esc !== undefined ? `${r.esc} ` : "";
    out += `${r.code}${sep}${esc}${clean(line)}\r\n`;
  });
  return out;
}

/** First line of a reply as one string, for logs and tests: "250 2.0.0 Ok". */
export function replyText(r: Reply): string {
  const first = formatReply(r).split("\r\n")[0] ?? "";
  return first;
}
