// Inbound session state (STYLE §5): Session holds connection facts that STARTTLS and AUTH
// change; Transaction is created by MAIL and dropped by RSET, HELO/EHLO or end of message.
import type { Path } from "../../smtp/address.js";
import type { LineEndingChecker } from "../../smtp/dot.js";
import type { MailParams } from "../../smtp/esmtp-params.js";
import type { IncomingMessage } from "./message.js";
import type { Recipient } from "./types.js";

export type Phase = "greeted" | "identified" | "mail" | "rcpt";

export class Transaction {
  readonly sender: Path;
  readonly params: MailParams;
  readonly recipients: Recipient[] = [];
  msgid: string | null = null;
  message: IncomingMessage | null = null;
  /** BDAT was used: DATA is refused for the rest of the transaction (RFC 3030 §3). */
  usedBdat = false;
  /** Content checks for BDAT chunks. */
  checker: LineEndingChecker | null = null;
  messageBytes = 0;

  constructor(sender: Path, params: MailParams) {
    this.sender = sender;
    this.params = params;
  }
}

export class Session {
  helo: string | null = null;
  isEsmtp = false;
  isSecure: boolean;
  tlsInfo: string | null;
  tlsVerified: boolean;
  authUser: string | null = null;
  /** Protocol errors so far (see MAX_ERRORS). */
  errors = 0;
  /** Messages accepted in this session (max-mails). */
  mails = 0;
  tx: Transaction | null = null;

  constructor(isSecure: boolean, tlsInfo: string | null, tlsVerified: boolean) {
    this.isSecure = isSecure;
    this.tlsInfo = tlsInfo;
    this.tlsVerified = tlsVerified;
  }

  get phase(): Phase {
    if (this.helo === null) return "greeted";
    if (this.tx === null) return "identified";
    return this.tx.recipients.length === 0 ? "mail" : "rcpt";
  }
}
