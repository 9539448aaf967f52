// @facteur/smtpd/config: parse, check and print smtpd.conf.
export * from "./ast.js";
export { checkSystem, systemHost } from "./check-files.js";
export { type Diagnostic, formatDiagnostic } from "./errors.js";
export { type ParseHost, type ParseOptions, type ParseResult, parseConfig } from "./parser.js";
export { printConfig, printDirective, quote } from "./printer.js";
export { parseTableFile, type TableFileEntries } from "./table-file.js";
export { configWarnings } from "./warnings.js";
