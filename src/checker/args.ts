import type { Code } from '../diagnostics/codes.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Span } from '../diagnostics/source.js';
import type { Arg, Expr, Name } from '../parser/ast.js';
import { containsError } from '../parser/walk.js';
import { STORAGE_DTYPES, type Param, type Signature } from '../language/signatures.js';
import type { StorageDType } from '../model/model.js';
import type { ConstantEvaluator } from './evaluate.js';
import { checkSize } from './limits.js';
import { didYouMean, type Scope } from './scope.js';

/** A call bound to its signature: every parameter name maps to the argument given for it. */
export class BoundCall<S extends Signature = Signature> {
  constructor(
    readonly sig: S,
    readonly callee: Name,
    readonly span: Span,
    private readonly args: Map<string, Arg>,
    private readonly ctx: ArgContext,
  ) {}

  has(name: string): boolean {
    return this.args.has(name);
  }

  /** The span of an argument, or of the whole call when it was omitted. */
  spanOf(name: string): Span {
    return this.args.get(name)?.value.span ?? this.span;
  }

  private param(name: string): Param {
    const p = this.sig.params.find((q) => q.name === name);
    if (!p) throw new Error(`internal: ${this.sig.name} has no parameter ${name}`);
    return p;
  }

  number(name: string): number | undefined {
    const p = this.param(name);
    const arg = this.args.get(name);
    if (!arg) return p.default as number | undefined;
    const v = this.ctx.evaluator.evaluate(arg.value, this.ctx.scope);
    if (v === undefined) return undefined;
    return this.inRange(p, v, arg.value.span) ? v : undefined;
  }

  int(name: string): number | undefined {
    const p = this.param(name);
    const arg = this.args.get(name);
    if (!arg) return p.default as number | undefined;
    const v = this.ctx.evaluator.evaluate(arg.value, this.ctx.scope);
    if (v === undefined) return undefined;
    return checkInt(this.ctx.diags, v, arg.value.span, `${this.sig.name}(${name})`, p.min ?? 1, p.max) ? v : undefined;
  }

  private inRange(p: Param, v: number, span: Span): boolean {
    const lo = p.gt !== undefined ? `> ${p.gt}` : p.min !== undefined ? `>= ${p.min}` : undefined;
    const ok = (p.gt === undefined || v > p.gt) && (p.min === undefined || v >= p.min) && (p.max === undefined || v <= p.max);
    if (!ok) {
      const range = [lo, p.max !== undefined ? `<= ${p.max}` : undefined].filter(Boolean).join(' and ');
      this.ctx.diags.report('E0312', span, `${this.sig.name}(${p.name}) must be ${range}, but is ${v}`);
    }
    return ok;
  }

  choice(name: string): string | undefined {
    const p = this.param(name);
    const arg = this.args.get(name);
    if (!arg) return p.default as string | undefined;
    const options = typeof p.type === 'object' ? p.type.choice : p.type === 'bool' ? ['true', 'false'] : [];
    const word = arg.value.kind === 'NameRef' ? arg.value.name.text : undefined;
    if (word === undefined || !options.includes(word)) {
      this.ctx.diags.report('E0803', arg.value.span, `${this.sig.name}(${name}) must be one of ${options.join(', ')}${word ? didYouMean(word, options) : ''}`);
      return undefined;
    }
    return word;
  }

  bool(name: string): boolean | undefined {
    const arg = this.args.get(name);
    if (!arg) return this.param(name).default as boolean | undefined;
    if (arg.value.kind === 'NameRef' && (arg.value.name.text === 'true' || arg.value.name.text === 'false')) {
      return arg.value.name.text === 'true';
    }
    this.ctx.diags.report('E0311', arg.value.span, `${this.sig.name}(${name}) must be true or false`);
    return undefined;
  }

  /** A shape `a -> b -> c`, evaluated; an element is undefined where it failed (already reported). */
  shape(name: string): { dims: (number | undefined)[]; parts: Span[]; span: Span } | undefined {
    const arg = this.args.get(name);
    if (!arg) return undefined;
    const items = arg.value.kind === 'Chain' && arg.value.op === '->' ? arg.value.items : [arg.value];
    return { dims: items.map((e) => this.ctx.evaluator.evaluate(e, this.ctx.scope)), parts: items.map((e) => e.span), span: arg.value.span };
  }

  name(name: string): Name | undefined {
    const arg = this.args.get(name);
    if (!arg) return undefined;
    if (arg.value.kind === 'NameRef') return arg.value.name;
    this.ctx.diags.report('E0311', arg.value.span, `${this.sig.name}(${name}) must be a name`);
    return undefined;
  }

