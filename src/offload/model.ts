import { blockExpert, expertParameters } from '../model/experts.js';
import type { Block, LayerExpr, OffloadPolicy, ResolvedModel } from '../model/model.js';
import { DTYPE_BYTES } from '../ir/types.js';

/**
 * What offloading needs to know about a model: per MoE layer (each block call, in layer
 * order) the bytes of every routed expert at its stored precision, which experts stay
 * resident, and the weights a token reads anyway (routers,
 * shared experts, dense layers), which set the compute time of the timing model.
 */
export interface OffloadLayer {
  /** The model's layer index. */
  layer: number;
  /** Bytes of each routed expert, in router order; 0 for identity and null experts. */
  expertBytes: number[];
  /** Experts that never leave the device (a `resident` declaration): always hits, no slot. */
  resident: boolean[];
  /** Parameters of each routed expert: a degrade copy in dtype T has `params * bytes(T)` bytes. */
  expertParams: number[];
  /** Bytes every token reads at this layer besides its routed experts: routers, shared experts. */
  fixedBytes: number;
}

export interface OffloadModel {
  name: string;
  layers: OffloadLayer[];
  /** Bytes every token reads outside the MoE layers (dense FFN layers). */
  denseBytes: number;
  /** The model's offload policy, or the defaults (LRU, no prefetch, wait) when it has none. */
  policy: OffloadPolicy;
}

export const DEFAULT_POLICY: OffloadPolicy = { resident: [], cache: { kind: 'lru' }, prefetch: { kind: 'none' }, onMiss: { kind: 'wait' }, precision: {} };

export function offloadModel(model: ResolvedModel): OffloadModel {
  const modelPolicy = model.offload ?? DEFAULT_POLICY;
  const layers: OffloadLayer[] = [];
  let denseBytes = 0;
  const visit = (e: LayerExpr, layer: number): void => {
    if (e.op === 'var') return;
    if (e.op === 'add') return e.args.forEach((a) => visit(a, layer));
    visit(e.arg, layer);
    if (e.op === 'expert') denseBytes += expertParameters(model.experts[e.expert]!) * DTYPE_BYTES[modelPolicy.precision[e.expert] ?? model.weightDtype];
    if (e.op === 'block') layers.push(blockLayer(model, model.blocks[e.block]!, layer, modelPolicy));
  };
  for (const layer of model.layers) for (const st of layer.statements) visit(st.value, layer.index);
  return { name: model.name, layers, denseBytes, policy: modelPolicy };
}

function blockLayer(model: ResolvedModel, block: Block, layer: number, modelPolicy: OffloadPolicy): OffloadLayer {
  // A block's own policy replaces the model's for its experts (docs/language.md).
  const policy = block.offload ?? modelPolicy;
  const bytes = (name: string) => expertParameters(blockExpert(model, block, name)!) * DTYPE_BYTES[policy.precision[name] ?? model.weightDtype];
  const slots = block.experts.flatMap((s) => Array<string>(s.count).fill(s.expert));
  const routers = block.routers.reduce((n, r) => n + (r.stages[0]?.op === 'linear' ? r.stages[0].input * r.width : 0), 0);
  const copies = block.topology.kind === 'chain' ? block.topology.iterations : 1;
  const shared = block.shared.slots.reduce((n, s) => n + s.count * bytes(s.expert), 0);
  return {
    layer,
    expertBytes: slots.map((name) => bytes(name)),
    resident: slots.map((name) => policy.resident.includes(name)),
    expertParams: slots.map((name) => expertParameters(blockExpert(model, block, name)!)),
    fixedBytes: copies * routers * DTYPE_BYTES[model.weightDtype] + shared,
  };
}

/** The experts of each MoE layer, what a trace is checked against. */
export function traceShape(m: OffloadModel): { experts: number[] } {
  return { experts: m.layers.map((l) => l.expertBytes.length) };
}
