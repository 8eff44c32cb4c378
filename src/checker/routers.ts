import type { Expr } from '../parser/ast.js';
import type { Span } from '../diagnostics/source.js';
import { STAGES, type StagePhase, type StageSignature } from '../language/signatures.js';
import { bindCall, type BoundCall } from './args.js';
import type { CheckContext } from './context.js';
import type { Router, Stage } from '../model/model.js';
import type { StageArgs, StageDef } from '../stages/stage.js';
import { ROUTER_STAGES, stageDef, type RouterStage } from '../stages/table.js';

/** A resolved router plus what the block check needs: its input width and where things are. */
export interface RouterInfo {
  router: Router;
  /** Width of the gate input (linear only; hash and fixed read no activations). */
  input?: number;
  span: Span;
  /** Span of the stage that sets the width, for width-mismatch diagnostics. */
  widthSpan: Span;
  /** Span of the source stage's input dim, for input-mismatch diagnostics. */
  inputSpan: Span;
}

const phaseOrder: Record<StagePhase, number> = { source: 0, score: 1, select: 2, weight: 3 };

/**
 * Resolve a router pipeline `linear(h -> E) | softmax | topk(k) | normalize` and check the
 * stage order (source, scoring, selection, weighting) and the in-router sizes (k, groups).
 * Widths against the block are checked by the block.
 */
export function resolveRouter(ctx: CheckContext, name: string, value: Expr): RouterInfo | undefined {
  const items = value.kind === 'Chain' && value.op === '|' ? value.items : [value];
  const calls: BoundCall<StageSignature>[] = [];
  for (const item of items) {
    const call = bindCall(item, STAGES, 'E0501', 'a router stage', ctx);
    if (!call) return undefined;
    calls.push(call);
  }
  const source = calls[0]!;
  if (source.sig.phase !== 'source') {
    ctx.diags.report('E0502', source.span, `router '${name}' must start with a source stage such as linear(in -> experts), hash(...) or fixed(...), not ${source.sig.name}`);
    return undefined;
  }
  if (!checkOrder(ctx, name, calls)) return undefined;

  const stages: Stage[] = [];
  let width = 0;
  let input: number | undefined;
  let inputSpan = source.span;
  let selectable = 0; // live entries available to the selection stage
  for (const call of calls) {
    const stage = toStage(ctx, call, width, selectable);
    if (!stage) return undefined;
    stages.push(stage);
    switch (stage.op) {
      case 'linear':
        width = stage.width;
        input = stage.input;
        inputSpan = call.spanOf('shape');
        selectable = width;
        break;
      case 'hash':
      case 'fixed':
        width = stage.width;
        break;
      case 'topk':
        if (stage.k === 1 && calls.some((c) => c.sig.name === 'normalize')) {
          const norm = calls.find((c) => c.sig.name === 'normalize')!;
          ctx.diags.report('W0004', norm.span, `normalize after topk(1) makes every weight 1.0; remove it to keep the router probability`);
        }
        break;
      default:
        selectable = stageDef(stage).narrows?.(stage, width, selectable) ?? selectable;
        break;
    }
  }
  if (!checkZeroKeys(ctx, stages, calls)) return undefined;
  const router: Router = { name, width, stages, couplesTokens: calls.some((c) => c.sig.couples === true) };
  return { router, ...(input !== undefined ? { input } : {}), span: value.span, widthSpan: calls[0]!.span, inputSpan };
}

function checkOrder(ctx: CheckContext, name: string, calls: BoundCall<StageSignature>[]): boolean {
  const sources = calls.filter((c) => c.sig.phase === 'source');
  const selects = calls.filter((c) => c.sig.phase === 'select');
  const selfSelecting = calls[0]!.sig.name !== 'linear';
  if (sources.length > 1) {
    ctx.diags.report('E0510', sources[1]!.span, `router '${name}' has a second source stage; a router has one, first`);
    return false;
  }
  if (selfSelecting && selects.length > 0) {
    ctx.diags.report('E0510', selects[0]!.span, `${calls[0]!.sig.name} already selects the experts; remove ${selects[0]!.sig.name}`);
    return false;
  }
  if (!selfSelecting && selects.length === 0) {
    ctx.diags.report('E0503', calls[calls.length - 1]!.span, `router '${name}' never selects experts; add a selection stage such as topk(k)`);
    return false;
  }
  if (selects.length > 1) {
    ctx.diags.report('E0510', selects[1]!.span, `router '${name}' has a second selection stage (${selects[1]!.sig.name}); keep one`);
    return false;
  }
  let phase = 0;
  let selected = selfSelecting;
  for (const call of calls) {
    const p = phaseOrder[call.sig.phase];
    // softmax re-scores the selected entries (Mixtral's original routing): allowed after selection.
    const scoreAfterSelect = call.sig.name === 'softmax' && selected;
    if (p < phase && !scoreAfterSelect) {
      const where = call.sig.phase === 'score' ? 'before the selection stage' : call.sig.phase === 'select' ? 'before weighting stages' : 'after the source';
      ctx.diags.report('E0504', call.span, `${call.sig.name} must come ${where}`);
      return false;
    }
    if (call.sig.phase === 'weight' && !selected) {
      ctx.diags.report('E0504', call.span, `${call.sig.name} weighs the selected experts, so it must come after the selection stage`);
      return false;
    }
    if (call.sig.phase === 'select') selected = true;
    // hash and fixed select as they score: only weighting stages (and softmax) may follow them.
    phase = Math.max(phase, p, call === calls[0] && selfSelecting ? phaseOrder.select : 0);
  }
  return true;
}

