import type { RouterSpec } from './ops.js';

/** Facts about a router spec that the builder, the passes and the reference all need. */

/** Params a route reads after its input, in order: gate weight, gate bias, selection bias. */
export function routerParamCount(r: RouterSpec): number {
  return (r.source.op === 'linear' ? 1 + (r.source.bias ? 1 : 0) : 0) + (r.selectBias ? 1 : 0);
}

/** Experts each token asks for: the k of a capacity limit. */
export function selectionsPerToken(r: RouterSpec): number {
  if (r.source.op === 'hash') return r.source.k;
  if (r.source.op === 'fixed') return r.source.experts.length;
  const select = r.stages.find((st) => st.op === 'topk' || st.op === 'top_p');
  return select?.op === 'topk' ? select.k : select?.op === 'top_p' ? select.max : 1;
}

/** The most experts one token can get: the route's slot count (expert choice: every expert). */
export function selectionSlots(r: RouterSpec): number {
  return r.stages.some((s) => s.op === 'expert_choice') ? r.width : selectionsPerToken(r);
}
