import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Expr } from '../parser/ast.js';
import { containsError } from '../parser/walk.js';
import { checkExact, checkSize } from './limits.js';
import { describeKind, didYouMean, type Scope, type Symbol } from './scope.js';

/**
 * Constant evaluation of dims and constants: numbers, names, `+ - * / %`, unary minus.
 * Each constant is evaluated once, on first use, so definitions may appear in any order;
 * a constant that is reached again while it is being evaluated is a cycle. Every literal and
 * every result stays within 2^53 - 1 (E0314), so integer arithmetic is exact; dims are sizes
 * (E0315). Returns undefined for anything already reported.
 */
export class ConstantEvaluator {
  private readonly values = new Map<Symbol, number | undefined>();
  private readonly active = new Set<Symbol>();

  constructor(
    private readonly diags: DiagnosticBag,
    /** The scope names resolve in when a caller gives none (the model scope). */
    private readonly scope: Scope,
  ) {}

  valueOf(sym: Symbol): number | undefined {
    if (this.values.has(sym)) return this.values.get(sym);
    if (this.active.has(sym)) {
      this.diags.report('E0204', sym.span, `'${sym.name}' is defined in terms of itself; give one constant in the cycle a literal value`);
      this.values.set(sym, undefined);
      return undefined;
    }
    this.active.add(sym);
    const v = sym.value ? this.evaluate(sym.value, undefined) : undefined;
    this.active.delete(sym);
    let result = v;
    if (v !== undefined && sym.kind === 'dim' && sym.value) {
      if (!Number.isInteger(v)) {
        this.diags.report('E0302', sym.value.span, `dim '${sym.name}' evaluates to ${v}, not an integer; declare fractional values in 'const { }'`);
        result = undefined;
      } else if (v < 1) {
        this.diags.report('E0301', sym.value.span, `dim '${sym.name}' must be at least 1, but evaluates to ${v}`);
        result = undefined;
      } else if (!checkSize(this.diags, v, sym.value.span, `dim '${sym.name}'`)) result = undefined;
    }
    if (!this.values.has(sym)) this.values.set(sym, result);
    return this.values.get(sym);
  }

  /** Evaluate `expr` in `scope` (undefined: the scope given at construction of the symbols). */
  evaluate(expr: Expr, scope: Scope | undefined): number | undefined {
    switch (expr.kind) {
      case 'Number':
        if (expr.unit) {
          this.diags.report('E0307', expr.unit.span, `unexpected unit '${expr.unit.text}': units are only for memory sizes such as an offload budget`);
          return undefined;
        }
        return checkExact(this.diags, expr.value, expr.span, expr.raw) ? expr.value : undefined;
      case 'NameRef': {
        const sym = (scope ?? this.scope).lookupKind(expr.name.text, ['dim', 'const']);
        if (!sym) {
          const names = (scope ?? this.scope).visible().filter((s) => s.kind === 'dim' || s.kind === 'const').map((s) => s.name);
          this.diags.report('E0201', expr.span, `unknown dim or constant '${expr.name.text}'${didYouMean(expr.name.text, names)}`);
          return undefined;
        }
        sym.used = true;
        if (sym.kind !== 'dim' && sym.kind !== 'const') {
          this.diags.report('E0203', expr.span, `'${sym.name}' is ${describeKind(sym.kind)}, but a number is needed here`);
          return undefined;
        }
        return this.valueOf(sym);
      }
      case 'Unary': {
        const v = this.evaluate(expr.operand, scope);
        return v === undefined ? undefined : -v;
      }
      case 'Binary': {
        if (expr.op === '..') break;
        const l = this.evaluate(expr.left, scope);
        const r = this.evaluate(expr.right, scope);
        if (l === undefined || r === undefined) return undefined;
        if ((expr.op === '/' || expr.op === '%') && r === 0) {
          this.diags.report('E0303', expr.right.span, `division by zero in '${expr.op}'`);
          return undefined;
        }
        const v = expr.op === '+' ? l + r : expr.op === '-' ? l - r : expr.op === '*' ? l * r : expr.op === '/' ? l / r : l % r;
        return checkExact(this.diags, v, expr.span, `${l} ${expr.op} ${r} = ${v}`) ? v : undefined;
      }
      case 'Error':
        return undefined;
      default:
        break;
    }
    if (containsError(expr)) return undefined; // the parser already reported it
    this.diags.report('E0304', expr.span, 'expected a number: a literal, a dim or constant name, or arithmetic with + - * / %');
    return undefined;
  }
}

