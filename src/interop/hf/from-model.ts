import type { Block, FfnExpert, LayerExpr, ResolvedModel } from '../../model/model.js';
import type { RouterStage } from '../../stages/table.js';
import type { StoredDType } from '../../runtime/safetensors.js';
import { InteropError } from './config.js';
import type { ExpertOptions, FfnKind, LayerKind, MoeStack, Sites } from './stack.js';

/** A moec model read as an FFN/MoE stack, with its router's stages after `linear`. */
export interface ModelStack {
  stack: MoeStack;
  stages: RouterStage[];
  sites: Sites;
}

/**
 * Read a resolved model as the stack every Hugging Face family shares: layers of
 * `x = x + F(rmsnorm(x))` (or Arctic's parallel dense + MoE), one block with one linear router
 * over one expert declaration, at most one shared expert. Anything else has no Hugging Face
 * equivalent, and the error names it.
 */
export function modelToStack(m: ResolvedModel): ModelStack {
  const no = (construct: string): never => {
    throw new InteropError(`model ${m.name}: ${construct} has no Hugging Face equivalent, so it cannot be exported`);
  };
  const blocks = Object.values(m.blocks);
  if (blocks.length > 1) no(`a second block (${blocks.map((b) => b.name).join(', ')})`);
  const block = blocks[0];
  const kinds: LayerKind[] = [];
  let eps: number | undefined;
  let dense: string | undefined;
  for (const layer of m.layers) {
    if (layer.statements.length !== 1 || layer.statements[0]!.target !== 'x') no(`layer ${layer.index}'s body (more than one statement)`);
    const calls = residualCalls(layer.statements[0]!.value) ?? no(`layer ${layer.index}'s body (not x = x + F(rmsnorm(x)) or x = x + dense(rmsnorm(x)) + moe(rmsnorm(x)))`);
    for (const c of calls) {
      if (eps !== undefined && c.eps !== eps) no(`a second norm epsilon (${c.eps} and ${eps})`);
      eps = c.eps;
      if (c.op === 'expert') {
        if (dense !== undefined && dense !== c.name) no(`a second dense expert (${dense} and ${c.name})`);
        dense = c.name;
      }
    }
    const shape = calls.map((c) => c.op).join(',');
    kinds.push(shape === 'expert' ? 'dense' : shape === 'block' ? 'moe' : shape === 'expert,block' ? 'parallel' : no(`layer ${layer.index}'s body (${shape})`));
  }
  const ffns = (name: string): FfnExpert => {
    const e = m.experts[name]!;
    if (e.kind !== 'ffn') return no(`expert ${name} (${e.kind})`);
    if (e.rank || e.latent) return no(`expert ${name} (${e.rank ? 'low-rank' : 'latent'})`);
    return e;
  };
  const kindOf = (e: FfnExpert): FfnKind => (e.gated ? (e.act === 'silu' ? 'swiglu' : e.act === 'gelu' ? 'geglu' : e.act === 'gelu_tanh' ? 'geglu_tanh' : no(`expert ${e.name} (gated ${e.act})`)) : e.act);
  const used = [...(dense ? [ffns(dense)] : []), ...(block ? [...block.experts, ...block.shared.slots].map((s) => ffns(s.expert)) : [])];
  const kind = kindOf(used[0] ?? no('a model without experts'));
  for (const e of used) if (kindOf(e) !== kind) no(`experts of two kinds (${kind} and ${kindOf(e)})`);
  // Options (biases, the clamped SwiGLU) only on the routed experts, as gpt-oss has them.
  const routed = block ? ffns(block.experts[0]!.expert) : undefined;
  for (const e of used) if (e !== routed && Object.keys(optionsOf(e)).length) no(`expert ${e.name}'s ${Object.keys(optionsOf(e)).join(', ')} on a dense or shared expert`);
  const expert = routed && optionsOf(routed);
  const moe = block ? blockSpec(block, ffns, no) : undefined;
  const weights: StoredDType = m.weightDtype === 'f32' ? 'F32' : m.weightDtype === 'bf16' ? 'BF16' : m.weightDtype === 'f16' ? 'F16' : no(`weights ${m.weightDtype}`);
  if (m.dtype !== 'f32' && m.dtype !== m.weightDtype) no(`dtype ${m.dtype} with weights ${m.weightDtype}`);
  if (m.offload) no('an offload policy');
  const stack: MoeStack = {
    name: m.name,
    notes: [],
    hidden: m.width,
    eps: eps!,
    weights,
    kind,
    ...(expert && Object.keys(expert).length ? { expert } : {}),
    layers: kinds,
    ...(dense ? { denseFfn: ffns(dense).hidden } : {}),
    ...(moe ? { moe: moe.spec } : {}),
  };
  const sites: Sites = { block: block?.name ?? 'moe', gate: block?.routers[0]!.name ?? 'gate', routed: block?.experts[0]!.expert ?? 'routed', shared: block?.shared.slots[0]?.expert ?? 'common', dense: dense ?? 'dense' };
  return { stack, stages: moe?.stages ?? [], sites };
}

/** An expert's options beyond its kind and shape (docs/language.md): only those it sets. */
function optionsOf(e: FfnExpert): ExpertOptions {
  const { bias, alpha, beta, limit } = e;
  return Object.fromEntries(Object.entries({ bias, alpha, beta, limit }).filter(([, v]) => v !== undefined)) as ExpertOptions;
}

interface Call {
  op: 'expert' | 'block';
  name: string;
  eps: number;
}

/** `x + F(rmsnorm(x)) (+ G(rmsnorm(x)))`: the calls, or undefined for another shape. */
function residualCalls(e: LayerExpr): Call[] | undefined {
  if (e.op !== 'add' || e.args[0]?.op !== 'var' || e.args[0].name !== 'x') return undefined;
  const calls: Call[] = [];
  for (const a of e.args.slice(1)) {
    if ((a.op !== 'expert' && a.op !== 'block') || a.arg.op !== 'rmsnorm' || a.arg.arg.op !== 'var' || a.arg.arg.name !== 'x') return undefined;
    calls.push({ op: a.op, name: a.op === 'expert' ? a.expert : a.block, eps: a.arg.eps });
  }
  return calls;
}

function blockSpec(b: Block, ffns: (name: string) => FfnExpert, no: (construct: string) => never) {
  if (b.topology.kind !== 'standard') no(`block ${b.name}'s topology ${b.topology.kind}`);
  if (b.routers.length !== 1) no(`block ${b.name}'s ${b.routers.length} routers`);
  if (b.experts.length !== 1) no(`block ${b.name}'s heterogeneous experts (${b.experts.map((s) => s.expert).join(', ')})`);
  if (b.shared.slots.length > 1 || (b.shared.slots[0]?.count ?? 1) !== 1) no(`block ${b.name}'s shared experts other than one (write one wider expert)`);
  if (b.scope === 'batch') no(`block ${b.name}'s scope batch`);
  const router = b.routers[0]!;
  const [source, ...rest] = router.stages;
  if (source?.op !== 'linear') return no(`router ${router.name}'s ${source?.op} source`);
  const stages = rest as RouterStage[];
  const shared = b.shared.slots[0];
  return {
    stages,
    spec: {
      experts: b.expertCount,
      ffn: ffns(b.experts[0]!.expert).hidden,
      stages: '',
      gateBias: source.bias,
      selectBias: stages.some((s) => s.op === 'select_bias'),
      ...(shared ? { shared: { ffn: ffns(shared.expert).hidden, gate: b.shared.gate === 'sigmoid' } } : {}),
      ...(b.scope ? { scope: b.scope } : {}),
    },
  };
}
