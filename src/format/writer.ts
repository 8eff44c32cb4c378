import type { IToken } from 'chevrotain';

/** A comment of the source, as the formatter prints it. */
export interface Comment {
  start: number;
  end: number;
  text: string;
  /** A `//` comment: nothing may follow it on its line. */
  line: boolean;
}

export function toComments(tokens: readonly IToken[]): Comment[] {
  return tokens
    .map((t) => {
      const line = t.image.startsWith('//');
      // Output lines end in '\n' only; a CRLF source leaves '\r' inside comments.
      const text = line ? t.image.replace(/\r$/, '') : t.image.replace(/\r\n/g, '\n');
      return { start: t.startOffset, end: t.endOffset! + 1, text, line };
    })
    .sort((a, b) => a.start - b.start);
}

/**
 * Builds the formatted text line by line and places the source's comments. The printer
 * announces each source position it reaches; every comment before that position is printed
 * there. So comments keep their order relative to every token, and a second run, which sees
 * them in the same places, prints them the same way (idempotence).
 */
export class Writer {
  private readonly lines: string[] = [];
  /** The current line, indentation included; empty until something is written on it. */
  private line = '';
  /** Indentation of the next line when it is not the block indentation (a continuation). */
  private nextIndent: number | undefined;
  private wantSpace = false;
  private next = 0;
  /** Indentation of block contents. */
  indent = 0;
  /** Where a line continues after a `//` comment inside an item forced a break. */
  continuation = 0;

  constructor(
    private readonly source: string,
    private readonly comments: readonly Comment[],
  ) {}

  write(text: string): void {
    if (this.line === '') this.line = ' '.repeat(this.nextIndent ?? this.indent);
    else if (this.wantSpace && !this.line.endsWith(' ')) this.line += ' ';
    this.wantSpace = false;
    const parts = text.split('\n');
    this.line += parts[0];
    // Only block comments contain newlines: their later lines are kept verbatim.
    for (const part of parts.slice(1)) {
      this.lines.push(this.line);
      this.line = part;
    }
  }

  /** One space before the next text on this line (none at a line start). */
  space(): void {
    this.wantSpace = true;
  }

  /** Ends the current line; the next one starts at `indent`, or at `column` when given. */
  newline(column?: number): void {
    if (this.line !== '') this.lines.push(this.line);
    this.line = '';
    this.nextIndent = column;
    this.wantSpace = false;
  }

  blankLine(): void {
    this.newline();
    if (this.lines.length > 0 && this.lines[this.lines.length - 1] !== '') this.lines.push('');
  }

  get column(): number {
    return this.line === '' ? (this.nextIndent ?? this.indent) : this.line.length + (this.wantSpace ? 1 : 0);
  }

  /** Prints, inside the current line, every comment that starts before `offset`. */
  flush(offset: number): void {
    while (this.pending(offset)) {
      const c = this.comments[this.next++]!;
      if (!/[([{]$/.test(this.line)) this.space();
      this.write(c.text);
      if (c.line) this.newline(this.continuation);
      else this.space();
    }
  }

  /**
   * Starts the line of a list element at `offset`: the comments before it go on lines of
   * their own, and a blank line of the source before the element or a comment is kept
   * (collapsed to one), except at the start of a list. `blank` forces one (between models).
   */
  element(offset: number, first: boolean, blank = false): void {
    const printed = this.ownLines(offset, first, blank);
    if (printed > 0 ? this.blankBefore(offset) : !first && (blank || this.blankBefore(offset))) this.blankLine();
  }

  /** Before a closing brace or the end of the file: the comments left, but no blank line. */
  closing(offset: number, first: boolean): void {
    this.ownLines(offset, first, false);
  }

  /** Prints the comments before `offset` on lines of their own; returns how many. */
  private ownLines(offset: number, first: boolean, blank: boolean): number {
    this.newline();
    let printed = 0;
    while (this.pending(offset)) {
      const c = this.comments[this.next++]!;
      if (printed > 0 ? this.blankBefore(c.start) : !first && (blank || this.blankBefore(c.start))) this.blankLine();
      this.write(c.text);
      this.newline();
      printed++;
    }
    return printed;
  }

  /**
   * Ends the element that ends at `end`. Comments left inside it (after its last token)
   * follow on its line until a `//` comment ends the line; any after that get lines of their
   * own. This is where a second run, seeing them after the element, would put them too.
   */
  finish(end: number): void {
    let ownLines = false;
    while (this.pending(end)) {
      const c = this.comments[this.next++]!;
      if (!ownLines) this.space();
      this.write(c.text);
      if (ownLines || c.line) this.newline();
      else this.space();
      ownLines ||= c.line;
    }
    if (!ownLines) this.trailing(end);
  }

  /** Prints the comments that follow `after` on the same source line. */
  trailing(after: number): void {
    let at = after;
    while (this.next < this.comments.length) {
      const c = this.comments[this.next]!;
      if (!/^[ \t\r]*$/.test(this.source.slice(at, c.start))) return;
      this.next++;
      this.space();
      this.write(c.text);
      if (c.line) return this.newline();
      at = c.end;
    }
  }

  text(): string {
    this.newline();
    while (this.lines[this.lines.length - 1] === '') this.lines.pop();
    return this.lines.length ? `${this.lines.join('\n')}\n` : '';
  }

  private pending(offset: number): boolean {
    return this.next < this.comments.length && this.comments[this.next]!.start < offset;
  }

  private blankBefore(offset: number): boolean {
    let newlines = 0;
    for (let i = offset - 1; i >= 0 && /\s/.test(this.source[i]!); i--) if (this.source[i] === '\n') newlines++;
    return newlines >= 2;
  }
}
