// @facteur/extras: the smtpd-tables(7) protocol library the table-* programs are built on,
// and their backends (usable in-process by tests and by the daemon's own tooling).

export * from "./line-reader.js";
export * from "./passwd-backend.js";
export * from "./table-protocol.js";
export * from "./table-server.js";
