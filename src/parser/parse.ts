import type { IRecognitionException, IToken } from 'chevrotain';
import { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { SourceFile, Span } from '../diagnostics/source.js';
import type { FileNode, Item } from './ast.js';
import { parserInstance } from './grammar.js';
import { moeLexer, UNTERMINATED, UnterminatedString } from './tokens.js';
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
    const text = file.text.slice(err.offset, err.offset + Math.max(1, err.length));
    reportOnce(diags, 'E0101', { start: err.offset, end: err.offset + Math.max(1, err.length) }, `unexpected character ${JSON.stringify(text)}`);
  }
  for (const t of lexed.tokens.filter((t) => t.tokenType === UnterminatedString)) {
    reportOnce(diags, 'E0102', tokenSpan(t), 'unterminated string: add the closing \'"\' on the same line');
  }
  // A comment left open swallows the rest of the file: report it, not what went missing after it.
  const openComment = lexed.groups[UNTERMINATED]?.[0];
  if (openComment) reportOnce(diags, 'E0103', { start: openComment.startOffset, end: openComment.startOffset + 2 }, "unterminated comment: add the closing '*/'");

  const parser = parserInstance();
  parser.input = lexed.tokens;
  let ast: FileNode;
  try {
    ast = toAst(parser.file());
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    // Thousands of nested parentheses or minus signs exhaust the stack: a user error, not a crash.
    reportOnce(diags, 'E0104', { start: 0, end: 0 }, 'the file nests expressions too deeply to parse; simplify the nested parentheses or signs');
    return { ast: { kind: 'File', models: [], span: { start: 0, end: file.text.length } }, comments: [] };
  }

  const reportedItems = new Set<Item>();
  for (const err of parser.errors) {
    const span = errorSpan(err, file);
    if (openComment && span.start >= openComment.startOffset) continue;
    // One mistake, one diagnostic: recovery can trip over the same broken item again, and a
    // character the scanner rejected usually derails the parser in its item too.
    const item = innermostItem(ast, span.start);
    if (item && lexed.errors.some((e) => item.span.start <= e.offset && e.offset < item.span.end)) continue;
    if (item) {
      if (reportedItems.has(item)) continue;
      reportedItems.add(item);
    }
    reportOnce(diags, 'E0104', span, err.message);
  }
  return { ast, comments: lexed.groups['comments'] ?? [] };
}

/**
 * Where to point for a syntax error: at the offending token, or, for a missing ')' or ']'
 * (inline closers) when the next token starts a later line, just after the previous token.
 */
function errorSpan(err: IRecognitionException, file: SourceFile): Span {
  const token = err.token;
  const previous = (err as { previousToken?: IToken }).previousToken;
  const missingCloser = err.name === 'MismatchedTokenException' && /expected '[)\]]'/.test(err.message);
  const prevEnd = missingCloser && previous && previous.startOffset >= 0 ? previous.endOffset! + 1 : undefined;
  if (isNaN(token.startOffset) || token.startOffset < 0) {
    const at = prevEnd ?? file.text.length;
    return { start: at, end: at };
  }
  if (prevEnd !== undefined && file.position(prevEnd).line < file.position(token.startOffset).line) {
    return { start: prevEnd, end: prevEnd };
  }
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
