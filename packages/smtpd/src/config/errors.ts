// Errors of the config package: data, not prose to parse.
export interface Diagnostic {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
  /** syntax errors may be suppressed during recovery; semantic ones never are */
  readonly kind: "syntax" | "semantic" | "warning";
}

export const formatDiagnostic = (d: Diagnostic): string => {
  const where = d.line > 0 ? `${d.file}:${d.line}` : d.file;
  return d.kind === "warning" ? `${where}: warning: ${d.message}` : `${where}: ${d.message}`;
};

/** Thrown inside the parser to abandon the current directive; caught at end of line. */
export class ConfigError extends Error {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly kind: "syntax" | "semantic";

  constructor(
    file: string,
    line: number,
    col: number,
    message: string,
    kind: "syntax" | "semantic",
  ) {
    super(message);
    this.file = file;
    this.line = line;
    this.col = col;
    this.kind = kind;
  }
}
