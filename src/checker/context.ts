import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { DeclItem, Expr } from '../parser/ast.js';
import { containsError } from '../parser/walk.js';
import type { ArgContext } from './args.js';
import type { ConstantEvaluator } from './evaluate.js';
import type { Expert } from '../model/model.js';
import type { RouterInfo } from './routers.js';
import { describeKind, didYouMean, type Scope, type Symbol, type SymbolKind } from './scope.js';

/** What every checker phase shares: the sink, constant evaluation, and resolved experts. */
export interface CheckContext extends ArgContext {
  diags: DiagnosticBag;
  evaluator: ConstantEvaluator;
  /** The scope names resolve in (model, or a block). */
  scope: Scope;
  /** Experts resolved so far, by symbol (undefined: resolution failed and was reported). */
  experts: Map<Symbol, Expert | undefined>;
  /** Router declarations resolved so far (each is resolved, and reported on, once). */
  routers: Map<DeclItem, RouterInfo | undefined>;
}

export function withScope(ctx: CheckContext, scope: Scope): CheckContext {
  return { ...ctx, scope };
}

/** Resolve a name to a symbol of one of `kinds`, reporting E0201 / E0203 otherwise. */
export function resolveName(ctx: CheckContext, expr: Expr, kinds: SymbolKind[], what: string): Symbol | undefined {
  if (containsError(expr)) return undefined;
  if (expr.kind !== 'NameRef') {
    ctx.diags.report('E0311', expr.span, `expected the name of ${what}`);
    return undefined;
  }
  const text = expr.name.text;
  const sym = ctx.scope.lookupKind(text, kinds);
  if (!sym) {
    const candidates = ctx.scope.visible().filter((s) => kinds.includes(s.kind)).map((s) => s.name);
    ctx.diags.report('E0201', expr.span, `unknown ${what} '${text}'${didYouMean(text, candidates)}`);
    return undefined;
  }
  sym.used = true;
  if (!kinds.includes(sym.kind)) {
    ctx.diags.report('E0203', expr.span, `'${text}' is ${describeKind(sym.kind)}, not ${what}`, [{ span: sym.span, message: `'${text}' is declared here` }]);
    return undefined;
  }
  return sym;
}
