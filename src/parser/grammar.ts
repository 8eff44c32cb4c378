import { CstParser, type CstNode, type IToken, type TokenType } from 'chevrotain';
import { messages } from './messages.js';
import * as T from './tokens.js';

const K = T.Keywords;

/**
 * The grammar only: no semantics. Items are deliberately generic (a section of bindings,
 * a keyword with a value, a declaration, a member list), so one rule serves model and
 * block bodies alike; the checker decides what each keyword may contain and where.
 *
 *   file     := model*
 *   model    := 'model' NAME '{' item* '}'
 *   item     := section | setting | decl | block | members | layers
 *   section  := ('dims' | 'const' | 'offload') '{' binding* '}'
 *   setting  := ('dtype' | 'weights' | 'topology' | 'scope') expr
 *   decl     := ('expert' | 'router') NAME ('=' expr)?
 *   block    := 'block' NAME '{' item* '}'
 *   members  := ('experts' | 'shared') member (',' member)* ('gate' expr)?
 *   member   := NAME ('x' expr)?
 *   layers   := 'layers' expr ('step' expr)? '{' binding* '}'
 *   binding  := NAME '=' expr ','?
 *   expr     := pipe;  pipe := range ('|' range)*;  range := shape ('..' shape)?
 *   shape    := sum ('->' sum)*;  sum := product (('+'|'-') product)*
 *   product  := unary (('*'|'/'|'%') unary)*;  unary := '-' unary | primary
 *   primary  := NUMBER UNIT? | STRING | NAME ('(' args? ')')? | '(' expr ')'
 *             | '[' (expr ','?)* ']' | '{' binding* '}'
 *   arg      := (NAME '=')? expr
 */
export class MoeParser extends CstParser {
  /**
   * Recognition errors the parser records before it gives up (TooManySyntaxErrors): every
   * recovery inside a repetition recurses, so an unbounded number would exhaust the stack.
   */
  errorLimit = 100;

  constructor() {
    super(T.allTokens, { recoveryEnabled: true, nodeLocationTracking: 'onlyOffset', maxLookahead: 3, errorMessageProvider: messages });
    this.performSelfAnalysis();
  }

  /**
   * Recovery may stand in a missing token, except '{': an invented '{' opens a section that
   * swallows the items after it (`const a = 1` would read the whole model as constants).
   */
  protected override canTokenTypeBeInsertedInRecovery(tokType: TokenType): boolean {
    return tokType !== T.LBrace;
  }

  file = this.RULE('file', () => {
    this.MANY(() => this.SUBRULE(this.model));
  });

  model = this.RULE('model', () => {
    this.CONSUME(K.model);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.SUBRULE(this.body);
  });

