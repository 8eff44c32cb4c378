import type { IRecognitionException, IToken } from 'chevrotain';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { SourceFile, Span } from '../diagnostics/source.js';
import type { FileNode, Item, Model } from './ast.js';
import { parserInstance, TooManySyntaxErrors } from './grammar.js';
import { Keywords, LBrace, LBracket, LParen, Minus, moeLexer, RBrace, RBracket, RParen, UNTERMINATED, UnterminatedString } from './tokens.js';
import { toAst, tokenSpan } from './to-ast.js';

export interface ParseResult {
  ast: FileNode;
  /** Comment tokens, kept for tools that print source (the formatter). */
  comments: IToken[];
}

/**
 * Bounds that keep parsing linear and its recursion shallow, whatever the input: syntax errors
 * recorded before the parser stops (and runs of unexpected characters listed one by one),
 * bracket and sign nesting, and expression depth (a chain `a + b + ...` nests one level per
 * operator in the AST that later phases walk).
 */
export const PARSE_LIMITS = { errors: 100, nesting: 64, depth: 256 } as const;

/** Scan and parse one file. Syntax errors land in `diags`; the AST is always returned. */
export function parseSource(file: SourceFile, diags: DiagnosticBag): ParseResult {
  const reported = new Set<number>();
  const reportOnce = (code: 'E0101' | 'E0102' | 'E0103' | 'E0104', span: Span, message: string) => {
    if (reported.has(span.start)) return;
    reported.add(span.start);
    diags.report(code, span, message);
  };
  /** Up to the error limit one by one, then one diagnostic that counts the rest. */
  const reportEach = <T>(items: readonly T[], code: 'E0101' | 'E0102', spanOf: (item: T) => Span, message: (item: T) => string, what: string) => {
    for (const item of items.slice(0, PARSE_LIMITS.errors)) reportOnce(code, spanOf(item), message(item));
    const next = items[PARSE_LIMITS.errors];
    if (next) reportOnce(code, spanOf(next), `${items.length - PARSE_LIMITS.errors} more ${what} from here on, not listed one by one: is this a .moe file?`);
  };
  const lexed = moeLexer.tokenize(file.text);
  reportEach(
    lexed.errors,
    'E0101',
    (err) => ({ start: err.offset, end: err.offset + Math.max(1, err.length) }),
    (err) => `unexpected character${err.length > 1 ? 's' : ''} ${JSON.stringify(file.text.slice(err.offset, err.offset + Math.min(Math.max(1, err.length), 20)))}${err.length > 20 ? '...' : ''}`,
    'runs of unexpected characters',
  );
  reportEach(lexed.tokens.filter((t) => t.tokenType === UnterminatedString), 'E0102', tokenSpan, () => 'unterminated string: add the closing \'"\' on the same line', 'unterminated strings');
  // A comment left open swallows the rest of the file: report it, not what went missing after it.
  const openComment = lexed.groups[UNTERMINATED]?.[0];
  if (openComment) reportOnce('E0103', { start: openComment.startOffset, end: openComment.startOffset + 2 }, "unterminated comment: add the closing '*/'");

  const empty: FileNode = { kind: 'File', models: [], span: { start: 0, end: file.text.length } };
  const tooDeep = deepestNesting(lexed.tokens);
  if (tooDeep) {
    reportOnce('E0104', tokenSpan(tooDeep), `brackets and minus signs nest more than ${PARSE_LIMITS.nesting} levels deep here; moec reads at most ${PARSE_LIMITS.nesting}`);
    return { ast: empty, comments: [] };
  }

  // Each model is parsed and turned into an AST on its own, so only one model's CST is alive at a time.
  const parser = parserInstance();
  const models: Model[] = [];
  const errors: IRecognitionException[] = [];
  const deep: Span[] = [];
  let stopped = false;
  for (const chunk of modelChunks(lexed.tokens)) {
    parser.input = chunk;
    parser.errorLimit = PARSE_LIMITS.errors - errors.length;
    try {
      const cst = parser.file();
      models.push(...toAst(cst, { maxDepth: PARSE_LIMITS.depth, tooDeep: (span) => deep.push(span), recovered: parser.errors.length > 0 }).models);
    } catch (err) {
      if (!(err instanceof TooManySyntaxErrors)) throw err;
      stopped = true;
    }
    // Text after a model that closed early is the echo of an error inside it, not a mistake of its own.
    errors.push(...parser.errors.filter((e, i) => i === 0 || !isOutsideModel(e)));
    if (stopped) break;
  }
  const ast: FileNode = { kind: 'File', models, span: models.length ? { start: models[0]!.span.start, end: models.at(-1)!.span.end } : empty.span };

  const reportedItems = new Set<Item>();
  const lexErrorStarts = lexed.errors.map((e) => e.offset);
  for (const err of errors) {
    const span = errorSpan(err, file);
    if (openComment && span.start >= openComment.startOffset) continue;
    // One mistake, one diagnostic: recovery can trip over the same broken item again, and a
    // character the scanner rejected usually derails the parser in its item too.
    const item = innermostItem(ast, span.start);
    if (item && lexErrorStarts.some((at) => item.span.start <= at && at < item.span.end)) continue;
    if (item) {
      if (reportedItems.has(item)) continue;
      reportedItems.add(item);
    }
    reportOnce('E0104', span, err.message);
  }
  if (stopped) {
    const last = errorSpan(errors.at(-1)!, file);
    diags.report('E0104', last, `stopped reading the file after ${PARSE_LIMITS.errors} syntax errors; fix the ones above first`);
  }
  for (const span of deep) reportOnce('E0104', span, `this expression nests more than ${PARSE_LIMITS.depth} operations deep; split it into named constants`);
  return { ast, comments: lexed.groups['comments'] ?? [] };
}

/** An error that says input continues where a model or the file should end. */
function isOutsideModel(err: IRecognitionException): boolean {
  return err.name === 'NotAllInputParsedException' || (err.name === 'MismatchedTokenException' && err.message.startsWith("expected 'model'"));
}

/** The token where brackets and unary minus signs first nest deeper than the limit. */
function deepestNesting(tokens: readonly IToken[]): IToken | undefined {
  let depth = 0;
  let minuses = 0;
  for (const t of tokens) {
    const type = t.tokenType;
    if (type === LParen || type === LBracket || type === LBrace) depth++;
    else if (type === RParen || type === RBracket || type === RBrace) depth = Math.max(0, depth - 1);
    minuses = type === Minus ? minuses + 1 : 0;
    if (depth + minuses > PARSE_LIMITS.nesting) return t;
  }
  return undefined;
}

/** The tokens split before every `model` keyword outside braces: each chunk holds one model (the first also what precedes it). */
function modelChunks(tokens: IToken[]): IToken[][] {
  const chunks: IToken[][] = [];
  let start = 0;
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.tokenType === LBrace) depth++;
    else if (t.tokenType === RBrace) depth = Math.max(0, depth - 1);
    else if (t.tokenType === Keywords.model && depth === 0 && i > start) {
      chunks.push(tokens.slice(start, i));
      start = i;
    }
  }
  chunks.push(tokens.slice(start));
  return chunks;
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
