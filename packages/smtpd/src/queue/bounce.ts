// Delivery status notifications (RFC 3464 multipart/report; RFC 6533 for SMTPUTF8 mail),
// with the human-readable part in OpenSMTPD's wording. Pure: message bytes out.
import { randomBytes } from "node:crypto";
import { rfc5322Date } from "../smtp/headers.js";

export type DsnAction = "failed" | "delayed" | "delivered";

export interface DsnRecipient {
  readonly rcpt: string;
  /** `type;address` as received with ORCPT, or "". */
  readonly orcpt: string;
  readonly action: DsnAction;
  /** Enhanced status code such as 5.1.1. */
  readonly status: string;
  readonly diagnostic: string;
}

export interface DsnInput {
  readonly reportingMta: string;
  readonly sender: string;
  readonly envid: string;
  readonly ret: "" | "FULL" | "HDRS";
  readonly arrival: Date;
  readonly now: Date;
  readonly recipients: readonly DsnRecipient[];
  /** The original message as queued (CRLF). */
  readonly original: Buffer;
  readonly smtputf8: boolean;
}

const clean = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, "?");

function headersOf(msg: Buffer): Buffer {
  const end = msg.indexOf("\r\n\r\n");
  return end < 0 ? msg : msg.subarray(0, end + 2);
}

const INTRO: Record<DsnAction, string> = {
  failed:
    "An error has occurred while attempting to deliver a message for\nthe following list of recipients:",
  delayed:
    "This is a delay notification: your message could not be delivered yet to\nthe following list of recipients, delivery will be retried:",
  delivered: "Your message was successfully delivered to these recipients:",
};
const SUBJECT: Record<DsnAction, string> = {
  failed: "Delivery status notification: error",
  delayed: "Delivery status notification: delay",
  delivered: "Delivery status notification: success",
};

export function composeDsn(d: DsnInput): Buffer {
  const boundary = `${randomBytes(8).toString("hex")}/${clean(d.reportingMta)}`;
  const kind = d.recipients[0]?.action ?? "failed";
  const host = clean(d.reportingMta);
  const mid = `<${randomBytes(8).toString("hex")}@${host}>`;
  const utf8 = d.smtputf8;
  const lines: string[] = [
    `From: Mail Delivery System <MAILER-DAEMON@${host}>`,
    `To: ${clean(d.sender)}`,
    `Subject: ${SUBJECT[kind]}`,
    `Date: ${rfc5322Date(d.now)}`,
    `Message-ID: ${mid}`,
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    "Auto-Submitted: auto-replied",
    "",
    "This is a MIME-encapsulated message.",
    "",
    `--${boundary}`,
    "Content-Description: Notification",
    `Content-Type: text/plain; charset=${utf8 ? "utf-8" : "us-ascii"}`,
    "",
    "Hi!",
    "",
    "This is the MAILER-DAEMON, please DO NOT REPLY to this email.",
    "",
    ...INTRO[kind].split("\n"),
    "",
    ...d.recipients.map((r) => `${clean(r.rcpt)}: ${clean(r.diagnostic)}`),
    "",
    kind === "delivered" ? "" : "Below is a copy of the original message:",
    "",
    `--${boundary}`,
    "Content-Description: Delivery Report",
    `Content-Type: message/${utf8 ? "global-delivery-status" : "delivery-status"}`,
    "",
    `Reporting-MTA: dns; ${host}`,
    ...(d.envid !== "" ? [`Original-Envelope-Id: ${clean(d.envid)}`] : []),
    `Arrival-Date: ${rfc5322Date(d.arrival)}`,
  ];
  for (const r of d.recipients) {
    const addrType = utf8 && /[^\x00-\x7f]/.test(r.rcpt) ? "utf-8" : "rfc822";
    lines.push("", `Final-Recipient: ${addrType}; ${clean(r.rcpt)}`);
    if (r.orcpt !== "") lines.push(`Original-Recipient: ${clean(r.orcpt)}`);
    lines.push(`Action: ${r.action}`, `Status: ${r.status}`);
    if (r.action !== "delivered") lines.push(`Diagnostic-Code: smtp; ${clean(r.diagnostic)}`);
    if (r.action === "delayed") lines.push(`Last-Attempt-Date: ${rfc5322Date(d.now)}`);
  }
  lines.push("");
  const full = d.ret !== "HDRS";
  const part = full
    ? [
        "Content-Description: Undelivered Message",
        `Content-Type: message/${utf8 ? "global" : "rfc822"}`,
      ]
    : [
        "Content-Description: Message Headers",
        `Content-Type: ${utf8 ? "message/global-headers" : "text/rfc822-headers"}`,
      ];
  const head = Buffer.from(`${[...lines, `--${boundary}`, ...part, "", ""].join("\r\n")}`);
  let body = full ? d.original : headersOf(d.original);
  if (body.length > 0 && body.subarray(-2).toString() !== "\r\n")
    body = Buffer.concat([body, Buffer.from("\r\n")]);
  return Buffer.concat([head, body, Buffer.from(`\r\n--${boundary}--\r\n`)]);
}