  body = this.RULE('body', () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.item));
    this.CONSUME(T.RBrace);
  });

  item = this.RULE('item', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.section) },
      { ALT: () => this.SUBRULE(this.setting) },
      { ALT: () => this.SUBRULE(this.decl) },
      { ALT: () => this.SUBRULE(this.block) },
      { ALT: () => this.SUBRULE(this.members) },
      { ALT: () => this.SUBRULE(this.layers) },
    ]);
  });

  section = this.RULE('section', () => {
    this.OR([
      { ALT: () => this.CONSUME(K.dims, { LABEL: 'keyword' }) },
      { ALT: () => this.CONSUME(K.const, { LABEL: 'keyword' }) },
      { ALT: () => this.CONSUME(K.offload, { LABEL: 'keyword' }) },
    ]);
    this.SUBRULE(this.bindings);
  });

  bindings = this.RULE('bindings', () => {
    this.CONSUME(T.LBrace);
    // An item keyword not followed by '=' starts the next item: the '}' before it is missing.
    this.MANY({ GATE: () => !(T.ITEM_KEYWORDS.has(this.LA(1).tokenType) && this.LA(2).tokenType !== T.Equals), DEF: () => this.SUBRULE(this.binding) });
    this.CONSUME(T.RBrace);
  });

  setting = this.RULE('setting', () => {
    this.OR([
      { ALT: () => this.CONSUME(K.dtype, { LABEL: 'keyword' }) },
      { ALT: () => this.CONSUME(K.weights, { LABEL: 'keyword' }) },
      { ALT: () => this.CONSUME(K.topology, { LABEL: 'keyword' }) },
      { ALT: () => this.CONSUME(K.scope, { LABEL: 'keyword' }) },
    ]);
    this.SUBRULE(this.expr, { LABEL: 'value' });
  });

  decl = this.RULE('decl', () => {
    this.OR([
      { ALT: () => this.CONSUME(K.expert, { LABEL: 'keyword' }) },
      { ALT: () => this.CONSUME(K.router, { LABEL: 'keyword' }) },
    ]);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expr, { LABEL: 'value' });
    });
  });

  block = this.RULE('block', () => {
    this.CONSUME(K.block);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.SUBRULE(this.body);
  });

  members = this.RULE('members', () => {
    this.OR([
      { ALT: () => this.CONSUME(K.experts, { LABEL: 'keyword' }) },
      { ALT: () => this.CONSUME(K.shared, { LABEL: 'keyword' }) },
    ]);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.member) });
    this.OPTION(() => {
      this.CONSUME(K.gate);
      this.SUBRULE(this.expr, { LABEL: 'gate' });
    });
  });

  member = this.RULE('member', () => {
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(K.x);
      this.SUBRULE(this.expr, { LABEL: 'count' });
    });
  });

  layers = this.RULE('layers', () => {
    this.CONSUME(K.layers);
    this.SUBRULE(this.expr, { LABEL: 'range' });
    this.OPTION(() => {
      this.CONSUME(K.step);
      this.SUBRULE2(this.expr, { LABEL: 'step' });
    });
    this.SUBRULE(this.bindings);
  });

  binding = this.RULE('binding', () => {
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr, { LABEL: 'value' });
    this.OPTION(() => this.CONSUME(T.Comma));
  });

  expr = this.RULE('expr', () => {
    this.SUBRULE(this.range, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.Pipe, { LABEL: 'operators' });
      this.SUBRULE2(this.range, { LABEL: 'operands' });
    });
  });

  range = this.RULE('range', () => {
    this.SUBRULE(this.shape, { LABEL: 'operands' });
    this.OPTION(() => {
      this.CONSUME(T.DotDot, { LABEL: 'operators' });
      this.SUBRULE2(this.shape, { LABEL: 'operands' });
    });
  });

  shape = this.RULE('shape', () => {
    this.SUBRULE(this.sum, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.Arrow, { LABEL: 'operators' });
      this.SUBRULE2(this.sum, { LABEL: 'operands' });
    });
  });

  sum = this.RULE('sum', () => {
    this.SUBRULE(this.product, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Plus, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Minus, { LABEL: 'operators' }) },
      ]);
      this.SUBRULE2(this.product, { LABEL: 'operands' });
    });
  });

  product = this.RULE('product', () => {
    this.SUBRULE(this.unary, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Slash, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Percent, { LABEL: 'operators' }) },
      ]);
      this.SUBRULE2(this.unary, { LABEL: 'operands' });
    });
  });

  unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus, { LABEL: 'minus' });
          this.SUBRULE(this.unary, { LABEL: 'operand' });
        },
      },
      { ALT: () => this.SUBRULE(this.primary, { LABEL: 'operand' }) },
    ]);
  });

  primary = this.RULE('primary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.NumberLiteral, { LABEL: 'number' });
          // A unit is a plain, unit-shaped name (B, MiB, Gb...) right after a number that does not
          // start a binding; the checker then says which units exist.
          this.OPTION({
            GATE: () => this.LA(1).tokenType === T.Identifier && /^[kKmMgGtT]?i?[bB]$/.test(this.LA(1).image) && this.LA(2).tokenType !== T.Equals,
            DEF: () => this.CONSUME(T.Identifier, { LABEL: 'unit' }),
          });
        },
      },
      { ALT: () => this.CONSUME(T.StringLiteral, { LABEL: 'string' }) },
      {
        ALT: () => {
          this.CONSUME2(T.Identifier, { LABEL: 'name' });
          this.OPTION2(() => {
            this.CONSUME(T.LParen, { LABEL: 'call' });
            this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg, { LABEL: 'args' }) });
            this.CONSUME(T.RParen);
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME2(T.LParen);
          this.SUBRULE(this.expr, { LABEL: 'paren' });
          this.CONSUME2(T.RParen);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LBracket, { LABEL: 'list' });
          this.MANY(() => {
            this.SUBRULE2(this.expr, { LABEL: 'items' });
            this.OPTION3(() => this.CONSUME(T.Comma));
          });
          this.CONSUME(T.RBracket);
        },
      },
      { ALT: () => this.SUBRULE(this.bindings, { LABEL: 'record' }) },
    ]);
  });

  arg = this.RULE('arg', () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === T.Equals,
      DEF: () => {
        this.CONSUME(T.Identifier, { LABEL: 'name' });
        this.CONSUME(T.Equals);
      },
    });
    this.SUBRULE(this.expr, { LABEL: 'value' });
  });
}

/** Thrown out of a parse when the parser has recorded `errorLimit` errors. */
export class TooManySyntaxErrors extends Error {}

// chevrotain records every recognition error through SAVE_ERROR (left out of its typings).
type ErrorSaver = { SAVE_ERROR(this: MoeParser, error: unknown): unknown };
const saveError = (CstParser.prototype as unknown as ErrorSaver).SAVE_ERROR;
(MoeParser.prototype as unknown as ErrorSaver).SAVE_ERROR = function (this: MoeParser, error: unknown) {
  const saved = saveError.call(this, error);
  if (this.errors.length >= this.errorLimit) throw new TooManySyntaxErrors();
  return saved;
};

/** One parser instance per process: building it runs the grammar analysis, which is the slow part. */
let instance: MoeParser | undefined;
export function parserInstance(): MoeParser {
  return (instance ??= new MoeParser());
}

export type { CstNode, IToken };
