import { selections } from '../stages/table.js';
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
  return selections(r.stages, r.width)?.asks ?? 1;
}

/** The most experts one token can get: the route's slot count (expert choice: every expert). */
export function selectionSlots(r: RouterSpec): number {
  return r.source.op === 'linear' ? (selections(r.stages, r.width)?.slots ?? 1) : selectionsPerToken(r);
}
