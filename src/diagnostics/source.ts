/** A source text with a line index, so spans (offsets) convert to 1-based line/column on demand. */
export interface Span {
  /** Offset of the first character. */
  start: number;
  /** Offset one past the last character. */
  end: number;
}

export interface Position {
  line: number;
  col: number;
}

export class SourceFile {
  private readonly lineStarts: number[];

  constructor(
    readonly path: string,
    readonly text: string,
  ) {
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
    }
  }

  /** 1-based line and column of an offset (columns count UTF-16 code units). */
  position(offset: number): Position {
    const clamped = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= clamped) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: clamped - this.lineStarts[lo]! + 1 };
  }

  /** The text of a 1-based line, without its newline; `from` and `to` cut out columns (0-based, end exclusive). */
  lineText(line: number, from = 0, to = Infinity): string {
    const start = this.lineStarts[line - 1] ?? this.text.length;
    return this.text.slice(start + from, start + Math.min(to, this.lineLength(line)));
  }

  /** The length of a 1-based line, without its line break (`\n` or `\r\n`). */
  lineLength(line: number): number {
    const start = this.lineStarts[line - 1] ?? this.text.length;
    const next = this.lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return end - start - (end > start && this.text.charCodeAt(end - 1) === 13 ? 1 : 0);
  }

  slice(span: Span): string {
    return this.text.slice(span.start, span.end);
  }
}

export function joinSpans(a: Span, b: Span): Span {
  return { start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
}
