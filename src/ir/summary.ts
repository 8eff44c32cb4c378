import type { Graph } from './graph.js';
import type { OpAttrs } from './ops.js';
import { evalDim } from './types.js';
import { expertWeights } from './weights.js';

/** Parameter counts of a graph: all weights, and an upper bound of those one token touches. */
export interface ParameterSummary {
  total: number;
  /** Every non-expert weight, plus for each moe op its slots times its largest expert. */
  activePerToken: number;
}

export function summarizeParameters(g: Graph): ParameterSummary {
  const count = (shape: readonly (number | string)[]) => shape.reduce<number>((p, d) => p * evalDim(d, 0), 1);
  const total = g.params.reduce((n, p) => n + count(p.type.shape), 0);
  let routedTotal = 0;
  let routedActive = 0;
  const seen = new Set<number>();
  for (const n of g.nodes) {
    if (n.op !== 'moe') continue;
    const { groups } = n.attrs as OpAttrs['moe'];
    const slots = n.src[1]!.type.shape[1] as number;
    const per = groups.map((gr) => expertWeights(gr.expert).reduce((s, w) => s + count(w.shape), 0));
    // Chain iterations reuse the same expert weights: count stored weights once.
    const weightIds = n.src.slice(2).map((w) => w.id);
    if (!weightIds.some((id) => seen.has(id))) routedTotal += groups.reduce((s, gr, i) => s + gr.count * per[i]!, 0);
    weightIds.forEach((id) => seen.add(id));
    routedActive += slots * Math.max(0, ...per);
  }
  return { total, activePerToken: total - routedTotal + routedActive };
}
