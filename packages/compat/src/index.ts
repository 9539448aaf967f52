// @facteur/compat: the one place that knows about operating systems.

export * from "./crypt.js";
export * from "./platform.js";
export * from "./users.js";