/** The zero keys of group_limit(dropped = zero) feed the selection directly: no stage may rescore them. */
function checkZeroKeys(ctx: CheckContext, stages: Stage[], calls: BoundCall<StageSignature>[]): boolean {
  const from = stages.findIndex((s) => s.op === 'group_limit' && s.dropped === 'zero');
  if (from < 0) return true;
  for (let i = from + 1; i < calls.length && calls[i]!.sig.phase === 'score'; i++) {
    if (calls[i]!.sig.name === 'select_bias') continue;
    ctx.diags.report('E0504', calls[i]!.span, `${calls[i]!.sig.name} cannot follow group_limit(dropped = zero), whose zero keys feed the selection directly; move it before the group limit`);
    return false;
  }
  return true;
}

function toStage(ctx: CheckContext, call: BoundCall<StageSignature>, width: number, selectable: number): Stage | undefined {
  const tooMany = (k: number, span: Span, what: string, limit = width, from = 'the router scores') => {
    if (k <= limit) return false;
    ctx.diags.report('E0507', span, `${what} is ${k}, but ${from} only ${limit} experts`);
    return true;
  };
  switch (call.sig.name) {
    case 'linear': {
      const shape = call.shape('shape');
      const bias = call.bool('bias');
      if (!shape || bias === undefined) return undefined;
      if (shape.dims.length !== 2) {
        ctx.diags.report('E0311', shape.span, `linear takes 'in -> experts', but this shape has ${shape.dims.length} part${shape.dims.length === 1 ? '' : 's'}`);
        return undefined;
      }
      const [input, w] = shape.dims;
      if (input === undefined || w === undefined) return undefined;
      for (const v of [input, w]) {
        if (!Number.isInteger(v) || v < 1) {
          ctx.diags.report(Number.isInteger(v) ? 'E0301' : 'E0302', shape.span, `linear dims must be positive integers, but one is ${v}`);
          return undefined;
        }
      }
      return { op: 'linear', input, width: w, bias };
    }
    case 'hash': {
      const [w, k, seed] = [call.int('width'), call.int('k'), call.int('seed')];
      if (w === undefined || k === undefined || seed === undefined) return undefined;
      if (tooMany(k, call.spanOf('k'), 'hash(k)', w)) return undefined;
      return { op: 'hash', width: w, k, seed };
    }
    case 'fixed': {
      const [w, experts] = [call.int('width'), call.ints('experts')];
      if (w === undefined || experts === undefined) return undefined;
      if (experts.length === 0) {
        ctx.diags.report('E0301', call.spanOf('experts'), 'fixed(experts) must list at least one expert');
        return undefined;
      }
      const bad = experts.find((e) => e >= w);
      if (bad !== undefined) {
        ctx.diags.report('E0312', call.spanOf('experts'), `fixed routes to expert ${bad}, but there are only ${w} (indices 0..${w - 1})`);
        return undefined;
      }
      if (new Set(experts).size !== experts.length) {
        ctx.diags.report('E0313', call.spanOf('experts'), 'fixed lists an expert twice');
        return undefined;
      }
      return { op: 'fixed', width: w, experts };
    }
    default: {
      // Every stage after the source resolves through its definition (src/stages).
      const def = (ROUTER_STAGES as Record<string, StageDef<RouterStage>>)[call.sig.name];
      if (!def) throw new Error(`internal: stage ${call.sig.name} has no definition`);
      return def.resolve(stageArgs(ctx, call, width, selectable));
    }
  }
}

/** A bound call as a stage definition reads it. */
function stageArgs(ctx: CheckContext, call: BoundCall<StageSignature>, width: number, selectable: number): StageArgs {
  return {
    has: (name) => call.has(name),
    int: (name) => call.int(name),
    number: (name) => call.number(name),
    choice: (name) => call.choice(name),
    report: (code, message, param) => {
      ctx.diags.report(code, param ? call.spanOf(param) : call.span, message);
      return undefined;
    },
    width,
    selectable,
    limited: selectable < width,
  };
}
