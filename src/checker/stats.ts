import { blockExpert, expertParameters } from '../model/experts.js';
import type { Block, Expert, LayerExpr, ResolvedModel, Router } from '../model/model.js';
import { stageDef } from '../stages/table.js';

/** A count that may vary from token to token (dynamic k, heterogeneous or null experts). */
export interface Range {
  min: number;
  max: number;
}

export interface BlockStats {
  /** Parameters of one instance of the block: routers, projections, routed and shared experts. */
  total: number;
  /** Parameters one token reads, each routed expert counted once however often it is chosen. */
  active: Range;
  /** Routed experts chosen per token and per routing step. */
  selected: Range;
}

/**
 * Parameter counts of a block. Active parameters: the routers (every chain iteration has its
 * own), the multi-head projections, the shared experts and gate, and the routed experts a
 * token can select: at least the `selected.min` smallest, at most the largest that all its
 * routing steps (chain iterations, heads) can reach.
 */
export function blockStats(model: ResolvedModel, block: Block): BlockStats {
  // Instances as (parameters, count) pairs, smallest first: counts may be large, never expanded.
  const routedSlots = block.experts.map((s) => ({ params: params(blockExpert(model, block, s.expert)), count: s.count })).sort((a, b) => a.params - b.params);
  const routed = sum(routedSlots.map((s) => s.params * s.count));
  const shared = sum(block.shared.slots.map((s) => s.count * params(blockExpert(model, block, s.expert))));
  const gate = block.shared.gate === 'sigmoid' ? block.width : 0;
  const steps = block.topology.kind === 'chain' ? block.topology.iterations : block.topology.kind === 'multihead' ? block.topology.heads : 1;
  const routerCopies = block.topology.kind === 'chain' ? block.topology.iterations : 1;
  const routers = routerCopies * sum(block.routers.map(routerParameters));
  const projections = block.topology.kind === 'multihead' ? 2 * block.width * block.width : 0;
  const selected = selections(expertRouter(block), block.expertCount);
  const fixed = routers + projections + shared + gate;
  return {
    total: fixed + routed,
    active: {
      min: fixed + sumFirst(routedSlots, selected.min),
      max: fixed + sumFirst([...routedSlots].reverse(), selected.max * steps),
    },
    selected,
  };
}

/** The parameters of the first `n` instances of `slots` (all of them when n exceeds their count). */
function sumFirst(slots: readonly { params: number; count: number }[], n: number): number {
  let total = 0;
  for (const s of slots) {
    const take = Math.min(s.count, n);
    total += take * s.params;
    n -= take;
  }
  return total;
}

/** The router that selects experts: the expert router of a union, else the block's router. */
function expertRouter(block: Block): Router {
  const t = block.topology;
  return (t.kind === 'union' && block.routers.find((r) => r.name === t.expertRouter)) || block.routers[0]!;
}

/** How many entries a router's pipeline selects per token. */
function selections(router: Router, experts: number): Range {
  let range: Range = { min: experts, max: experts };
  for (const s of router.stages) {
    if (s.op === 'hash') range = { min: s.k, max: s.k };
    else if (s.op === 'fixed') range = { min: s.experts.length, max: s.experts.length };
    else if (s.op !== 'linear') {
      // Selection stages say how many they select; capacity limits may leave a token none.
      const def = stageDef(s);
      const selects = def.selects?.(s, experts);
      if (selects) range = { min: selects.min, max: selects.max };
      if (def.drops) range = { min: 0, max: range.max };
    }
  }
  return range;
}

export function routerParameters(r: Router): number {
  let n = 0;
  for (const s of r.stages) {
    if (s.op === 'linear') n += s.input * s.width + (s.bias ? s.width : 0);
    else if (s.op === 'select_bias') n += r.width;
  }
  return n;
}

export interface ModelStats {
  total: number;
  active: Range;
}

/** Parameters of the compiled part of the model (FFNs, MoE blocks, norms) over all layers. */
export function modelStats(model: ResolvedModel): ModelStats {
  const stats = new Map(Object.values(model.blocks).map((b) => [b.name, blockStats(model, b)]));
  const acc: ModelStats = { total: 0, active: { min: 0, max: 0 } };
  const add = (total: number, active: Range) => {
    acc.total += total;
    acc.active.min += active.min;
    acc.active.max += active.max;
  };
  const visit = (e: LayerExpr): void => {
    switch (e.op) {
      case 'var':
        return;
      case 'add':
        return e.args.forEach(visit);
      case 'block': {
        const s = stats.get(e.block);
        if (s) add(s.total, s.active); // absent only where a syntax error dropped the block
        return visit(e.arg);
      }
      case 'expert': {
        const n = params(model.experts[e.expert]);
        add(n, { min: n, max: n });
        return visit(e.arg);
      }
      case 'rmsnorm':
      case 'layernorm': {
        const n = e.op === 'rmsnorm' ? model.width : 2 * model.width;
        add(n, { min: n, max: n });
        return visit(e.arg);
      }
    }
  };
  for (const layer of model.layers) for (const st of layer.statements) visit(st.value);
  return acc;
}

function params(e: Expert | undefined): number {
  return e ? expertParameters(e) : 0;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** 1234567 -> "1,234,567 (1.23 M)". */
export function formatCount(n: number): string {
  const exact = n.toLocaleString('en-US');
  const scales: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  const scale = scales.find(([s]) => n >= s);
  return scale ? `${exact} (${Number((n / scale[0]).toPrecision(3))} ${scale[1]})` : exact;
}

export function formatRange(r: Range, format: (n: number) => string = formatCount): string {
  return r.min === r.max ? format(r.min) : `${format(r.min)} to ${format(r.max)}`;
}