  ints(name: string): number[] | undefined {
    const arg = this.args.get(name);
    if (!arg) return undefined;
    if (arg.value.kind !== 'List') {
      this.ctx.diags.report('E0311', arg.value.span, `${this.sig.name}(${name}) must be a list of integers such as [0, 1]`);
      return undefined;
    }
    const out: number[] = [];
    for (const item of arg.value.items) {
      const v = this.ctx.evaluator.evaluate(item, this.ctx.scope);
      if (v === undefined || !checkInt(this.ctx.diags, v, item.span, `${this.sig.name}(${name})`, 0)) return undefined;
      out.push(v);
    }
    return out;
  }

  dtype(name: string): StorageDType | undefined {
    const arg = this.args.get(name);
    return arg ? dtypeOf(this.ctx.diags, arg.value) : undefined;
  }
}

export interface ArgContext {
  diags: DiagnosticBag;
  evaluator: ConstantEvaluator;
  scope: Scope;
}

/** Check that `v` is an integer in [min, max] (max: the size limit); report E0302 / E0301 / E0312 / E0315 otherwise. */
export function checkInt(diags: DiagnosticBag, v: number, span: Span, what: string, min = 1, max?: number): boolean {
  if (!Number.isInteger(v)) {
    diags.report('E0302', span, `${what} must be an integer, but is ${v}`);
    return false;
  }
  if (v < min) {
    diags.report(min === 1 ? 'E0301' : 'E0312', span, `${what} must be at least ${min}, but is ${v}`);
    return false;
  }
  if (max !== undefined && v > max) {
    diags.report('E0312', span, `${what} must be at most ${max}, but is ${v}`);
    return false;
  }
  return max !== undefined || checkSize(diags, v, span, what);
}

export function dtypeOf(diags: DiagnosticBag, e: Expr): StorageDType | undefined {
  if (containsError(e)) return undefined;
  const word = e.kind === 'NameRef' ? e.name.text : undefined;
  if (word && (STORAGE_DTYPES as readonly string[]).includes(word)) return word as StorageDType;
  diags.report('E0305', e.span, `unknown dtype${word ? ` '${word}'` : ''}: use f32, f16 or bf16 (int8 and int4 for stored weights)${word ? didYouMean(word, STORAGE_DTYPES) : ''}`);
  return undefined;
}

/**
 * Bind a call (`topk(2)`, `score(recency = 0.3)`) or a bare name (`softmax`) to one of the
 * signatures in `table`. Positional arguments fill parameters in order. Reports unknown
 * callees with `unknownCode`, and argument errors with E0308-E0310 and E0313.
 */
export function bindCall<S extends Signature>(
  expr: Expr,
  table: ReadonlyMap<string, S>,
  unknownCode: Code,
  what: string,
  ctx: ArgContext,
): BoundCall<S> | undefined {
  if (containsError(expr)) return undefined;
  const callee = expr.kind === 'Call' ? expr.callee : expr.kind === 'NameRef' ? expr.name : undefined;
  const sig = callee && table.get(callee.text);
  if (!callee || !sig) {
    const known = [...table.keys()];
    const hint = callee ? didYouMean(callee.text, known) : '';
    const found = callee ? `'${callee.text}'` : 'this expression';
    ctx.diags.report(unknownCode, callee?.span ?? expr.span, `${found} is not ${what}${hint || `; expected one of ${known.join(', ')}`}`);
    return undefined;
  }
  const args = new Map<string, Arg>();
  let ok = true;
  let position = 0;
  for (const arg of expr.kind === 'Call' ? expr.args : []) {
    let param: Param | undefined;
    if (arg.name) {
      param = sig.params.find((p) => p.name === arg.name!.text);
      if (!param) {
        const accepted = sig.params.length ? `it accepts ${sig.params.map((p) => p.name).join(', ')}` : 'it takes no arguments';
        ctx.diags.report('E0308', arg.name.span, `${sig.name} has no parameter '${arg.name.text}'; ${accepted}`);
        ok = false;
        continue;
      }
    } else {
      param = sig.params[position++];
      if (!param) {
        ctx.diags.report('E0310', arg.span, `${sig.name} takes ${sig.params.length === 0 ? 'no arguments' : `at most ${sig.params.length} argument${sig.params.length > 1 ? 's' : ''}`}`);
        ok = false;
        continue;
      }
    }
    if (args.has(param.name)) {
      ctx.diags.report('E0313', arg.span, `${sig.name}(${param.name}) is given twice`);
      ok = false;
      continue;
    }
    args.set(param.name, arg);
  }
  for (const p of sig.params) {
    // After a bad argument, a "missing" parameter is usually the same mistake: report it once.
    if (ok && p.default === undefined && !p.optional && !args.has(p.name)) {
      ctx.diags.report('E0309', expr.span, `${sig.name} needs '${p.name}' (${p.doc})`);
      ok = false;
    }
  }
  return ok ? new BoundCall(sig, callee, expr.span, args, ctx) : undefined;
}
