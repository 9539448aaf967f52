// Replies the inbound session uses more than once (STYLE §4). Texts follow OpenSMTPD's
// smtp_session.c where it has one; details go to the log, never to the client.
import { more, ok, permFail, tempFail } from "./reply.js";

export const okReply = ok(250, "2.0.0", "Ok");
export const senderOk = ok(250, "2.1.0", "Ok");
export const rcptOk = ok(250, "2.1.5", "Destination address valid: Recipient ok");
export const resetOk = ok(250, "2.0.0", "Reset state");
export const bye = ok(221, "2.0.0", "Bye");
export const startTlsReady = ok(220, "2.0.0", "Ready to start TLS");
export const authOk = ok(235, "2.0.0", "Authentication succeeded");
export const vrfyPolicy = ok(
  252,
  "2.5.0",
  "Cannot VRFY user, but will accept message and attempt delivery",
);
export const dataGoAhead = more(354, 'Enter mail, end with "." on a line by itself');
export const authUsername = more(334, "VXNlcm5hbWU6");
export const authPassword = more(334, "UGFzc3dvcmQ6");
export const authEmptyChallenge = more(334, "");

export const badSequence = permFail(
  503,
  "5.5.1",
  "Invalid command: Command not allowed at this point",
);
export const unknownCommand = permFail(500, "5.5.1", "Invalid command: Command unrecognized");
export const notSupported = permFail(503, "5.5.1", "Invalid command: Command not supported");
export const expnDisabled = permFail(502, "5.5.1", "Invalid command: EXPN is disabled");
export const noParams = permFail(501, "5.5.4", "Invalid command arguments: No parameters allowed");
export const syntaxError = permFail(501, "5.5.2", "Invalid command: Syntax error");
export const badChars = permFail(
  500,
  "5.5.2",
  "Invalid command: Invalid characters in command line",
);
export const lineTooLong = permFail(500, "5.5.2", "Invalid command: Line too long");
export const unsupportedOption = permFail(
  555,
  "5.5.4",
  "Invalid command arguments: Unsupported option",
);
export const badParamValue = permFail(
  501,
  "5.5.4",
  "Invalid command arguments: Invalid parameter value",
);
export const duplicateParam = permFail(
  501,
  "5.5.4",
  "Invalid command arguments: Duplicate parameter",
);
export const heloRequired = permFail(503, "5.5.1", "Invalid command: Polite people say HELO first");
export const badHelo = permFail(501, "5.5.4", "Invalid command arguments: Invalid domain name");
export const nestedMail = permFail(503, "5.5.1", "Invalid command: Only one MAIL FROM allowed");
export const noRecipient = permFail(503, "5.5.1", "Invalid command: No recipient specified");
export const noMail = permFail(503, "5.5.1", "Invalid command: Need MAIL FROM first");
// RFC 3207 §4 and RFC 4954 §6: a command refused for want of TLS or AUTH is "530 5.7.0"
// (a security status, not a syntax one); the text is OpenSMTPD's.
export const mustStartTls = permFail(
  530,
  "5.7.0",
  "Invalid command: Must issue a STARTTLS command first",
);
export const mustAuth = permFail(530, "5.7.0", "Invalid command: Must issue an AUTH command first");
export const alreadySecure = permFail(503, "5.5.1", "Invalid command: Channel already secured");
export const alreadyAuthenticated = permFail(
  503,
  "5.5.1",
  "Invalid command: Already authenticated",
);
export const authMechanism = permFail(
  504,
  "5.5.4",
  "Invalid command arguments: Unsupported authentication mechanism",
);
export const authCancelled = permFail(501, "5.7.0", "Authentication cancelled");
export const authBadBase64 = permFail(
  501,
  "5.5.2",
  "Invalid command arguments: Invalid base64 data",
);
export const authFailed = permFail(535, "5.7.8", "Authentication failed");
export const authTempFail = tempFail(454, "4.7.0", "Temporary authentication failure");
export const senderSyntax = permFail(553, "5.1.7", "Sender address syntax error");
export const rcptSyntax = permFail(553, "5.1.3", "Recipient address syntax error");
export const nonAsciiAddress = permFail(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
export const sizeExceeded = permFail(552, "5.3.4", "Message too big for system");
export const tooManyRecipients = tempFail(452, "4.5.3", "Too many recipients");
export const tooManyMails = tempFail(452, "4.5.3", "Too many messages sent");
export const bareNewline = permFail(
  550,
  "5.6.0",
  "Message refused: bare CR or LF in message content",
);
export const headerWhitespace = permFail(
  550,
  "5.7.1",
  "Delivery not authorized, message refused: Message is not RFC 2822 compliant",
);
export const headerTooLarge = permFail(552, "5.3.4", "Message header too large");
export const loopDetected = permFail(554, "5.4.6", "Loop detected");
export const mixedDataBdat = permFail(503, "5.5.1", "Invalid command: DATA not allowed after BDAT");
export const tooManyErrors = tempFail(421, "4.7.0", "Too many errors, closing connection");
export const timeoutReply = tempFail(421, "4.4.2", "Timeout, closing connection");
export const localError = tempFail(451, "4.3.0", "Temporary failure");
export const pipelinedAfterRefusal = tempFail(
  421,
  "4.5.0",
  "Pipelined input after a refused command, closing",
);
