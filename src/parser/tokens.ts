import { createToken, Lexer, type TokenType } from 'chevrotain';

/**
 * The tokens of the .moe language. Keywords are *soft*: each keyword token is also an
 * Identifier (token category), so `experts`, `shared` or `step` still work as dim names
 * wherever the grammar expects a name.
 */
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

function keyword(word: string): TokenType {
  return createToken({
    name: `Kw_${word}`,
    pattern: new RegExp(`${word}\\b`),
    longer_alt: Identifier,
    categories: [Identifier],
  });
}

export const Keywords = {
  model: keyword('model'),
  dims: keyword('dims'),
  const: keyword('const'),
  dtype: keyword('dtype'),
  weights: keyword('weights'),
  expert: keyword('expert'),
  experts: keyword('experts'),
  shared: keyword('shared'),
  router: keyword('router'),
  block: keyword('block'),
  topology: keyword('topology'),
  scope: keyword('scope'),
  layers: keyword('layers'),
  step: keyword('step'),
  offload: keyword('offload'),
  gate: keyword('gate'),
  x: keyword('x'),
} as const;

/** The keywords that start an item (a model or block body entry). */
export const ITEM_KEYWORDS: ReadonlySet<TokenType> = new Set(
  (['dims', 'const', 'offload', 'dtype', 'weights', 'topology', 'scope', 'expert', 'router', 'block', 'experts', 'shared', 'layers'] as const).map((w) => Keywords[w]),
);

/** Whitespace, including a UTF-8 byte order mark some editors write at the start of a file. */
export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\uFEFF]+/, group: Lexer.SKIPPED });
export const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n]*/, group: 'comments' });
export const BlockComment = createToken({
  name: 'BlockComment',
  pattern: /\/\*[\s\S]*?\*\//,
  line_breaks: true,
  group: 'comments',
});
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"(?:[^"\\\n]|\\.)*"/ });
/**
 * Unterminated strings and comments lex as tokens of their own, to be reported once: the
 * string still reads as a string, so the parser goes on; the comment runs to the end of file.
 */
export const UNTERMINATED = 'unterminated';
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"(?:[^"\\\n]|\\.)*/, categories: [StringLiteral] });
export const UnterminatedComment = createToken({
  name: 'UnterminatedComment',
  pattern: /\/\*[\s\S]*/,
  line_breaks: true,
  group: UNTERMINATED,
});
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?/,
});

const punct = (name: string, pattern: RegExp) => createToken({ name, pattern });
export const Arrow = punct('Arrow', /->/);
export const DotDot = punct('DotDot', /\.\./);
export const LBrace = punct('LBrace', /\{/);
export const RBrace = punct('RBrace', /\}/);
export const LParen = punct('LParen', /\(/);
export const RParen = punct('RParen', /\)/);
export const LBracket = punct('LBracket', /\[/);
export const RBracket = punct('RBracket', /\]/);
export const Comma = punct('Comma', /,/);
export const Equals = punct('Equals', /=/);
export const Pipe = punct('Pipe', /\|/);
export const Plus = punct('Plus', /\+/);
export const Minus = punct('Minus', /-/);
export const Star = punct('Star', /\*/);
export const Slash = punct('Slash', /\//);
export const Percent = punct('Percent', /%/);

/** Order matters: comments before `/`, `->` before `-`, keywords before Identifier. */
export const allTokens: TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  UnterminatedComment,
  StringLiteral,
  UnterminatedString,
  NumberLiteral,
  Arrow,
  DotDot,
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Equals,
  Pipe,
  Plus,
  Minus,
  Star,
  Slash,
  Percent,
  ...Object.values(Keywords),
  Identifier,
];

export const moeLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
