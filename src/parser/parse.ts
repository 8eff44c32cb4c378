import type { IToken } from 'chevrotain';
import { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { SourceFile, Span } from '../diagnostics/source.js';
import type { FileNode, Item } from './ast.js';
import { parserInstance } from './grammar.js';
import { moeLexer } from './tokens.js';
import { toAst, tokenSpan } from './to-ast.js';

export interface ParseResult {
  ast: FileNode;
  /** Comment tokens, kept for tools that print source (the formatter). */
  comments: IToken[];
}

/** Scan and parse one file. Syntax errors land in `diags`; the AST is always returned. */
export function parseSource(file: SourceFile, diags: DiagnosticBag): ParseResult {
  const lexed = moeLexer.tokenize(file.text);
  for (const err of lexed.errors) {
    const span = { start: err.offset, end: err.offset + Math.max(1, err.length) };
    const text = file.text.slice(err.offset);
    if (text.startsWith('"')) {
      const lineEnd = text.indexOf('\n');
      reportOnce(diags, 'E0102', { start: err.offset, end: err.offset + (lineEnd < 0 ? text.length : lineEnd) }, 'unterminated string: add the closing \'"\'');
    } else if (text.startsWith('/*')) {
      reportOnce(diags, 'E0103', { start: err.offset, end: err.offset + 2 }, "unterminated comment: add the closing '*/'");
    } else {
      reportOnce(diags, 'E0101', span, `unexpected character ${JSON.stringify(text.slice(0, Math.max(1, err.length)))}`);
    }
  }

  const parser = parserInstance();
  parser.input = lexed.tokens;
  const cst = parser.file();
  const ast = toAst(cst);

  const reportedItems = new Set<Item>();
  for (const err of parser.errors) {
    const span = errorSpan(err.token, file);
    // One mistake, one diagnostic: recovery can trip over the same broken item again.
    const item = innermostItem(ast, span.start);
    if (item) {
      if (reportedItems.has(item)) continue;
      reportedItems.add(item);
    }
    reportOnce(diags, 'E0104', span, err.message);
  }
  return { ast, comments: lexed.groups['comments'] ?? [] };
}

function errorSpan(token: IToken, file: SourceFile): Span {
  if (isNaN(token.startOffset)) return { start: file.text.length, end: file.text.length };
  return tokenSpan(token);
}

function reportOnce(diags: DiagnosticBag, code: 'E0101' | 'E0102' | 'E0103' | 'E0104', span: Span, message: string): void {
  if (diags.items.some((d) => d.span.start === span.start)) return;
  diags.report(code, span, message);
}

function innermostItem(ast: FileNode, offset: number): Item | undefined {
  const within = (s: Span) => s.start <= offset && offset < s.end;
  let found: Item | undefined;
  let items: Item[] = ast.models.filter((m) => within(m.span)).flatMap((m) => m.items);
  while (items.length) {
    const hit = items.find((i) => within(i.span));
    if (!hit) break;
    found = hit;
    items = hit.kind === 'Block' ? hit.items : [];
  }
  return found;
}

export { parserInstance };
