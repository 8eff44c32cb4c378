import type { Span } from '../diagnostics/source.js';
import type { CallExpr, Expr, LayersItem } from '../parser/ast.js';
import { NORMS } from '../language/signatures.js';
import { bindCall, checkInt } from './args.js';
import type { CheckContext } from './context.js';
import { resolveExpert } from './experts.js';
import type { Layer, LayerExpr } from '../model/model.js';
import { didYouMean } from './scope.js';

/** The width of the residual stream, set by the first block or expert applied in a layer. */
export interface StreamWidth {
  width?: number;
  span?: Span;
}

/** Block widths known before layers are checked (undefined: the block adopts the stream width). */
export type BlockWidths = Map<string, number | undefined>;

/**
 * Expand `layers` sections into one Layer per index. Sections are half-open ranges
 * (`layers 61`, `layers 3..61`, `layers 0..24 step 2`) that must cover 0..n-1 exactly once.
 */
/** `reportNone`: report a model without layers (not when a syntax error may have hidden them). */
export function resolveLayers(ctx: CheckContext, items: LayersItem[], blocks: BlockWidths, stream: StreamWidth, modelSpan: Span, reportNone = true): Layer[] {
  const owner = new Map<number, LayersItem>();
  const layers: Layer[] = [];
  for (const item of items) {
    if (item.broken) continue;
    const indices = layerIndices(ctx, item);
    const statements = resolveStatements(ctx, item, blocks, stream);
    if (!indices) continue;
    let overlap = false;
    for (const i of indices) {
      const prev = owner.get(i);
      if (prev) {
        // One report per section; the indices it does define still count for coverage.
        if (!overlap) ctx.diags.report('E0702', item.range.span, `layer ${i} is already defined by another 'layers' section`, [{ span: prev.range.span, message: `layer ${i} is defined here` }]);
        overlap = true;
        continue;
      }
      owner.set(i, item);
      if (statements) layers.push({ index: i, statements });
    }
  }
  if (items.length === 0 && reportNone) {
    ctx.diags.report('E0707', modelSpan, "the model has no layers; add a section such as 'layers 32 { x = x + moe(rmsnorm(x)) }'");
  }
  let count = 0;
  for (const i of owner.keys()) count = Math.max(count, i + 1);
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !owner.has(i));
  if (missing.length) {
    const next = owner.get(missing[0]! + 1) ?? owner.get(missing[missing.length - 1]! + 1);
    ctx.diags.report('E0703', next?.range.span ?? modelSpan, `no 'layers' section defines layer${missing.length > 1 ? 's' : ''} ${compress(missing)}; together the sections must cover every layer of 0..${count}`);
  }
  return layers.sort((a, b) => a.index - b.index);
}

function compress(list: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < list.length; ) {
    let j = i;
    while (j + 1 < list.length && list[j + 1] === list[j]! + 1) j++;
    parts.push(j > i ? `${list[i]}..${list[j]! + 1}` : String(list[i]));
    i = j + 1;
  }
  return parts.join(', ');
}

/** Real models have at most a few hundred layers; this bound keeps a typo from exhausting memory. */
const MAX_LAYERS = 10_000;

function layerIndices(ctx: CheckContext, item: LayersItem): number[] | undefined {
  const r = item.range;
  const isRange = r.kind === 'Binary' && r.op === '..';
  const from = isRange ? ctx.evaluator.evaluate(r.left, ctx.scope) : 0;
  const to = ctx.evaluator.evaluate(isRange ? r.right : r, ctx.scope);
  const step = item.step ? ctx.evaluator.evaluate(item.step, ctx.scope) : 1;
  if (from === undefined || to === undefined || step === undefined) return undefined;
  for (const [v, span] of [
    [from, isRange ? r.left.span : r.span],
    [to, r.span],
    [step, item.step?.span ?? r.span],
  ] as const) {
    if (!Number.isInteger(v)) {
      ctx.diags.report('E0302', span, `layer bounds must be integers, but one is ${v}`);
      return undefined;
    }
  }
  if (to > MAX_LAYERS) {
    ctx.diags.report('E0701', r.span, `${to} layers is more than moec supports (${MAX_LAYERS})`);
    return undefined;
  }
  if (from < 0 || to <= from) {
    ctx.diags.report('E0701', r.span, isRange ? `layer range ${from}..${to} is empty; ranges are half-open a..b with 0 <= a < b` : `layer count must be at least 1, but is ${to}`);
    return undefined;
  }
  if (!checkInt(ctx.diags, step, item.step?.span ?? r.span, 'step')) return undefined;
  const out: number[] = [];
  for (let i = from; i < to; i += step) out.push(i);
  return out;
}

