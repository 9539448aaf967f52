// @facteur/smtpd: the daemon's public pieces (config today).
export * from "./config/index.js";
