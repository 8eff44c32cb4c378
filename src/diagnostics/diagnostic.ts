import { CODES, type Code, type Severity } from './codes.js';
import type { SourceFile, Span } from './source.js';

/** A related location, such as the first of two duplicate declarations. */
export interface Note {
  span: Span;
  message: string;
}

/** A diagnostic as data: a code, a span in one file and a message that says what to do. */
export interface Diagnostic {
  code: Code;
  severity: Severity;
  span: Span;
  message: string;
  notes: Note[];
}

export function diagnostic(code: Code, span: Span, message: string, notes: Note[] = []): Diagnostic {
  return { code, severity: CODES[code].severity, span, message, notes };
}

/** A diagnostic sink, passed to every phase so they all report the same way. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];

  report(code: Code, span: Span, message: string, notes: Note[] = []): void {
    this.items.push(diagnostic(code, span, message, notes));
  }

  get hasErrors(): boolean {
    return this.errorCount > 0;
  }

  get errorCount(): number {
    return this.items.filter((d) => d.severity === 'error').length;
  }
}

/** The JSON shape of `moec check --format json` (DESIGN.md §4). */
export interface DiagnosticJson {
  file: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  severity: Severity;
  code: Code;
  message: string;
}

export function toJson(file: SourceFile, d: Diagnostic): DiagnosticJson {
  const start = file.position(d.span.start);
  const end = file.position(d.span.end);
  return {
    file: file.path,
    line: start.line,
    col: start.col,
    endLine: end.line,
    endCol: end.col,
    severity: d.severity,
    code: d.code,
    message: d.message,
  };
}

export function sortDiagnostics(items: readonly Diagnostic[]): Diagnostic[] {
  return [...items].sort((a, b) => a.span.start - b.span.start || a.code.localeCompare(b.code));
}

/** Source lines longer than this are shown as a window of this many characters around the caret. */
export const MAX_SHOWN_LINE = 120;

/** `FILE:LINE:COL: error[CODE]: message`, the source line (cut around the caret when long) and a caret under the span. */
export function renderHuman(file: SourceFile, d: Diagnostic, color = false): string {
  const { line, col } = file.position(d.span.start);
  const end = file.position(d.span.end);
  const length = file.lineLength(line);
  // The window starts a third of the way before the caret, so the context on its left shows too.
  const from = length <= MAX_SHOWN_LINE ? 0 : Math.max(0, Math.min(col - 1 - MAX_SHOWN_LINE / 3, length - MAX_SHOWN_LINE));
  const to = Math.min(length, from + MAX_SHOWN_LINE);
  // Control characters (a binary file) would drive the terminal: each shows as one '?'.
  const text = file.lineText(line, from, to).replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '?');
  const [before, after] = [from > 0 ? '...' : '', to < length ? '...' : ''];
  const spanEnd = end.line === line ? end.col - 1 : length;
  const width = Math.max(1, Math.min(spanEnd, to) - (col - 1));
  const paint = (s: string, code: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const sev = paint(`${d.severity}[${d.code}]`, d.severity === 'error' ? '1;31' : '1;33');
  const gutter = String(line).length;
  const out = [
    `${file.path}:${line}:${col}: ${sev}: ${d.message}`,
    `${' '.repeat(gutter)} |`,
    `${line} | ${before}${text}${after}`,
    // Tabs before the span stay tabs, so the caret lines up however the terminal expands them.
    `${' '.repeat(gutter)} | ${' '.repeat(before.length)}${text.slice(0, col - 1 - from).replace(/[^\t]/g, ' ')}${paint('^'.repeat(width), '1;32')}`,
  ];
  for (const note of d.notes) {
    const p = file.position(note.span.start);
    out.push(`${file.path}:${p.line}:${p.col}: note: ${note.message}`);
  }
  return out.join('\n');
}

/** At most this many diagnostics of one file are rendered; a last line counts the rest. */
export const MAX_RENDERED = 50;

/** The diagnostics of one file as `renderHuman` prints them, the first MAX_RENDERED and a count of the others. */
export function renderFile(file: SourceFile, diagnostics: readonly Diagnostic[], color = false): string[] {
  const out = diagnostics.slice(0, MAX_RENDERED).map((d) => renderHuman(file, d, color));
  const rest = diagnostics.slice(MAX_RENDERED);
  if (rest.length) {
    const errors = rest.filter((d) => d.severity === 'error').length;
    const counts = [errors && `${errors} more error${errors === 1 ? '' : 's'}`, rest.length - errors && `${rest.length - errors} more warning${rest.length - errors === 1 ? '' : 's'}`].filter(Boolean);
    out.push(`${file.path}: ${counts.join(' and ')} not shown (the first ${MAX_RENDERED} are)`);
  }
  return out;
}
