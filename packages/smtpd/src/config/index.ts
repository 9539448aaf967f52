// @facteur/smtpd/config: parse, check and print smtpd.conf.
export * from "./ast.js";
export { formatDiagnostic, type Diagnostic } from "./errors.js";
export { parseConfig, type ParseHost, type ParseOptions, type ParseResult } from "./parser.js";
export { printConfig, printDirective, quote } from "./printer.js";
export { parseTableFile, type TableFileEntries } from "./table-file.js";
export { checkSystem, systemHost } from "./check-files.js";
export { configWarnings } from "./warnings.js";