function resolveStatements(ctx: CheckContext, item: LayersItem, blocks: BlockWidths, stream: StreamWidth): Layer['statements'] | undefined {
  const defined = new Set(['x']);
  const out: Layer['statements'] = [];
  let ok = true;
  for (const st of item.statements) {
    const value = tensorExpr(ctx, st.value, defined, blocks, stream);
    if (value) out.push({ target: st.name.text, value });
    else ok = false;
    defined.add(st.name.text);
  }
  return ok ? out : undefined;
}

function tensorExpr(ctx: CheckContext, e: Expr, defined: Set<string>, blocks: BlockWidths, stream: StreamWidth): LayerExpr | undefined {
  const sub = (x: Expr) => tensorExpr(ctx, x, defined, blocks, stream);
  switch (e.kind) {
    case 'NameRef':
      if (defined.has(e.name.text)) return { op: 'var', name: e.name.text };
      ctx.diags.report('E0705', e.span, `'${e.name.text}' is not assigned before this use in the layer${didYouMean(e.name.text, defined)}`);
      return undefined;
    case 'Binary': {
      if (e.op !== '+') break;
      const [l, r] = [sub(e.left), sub(e.right)];
      if (!l || !r) return undefined;
      const args = [l, r].flatMap((a) => (a.op === 'add' ? a.args : [a]));
      return { op: 'add', args };
    }
    case 'Call':
      return callExpr(ctx, e, sub, blocks, stream);
    case 'Error':
      return undefined;
    default:
      break;
  }
  ctx.diags.report('E0709', e.span, 'a layer statement combines tensors with calls and + only, as in x = x + moe(rmsnorm(x))');
  return undefined;
}

function callExpr(ctx: CheckContext, e: CallExpr, sub: (x: Expr) => LayerExpr | undefined, blocks: BlockWidths, stream: StreamWidth): LayerExpr | undefined {
  const name = e.callee.text;
  const positional = e.args.filter((a) => !a.name);
  const sym = ctx.scope.lookupKind(name, ['block', 'expert']);
  if (sym) sym.used = true;
  const norm = !sym ? NORMS.get(name) : undefined;
  if (!norm && (!sym || (sym.kind !== 'block' && sym.kind !== 'expert'))) {
    const callables = [...ctx.scope.visible().filter((s) => s.kind === 'block' || s.kind === 'expert').map((s) => s.name), ...NORMS.keys()];
    const what = sym ? `'${name}' is a ${sym.kind}` : `unknown function '${name}'`;
    ctx.diags.report(sym ? 'E0704' : 'E0201', e.callee.span, `${what}; a layer can call blocks, experts, rmsnorm and layernorm${didYouMean(name, callables)}`);
    return undefined;
  }
  if (positional.length !== 1) {
    ctx.diags.report('E0708', e.span, `${name} takes one tensor argument, but is given ${positional.length}`);
    return undefined;
  }
  const arg = sub(positional[0]!.value);
  if (norm) {
    const options: CallExpr = { ...e, args: e.args.filter((a) => a.name) };
    const call = bindCall(options, NORMS, 'E0704', 'a norm', ctx);
    const eps = call?.number('eps');
    if (!arg || eps === undefined) return undefined;
    return { op: norm.name as 'rmsnorm' | 'layernorm', eps, arg };
  }
  const named = e.args.find((a) => a.name);
  if (named) {
    ctx.diags.report('E0308', named.name!.span, `${name} takes no named arguments`);
    return undefined;
  }
  let width: number | undefined;
  if (sym!.kind === 'expert') {
    const expert = resolveExpert(ctx, sym!);
    if (!expert) return undefined;
    if (expert.kind === 'null') {
      ctx.diags.report('E0704', e.callee.span, `'${name}' is a null expert: called directly it adds nothing; remove the call`);
      return undefined;
    }
    if (expert.kind === 'ffn') {
      if (expert.input !== expert.output) {
        ctx.diags.report('E0706', e.callee.span, `expert '${name}' maps ${expert.input} to ${expert.output}, but a layer needs the stream width in and out`);
        return undefined;
      }
      width = expert.input;
    }
  } else {
    width = blocks.get(name);
  }
  if (width !== undefined) {
    if (stream.width === undefined) {
      stream.width = width;
      stream.span = e.callee.span;
    } else if (stream.width !== width) {
      ctx.diags.report('E0706', e.callee.span, `'${name}' works at width ${width}, but the model's stream has width ${stream.width}`, stream.span ? [{ span: stream.span, message: 'the stream width is set here' }] : []);
      return undefined;
    }
  }
  if (!arg) return undefined;
  return sym!.kind === 'block' ? { op: 'block', block: name, arg } : { op: 'expert', expert: name, arg };
}
