import type { ResolvedModel } from '../model/model.js';
import { ffnParameters } from '../model/expert-structure.js';
import type { Graph } from '../ir/graph.js';
import { DTYPE_BYTES, evalDim, type DType } from '../ir/types.js';
import { weightsByGroup } from '../ir/weights.js';

/**
 * plan-offload: from the model's offload policy and budget, which weights stay on the device,
 * how many routed experts the cache holds, and the prefetch schedule. Routed experts of a
 * declaration listed in `resident`, and every weight that is not a routed expert (norms,
 * routers, dense and shared experts), are resident; with `on_miss = degrade(T)` a T copy of
 * every cached expert is resident too.
 */
export interface OffloadPlan {
  budgetBytes: number;
  residentBytes: number;
  fallbackBytes: number;
  /** Bytes of one routed expert (the largest, at its stored precision). */
  expertBytes: number;
  cachedExperts: number;
  /** Experts the cache holds, in total and per MoE layer. */
  cacheSlots: number;
  cacheSlotsPerLayer: number;
  moeLayers: number;
  fits: boolean;
  cache: string;
  prefetch: { fromLayer: number; toLayer: number; top: number }[];
}

export function planOffload(model: ResolvedModel, g: Graph): OffloadPlan | undefined {
  const budget = model.offload?.budgetBytes;
  if (!budget) return undefined;
  const bytesOf = (dims: readonly (number | string)[], dtype: DType) => dims.reduce<number>((p, d) => p * evalDim(d, 0), 1) * DTYPE_BYTES[dtype];
  const routed = new Set<string>();
  let cachedExperts = 0;
  let expertBytes = 0;
  let fallbackBytes = 0;
  const moeLayers = new Set<number>();
  for (const n of g.nodes) {
    if (n.op !== 'moe') continue;
    const { groups, block, layer } = n.attrs;
    moeLayers.add(layer);
    // A block's own policy replaces the model's for its experts; the budget is model-wide.
    const policy = model.blocks[block]?.offload ?? model.offload!;
    const perGroup = weightsByGroup(groups, n.src.slice(2));
    for (const [i, group] of groups.entries()) {
      // A quantised weight is a dequant of its values and scales: both are the expert's params.
      const weights = perGroup[i]!.flatMap((o) => (o.op === 'dequant' ? o.src : [o]));
      if (policy.resident.includes(group.expert.name) || group.expert.kind !== 'ffn') continue;
      for (const p of weights) if (p.op === 'param') routed.add(p.attrs.name);
      const dtype = policy.precision[group.expert.name] ?? model.weightDtype;
      const one = ffnParameters(group.expert) * DTYPE_BYTES[dtype];
      expertBytes = Math.max(expertBytes, one);
      cachedExperts += group.count;
      if (policy.onMiss.kind === 'degrade') fallbackBytes += group.count * ffnParameters(group.expert) * DTYPE_BYTES[policy.onMiss.dtype];
    }
  }
  const residentBytes = g.params.filter((p) => !routed.has(p.name)).reduce((s, p) => s + bytesOf(p.type.shape, p.type.dtype), 0);
  const free = budget - residentBytes - fallbackBytes;
  const cacheSlots = expertBytes > 0 ? Math.max(0, Math.min(cachedExperts, Math.floor(free / expertBytes))) : 0;
  const layers = [...moeLayers].sort((a, b) => a - b);
  const prefetch = model.offload!.prefetch;
  return {
    budgetBytes: budget,
    residentBytes,
    fallbackBytes,
    expertBytes,
    cachedExperts,
    cacheSlots,
    cacheSlotsPerLayer: layers.length ? Math.floor(cacheSlots / layers.length) : 0,
    moeLayers: layers.length,
    fits: free >= 0,
    cache: model.offload!.cache.kind === 'score' ? `score(recency = ${model.offload!.cache.recency})` : model.offload!.cache.kind,
    prefetch: prefetch.kind === 'next_layer' ? layers.slice(0, -1).map((l, i) => ({ fromLayer: l, toLayer: layers[i + 1]!, top: prefetch.top })) : [],
  };
}
