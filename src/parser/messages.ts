import type { IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
import { didYouMean } from '../diagnostics/suggest.js';
import { Identifier, ITEM_KEYWORDS, NumberLiteral, StringLiteral } from './tokens.js';

/** How a token type reads in a message: `'{'`, `'model'`, `a name`. */
function describeType(t: TokenType): string {
  if (t === Identifier) return 'a name';
  if (t === NumberLiteral) return 'a number';
  if (t === StringLiteral) return 'a string';
  if (t.name === 'EOF') return 'end of file';
  const pattern = t.PATTERN;
  const text = pattern instanceof RegExp ? pattern.source.replace(/\\b$/, '').replace(/\\/g, '') : String(pattern);
  return `'${text}'`;
}

function describeToken(t: IToken): string {
  return t.tokenType.name === 'EOF' ? 'end of file' : `'${t.image}'`;
}

/** What the parser was reading, for NoViableAlt messages, by rule name. */
/** A missing '}' usually means something unexpected inside the braces: say what belongs there. */
const closerContext: Record<string, string> = {
  body: "a declaration or '}'",
  bindings: "a binding 'name = value' or '}'",
};

const ruleDescriptions: Record<string, string> = {
  item: 'a declaration (dims, const, dtype, weights, expert, router, block, experts, shared, topology, scope, layers or offload)',
  section: "'dims', 'const' or 'offload'",
  setting: "'dtype', 'weights', 'topology' or 'scope'",
  primary: 'an expression (a number, name, call, string, list or record)',
  unary: 'an expression (a number, name, call, string, list or record)',
};

const itemWords = [...ITEM_KEYWORDS].map((t) => String(t.name).replace(/^Kw_/, ''));

/** A misspelt keyword where `words` could start: `; did you mean 'dims'?`. */
function hint(actual: IToken, words: readonly string[]): string {
  return actual.tokenType === Identifier ? didYouMean(actual.image, words) : '';
}

const outsideModel = (actual: IToken) => {
  const maybe = hint(actual, ['model']);
  return `expected 'model' but found ${describeToken(actual)}${maybe}${maybe ? ' Everything' : '; everything'} in a file lives inside 'model NAME { ... }'`;
};


export const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual, ruleName }) => {
    if (expected.name === 'EOF') return outsideModel(actual);
    if (expected.name === 'RBrace' && ruleName === 'bindings' && ITEM_KEYWORDS.has(actual.tokenType)) {
      return `expected a binding 'name = value' or '}' but found ${describeToken(actual)}; is the '}' that closes this section missing?`;
    }
    const hints = expected.name === 'RBrace' && ruleName === 'body' ? hint(actual, itemWords) : '';
    return `expected ${closerContext[ruleName] && expected.name === 'RBrace' ? closerContext[ruleName] : describeType(expected)} but found ${describeToken(actual)}${hints}`;
  },
  buildNotAllInputParsedMessage: ({ firstRedundant }) => outsideModel(firstRedundant),
  buildNoViableAltMessage: ({ actual, ruleName }) =>
    `expected ${ruleDescriptions[ruleName] ?? 'something else'} but found ${describeToken(actual[0]!)}${ruleName === 'item' ? hint(actual[0]!, itemWords) : ''}`,
  buildEarlyExitMessage: ({ actual, ruleName }) =>
    `expected ${ruleDescriptions[ruleName] ?? 'more input'} but found ${describeToken(actual[0]!)}`,
};
