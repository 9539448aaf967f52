// smtpd.conf tokeniser (run by the parent and by `smtpd -n`): OpenSMTPD's lexical rules —
// both quote styles, backslash continuation, NUMBER vs string, `$macro` re-tokenised from its
// raw text, `include` stacking files.
import { isKeyword } from "./keywords.js";

export type TokenKind = "string" | "number" | "keyword" | "punct" | "newline" | "eof";

export interface Token {
  readonly kind: TokenKind;
  /** keyword or punctuation text; the string's value; the number's digits */
  readonly text: string;
  readonly quoted: boolean;
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** A lexical error: reported, then the rest of the line is skipped. */
export interface LexError {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

export const MAX_TOKEN_BYTES = 8096;

interface Source {
  readonly text: string;
  pos: number;
  readonly file: string;
  /** what the file is, whatever name it was given (its real path) */
  readonly key: string;
  line: number;
  col: number;
  eofReached: boolean;
}

/** One character with where it was read; macro text carries the place of its `$`. */
interface Ch {
  readonly c: string;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** the markers around a macro's text (parse.y START_EXPAND / DONE_EXPAND) */
  readonly mark?: "start" | "done";
  /** the newline read at the end of a file */
  readonly eof?: true;
}

export interface MacroTable {
  get(name: string): string | undefined;
}

const isDigit = (c: string) => c >= "0" && c <= "9";
const isAlpha = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
const isAlnum = (c: string) => isDigit(c) || isAlpha(c);
// C ispunct() in the C locale: printable, not alphanumeric, not space.
const isPunct = (c: string) => {
  const n = c.charCodeAt(0);
  return n > 0x20 && n < 0x7f && !isAlnum(c);
};
const isSpace = (c: string) => " \t\n\r\v\f".includes(c);
// parse.y: a bare word goes on with letters, digits and punctuation but ( ) { } < > ! = # ,
const inWord = (c: string) => isAlnum(c) || (isPunct(c) && !"(){}<>!=#,".includes(c));
// parse.y: digits are a NUMBER only when followed by one of these
const endsNumber = (c: string | null) => c === null || isSpace(c) || ")/,}=".includes(c);
const where = (c: Ch) => ({ file: c.file, line: c.line, col: c.col });

export class Lexer {
  private readonly files: Source[] = [];
  private readonly pb: Ch[] = [];
  private expanding = false;
  private readonly ahead: Token[] = [];
  private pendingNewline: Token | null = null;
  readonly errors: LexError[] = [];
  /** names of macros expanded, for `-v`'s "macro not used" warning */
  readonly usedMacros = new Set<string>();

  private readonly macros: MacroTable;

  constructor(text: string, file: string, macros: MacroTable, key = file) {
    this.macros = macros;
    this.pushFile(text, file, key);
  }

  /** Start reading another file where the current one stands (`include`). */
  pushFile(text: string, file: string, key = file): void {
    this.files.push({ text, pos: 0, file, key, line: 1, col: 1, eofReached: false });
  }

  /** The files being read, the first one first: the chain of `include`s that led here. */
  openFiles(): readonly { readonly file: string; readonly key: string }[] {
    return this.files.map((s) => ({ file: s.file, key: s.key }));
  }

  peek(n = 0): Token {
    while (this.ahead.length <= n) this.ahead.push(this.scan());
    return this.ahead[n]!;
  }

  next(): Token {
    const t = this.peek();
    this.ahead.shift();
    return t;
  }

  /** Skip what remains of the current line, through its newline. */
  skipLine(): void {
    for (;;) {
      const t = this.next();
      if (t.kind === "newline" || t.kind === "eof") return;
    }
  }

  // parse.y igetc: pushed-back characters first, then the current file; the macro markers
  // switch expansion on and off. A file's end reads as one newline, then the file is left.
  private igetc(): Ch | null {
    for (;;) {
      const p = this.pb.pop();
      if (p !== undefined) {
        if (p.mark === "start") this.expanding = true;
        else if (p.mark === "done") this.expanding = false;
        else return p;
        continue;
      }
      const s = this.files[this.files.length - 1];
      if (s === undefined) return null;
      if (s.pos < s.text.length) {
        const c = s.text[s.pos++]!;
        const ch: Ch = { c, file: s.file, line: s.line, col: s.col };
        if (c === "\n") {
          s.line++;
          s.col = 1;
        } else s.col++;
        return ch;
      }
      if (!s.eofReached) {
        s.eofReached = true;
        return { c: "\n", file: s.file, line: s.line, col: s.col, eof: true };
      }
      if (this.files.length === 1) return null;
      this.files.pop();
    }
  }

  private unget(ch: Ch | null): void {
    if (ch !== null) this.pb.push(ch);
  }

  // Outside quotes: backslash-newline joins lines; backslash-x stands for x.
  private getc(): Ch | null {
    for (;;) {
      const c = this.igetc();
      if (c === null || c.c !== "\\") return c;
      const next = this.igetc();
      if (next === null || next.c !== "\n") return next;
    }
  }

