import type { Expr } from '../parser/ast.js';
import { Writer } from './writer.js';

/** Lines longer than this break a router pipeline before a `|`. */
export const MAX_WIDTH = 100;

/**
 * Binding strength of each expression form, from docs/language.md's grammar:
 * pipe < range < shape < sum < product < unary < primary. The AST keeps no parentheses,
 * so the printer writes exactly those the structure needs.
 */
const PIPE = 1;
const RANGE = 2;
const SHAPE = 3;
const SUM = 4;
const PRODUCT = 5;
const UNARY = 6;
const PRIMARY = 7;

function strength(e: Expr): number {
  switch (e.kind) {
    case 'Chain':
      return e.op === '|' ? PIPE : SHAPE;
    case 'Binary':
      return e.op === '..' ? RANGE : e.op === '+' || e.op === '-' ? SUM : PRODUCT;
    case 'Unary':
      return UNARY;
    default:
      return PRIMARY;
  }
}

/** Prints expressions in canonical spacing; `source` supplies string literals as written. */
export class ExprPrinter {
  constructor(
    private readonly w: Writer,
    private readonly source: string,
  ) {}

  /**
   * Prints `e`, in parentheses when it binds more loosely than `min`. With `align`, a
   * top-level pipeline breaks before a `|` that would pass MAX_WIDTH, the `|` under `align`.
   */
  expr(e: Expr, min = PIPE, align?: number): void {
    this.w.flush(e.span.start);
    const parens = strength(e) < min;
    if (parens) this.w.write('(');
    this.bare(e, align);
    if (parens) this.w.write(')');
  }

  private bare(e: Expr, align: number | undefined): void {
    const w = this.w;
    switch (e.kind) {
      case 'Number':
        w.write(e.raw);
        if (e.unit) {
          w.flush(e.unit.span.start);
          w.space();
          w.write(e.unit.text);
        }
        return;
      case 'String':
        w.write(this.source.slice(e.span.start, e.span.end));
        return;
      case 'NameRef':
        w.write(e.name.text);
        return;
      case 'Call':
        w.write(e.callee.text);
        w.write('(');
        this.separated(e.args, (a) => {
          if (a.name) {
            w.flush(a.name.span.start);
            w.write(`${a.name.text} =`);
            w.space();
          }
          this.expr(a.value);
        });
        w.write(')');
        return;
      case 'Unary':
        w.write('-');
        this.expr(e.operand, UNARY);
        return;
      case 'Binary': {
        const own = strength(e);
        this.expr(e.left, e.op === '..' ? SHAPE : own);
        this.operator(e.op, e.right.span.start, e.op !== '..');
        this.expr(e.right, own + 1);
        return;
      }
      case 'Chain':
        if (e.op === '|') return this.pipeline(e.items, align);
        e.items.forEach((item, i) => {
          if (i > 0) this.operator('->', item.span.start, true);
          this.expr(item, SUM);
        });
        return;
      case 'List':
        w.write('[');
        this.separated(e.items, (item) => this.expr(item));
        w.write(']');
        return;
      case 'Record':
        if (e.entries.length === 0) return w.write('{}');
        w.write('{');
        w.space();
        this.separated(e.entries, (b) => {
          w.flush(b.name.span.start);
          w.write(`${b.name.text} =`);
          w.space();
          this.expr(b.value);
        });
        w.space();
        w.write('}');
        return;
      case 'Error':
        throw new Error('internal: the formatter met a syntax error the parser should have reported');
    }
  }

  private pipeline(stages: Expr[], align: number | undefined): void {
    stages.forEach((stage, i) => {
      if (i > 0) {
        this.w.flush(stage.span.start);
        if (align !== undefined && this.w.column + 3 + flatWidth(stage, this.source) > MAX_WIDTH) this.w.newline(align);
        else this.w.space();
        this.w.write('|');
        this.w.space();
      }
      this.expr(stage, RANGE);
    });
  }

  /** Comments between two operands go before the operator. */
  private operator(op: string, next: number, spaced: boolean): void {
    this.w.flush(next);
    if (spaced) this.w.space();
    this.w.write(op);
    if (spaced) this.w.space();
  }

  /** Items joined by ', '; comments before an item go after its comma. */
  private separated<T extends { span: { start: number } }>(items: readonly T[], print: (item: T) => void): void {
    items.forEach((item, i) => {
      if (i > 0) {
        this.w.write(',');
        this.w.flush(item.span.start);
        this.w.space();
      }
      print(item);
    });
  }
}

/** Width of `e` printed on one line without comments, to decide where a pipeline breaks. */
function flatWidth(e: Expr, source: string): number {
  const w = new Writer(source, []);
  new ExprPrinter(w, source).expr(e, RANGE);
  return w.column;
}