  private tok(kind: TokenKind, text: string, quoted: boolean, at: Ch): Token {
    return { kind, text, quoted, ...where(at) };
  }

  private scan(): Token {
    for (;;) {
      if (this.pendingNewline !== null) {
        const t = this.pendingNewline;
        this.pendingNewline = null;
        return t;
      }
      let c = this.getc();
      while (c !== null && (c.c === " " || c.c === "\t" || c.c === "\r")) c = this.getc();
      if (c === null) {
        const s = this.files[0]!;
        return { kind: "eof", text: "", quoted: false, file: s.file, line: s.line, col: s.col };
      }
      const at = c;
      if (c.c === "#") {
        while (c !== null && c.c !== "\n") c = this.getc();
        if (c === null) continue;
      }
      if (c.c === "\n") return this.tok("newline", "\n", false, c);

      if (c.c === "$" && !this.expanding) {
        let name = "";
        for (;;) {
          const d = this.getc();
          if (d !== null && (isAlnum(d.c) || d.c === "_")) {
            name += d.c;
            continue;
          }
          this.unget(d);
          break;
        }
        const val = this.macros.get(name);
        if (val === undefined) {
          this.fail(at, `macro '${name}' not defined`);
          continue;
        }
        this.usedMacros.add(name);
        this.pb.push({ ...where(at), c: "", mark: "done" });
        for (let i = val.length - 1; i >= 0; i--) this.pb.push({ ...where(at), c: val[i]! });
        this.pb.push({ ...where(at), c: "", mark: "start" });
        continue;
      }

      if (c.c === '"' || c.c === "'") {
        const r = this.quoted(c);
        if (r === null) continue;
        return r;
      }

      if (c.c === "-" || isDigit(c.c)) {
        const chars: Ch[] = [c];
        let d = this.getc();
        while (d !== null && isDigit(d.c)) {
          chars.push(d);
          d = this.getc();
        }
        this.unget(d);
        const buf = chars.map((x) => x.c).join("");
        if (buf !== "-" && endsNumber(d === null ? null : d.c)) {
          const n = BigInt(buf);
          if (n > 9223372036854775807n || n < -9223372036854775808n) {
            this.fail(at, `"${buf}" invalid number: ${n < 0n ? "too small" : "too large"}`);
            continue;
          }
          return this.tok("number", buf, false, at);
        }
        // Not a number: give the characters back and read them again as a word.
        for (let i = chars.length - 1; i >= 1; i--) this.unget(chars[i]!);
        if (c.c === "-") return this.tok("punct", "-", false, at);
      }

      if (c.c === "=") {
        const d = this.getc();
        if (d !== null && d.c === ">") return this.tok("punct", "=>", false, at);
        this.unget(d);
        return this.tok("punct", "=", false, at);
      }

      if (isAlnum(c.c) || c.c === ":" || c.c === "_") {
        let buf = c.c;
        let tooLong = false;
        for (;;) {
          const d = this.getc();
          if (d === null || !inWord(d.c)) {
            this.unget(d);
            break;
          }
          buf += d.c;
          if (buf.length >= MAX_TOKEN_BYTES) {
            tooLong = true;
            break;
          }
        }
        if (tooLong) {
          this.fail(at, "string too long");
          continue;
        }
        return this.tok(isKeyword(buf) ? "keyword" : "string", buf, false, at);
      }
      return this.tok("punct", c.c, false, at);
    }
  }

  // Inside quotes a backslash escapes the quote, a space or a tab; backslash-newline and a
  // bare newline are dropped (the next line's indentation is kept); other backslashes stay.
  // A string ends with its file: an included file's error does not run on into the next.
  private quoted(open: Ch): Token | null {
    const q = open.c;
    let buf = "";
    const unterminated = (end: Ch | null): null => {
      this.errors.push({
        ...where(open),
        message: "reached end of file while parsing quoted string",
      });
      if (end !== null) this.pendingNewline = this.tok("newline", "\n", false, end);
      return null;
    };
    for (;;) {
      const c = this.igetc();
      if (c === null || c.eof) return unterminated(c);
      if (c.c === "\n") continue;
      let ch = c.c;
      if (c.c === "\\") {
        const next = this.igetc();
        if (next === null || next.eof) return unterminated(next);
        if (next.c === q || next.c === " " || next.c === "\t") ch = next.c;
        else if (next.c === "\n") continue;
        else this.unget(next);
      } else if (c.c === q) {
        return this.tok("string", buf, true, open);
      } else if (c.c === "\0") {
        this.fail(open, "NUL byte in quoted string");
        return null;
      }
      buf += ch;
      if (buf.length >= MAX_TOKEN_BYTES - 1) {
        this.fail(open, "string too long");
        return null;
      }
    }
  }

  // Report a lexical error and drop the rest of the line; its newline is still returned as a
  // token so that the parser sees where the directive ends.
  private fail(at: Ch, message: string): void {
    this.errors.push({ ...where(at), message });
    for (;;) {
      const c = this.getc();
      if (c === null) return;
      if (c.c === "\n") {
        this.pendingNewline = this.tok("newline", "\n", false, c);
        return;
      }
    }
  }
}
