import type { ResolvedModel } from '../../model/model.js';
import type { RouterStage } from '../../stages/table.js';
import type { Checkpoint } from '../checkpoint.js';
import { InteropError } from '../hf/config.js';
import { modelToStack } from '../hf/from-model.js';
import type { ExpertOptions, FfnKind, MoeStack, Sites } from '../hf/stack.js';
import { OnnxGraph } from './builder.js';

/**
 * A moec model as an ONNX graph, `x [tokens, width] -> y`: rmsnorms, dense FFNs and residuals
 * as standard ops, and each MoE block either as onnxruntime's `com.microsoft.MoE` (where its
 * semantics are exactly moec's: `softmax | topk(k) | normalize` over experts it computes) or
 * as standard ops: the router (softmax or sigmoid, selection bias, group limit with either
 * dropped-group rule, top-k, normalize, scale) builds a [tokens, experts] weight matrix that
 * weighs every expert's output. onnxruntime 1.30's MoE gives wrong results with
 * `normalize_routing_weights = 0` when its input comes from another node, so routers without
 * `normalize` always take the standard-op path (docs/interop.md).
 */
export interface OnnxExport {
  bytes: Uint8Array;
  /** Per MoE layer: whether it became com.microsoft.MoE. */
  fusedLayers: number;
}

const refuse = (construct: string) => `${construct} cannot be exported to ONNX yet (moec exports the FFN/MoE stack of one block with a linear router)`;
/** The router stages the standard-op lowering has (the coupling and dynamic-k ones are not yet). */
const ROUTER_OPS = new Set<RouterStage['op']>(['softmax', 'sigmoid', 'select_bias', 'group_limit', 'topk', 'normalize', 'scale']);
const MOE_ACTIVATION: Partial<Record<FfnKind, string>> = { swiglu: 'swiglu', relu: 'relu', silu: 'silu', gelu_tanh: 'gelu' };

/**
 * The model's .moe source travels in the ONNX metadata (`moec.source`, with `moec.model` and
 * `moec.set`), so `moec import onnx` gives back the same model; the weights are the graph's
 * initializers.
 */
export interface OnnxSource {
  text: string;
  model: string;
  set: Record<string, number>;
}

export function exportOnnx(model: ResolvedModel, weights: Checkpoint, opts: { standardOnly?: boolean; source?: OnnxSource } = {}): OnnxExport {
  const { stack, stages, sites } = modelToStack(model, refuse);
  const unsupported = stages.find((s) => !ROUTER_OPS.has(s.op));
  if (unsupported) throw new InteropError(`model ${model.name}: ${refuse(`router stage ${unsupported.op}`)}`);
  const g = new OnnxGraph();
  const w = (name: string): string => {
    if (!weights.has(name)) throw new InteropError(`${weights.dir}: no tensor '${name}' (moec inspect --json lists what the model needs)`);
    const e = weights.entry(name);
    return g.floats(name, e.shape, weights.read(name).tensor.data as Float32Array);
  };
  const fused = !opts.standardOnly && stack.moe !== undefined && !stack.expert && stages.map((s) => s.op).join(' ') === 'softmax topk normalize' && MOE_ACTIVATION[stack.kind] !== undefined;
  let x = 'x';
  let fusedLayers = 0;
  stack.layers.forEach((kind, i) => {
    const at = `layers.${i}`;
    const norms = kind === 'parallel' ? [`${at}.rmsnorm.weight`, `${at}.rmsnorm@1.weight`] : [`${at}.rmsnorm.weight`];
    const h = norms.map((n) => rmsnorm(g, x, w(n), stack.eps));
    const parts: string[] = [];
    if (kind !== 'moe') parts.push(ffn(g, h[0]!, `${at}.${sites.dense}`, stack.kind, w));
    if (kind !== 'dense') {
      const input = h[h.length - 1]!;
      parts.push(fused ? fusedMoe(g, input, stack, stages, sites, at, weights) : moeOps(g, input, stack, stages, sites, at, w));
      if (fused) fusedLayers++;
    }
    x = g.node('Sum', [x, ...parts]);
  });
  const metadata: Record<string, string> = opts.source ? { 'moec.source': opts.source.text, 'moec.model': opts.source.model, 'moec.set': JSON.stringify(opts.source.set) } : {};
  return { bytes: g.encode(model.name, stack.hidden, x, `${model.name}, exported by moec`, metadata), fusedLayers };
}

function rmsnorm(g: OnnxGraph, x: string, gain: string, eps: number): string {
  const ms = g.node('ReduceMean', [g.node('Mul', [x, x])], { axes: [-1], keepdims: 1 });
  const inv = g.node('Div', [g.scalar(1), g.node('Sqrt', [g.node('Add', [ms, g.scalar(eps)])])]);
  return g.node('Mul', [g.node('Mul', [x, inv]), gain]);
}

function act(g: OnnxGraph, kind: FfnKind, v: string): string {
  switch (kind) {
    case 'swiglu':
    case 'silu':
      return g.node('Mul', [v, g.node('Sigmoid', [v])]);
    case 'relu':
      return g.node('Relu', [v]);
    case 'gelu':
    case 'geglu':
      return g.node('Mul', [g.node('Mul', [v, g.scalar(0.5)]), g.node('Add', [g.scalar(1), g.node('Erf', [g.node('Mul', [v, g.scalar(Math.SQRT1_2)])])])]);
    case 'gelu_tanh':
    case 'geglu_tanh': {
      const cube = g.node('Mul', [g.node('Mul', [g.node('Mul', [v, v]), v]), g.scalar(0.044715)]);
      const inner = g.node('Mul', [g.node('Add', [v, cube]), g.scalar(Math.sqrt(2 / Math.PI))]);
      return g.node('Mul', [g.node('Mul', [v, g.scalar(0.5)]), g.node('Add', [g.scalar(1), g.node('Tanh', [inner])])]);
    }
  }
}

/**
 * An FFN on [T, in] with weights [in, out] (or every expert at once with stacked [E, in, out]:
 * [E, T, out]), with the routed experts' options (docs/language.md): biases [E, out] added per
 * expert, silu's alpha, and the gated product act(min(g, L)) · (clip(u, -L, L) + beta).
 */
function ffn(g: OnnxGraph, h: string, prefix: string, kind: FfnKind, w: (name: string) => string, o: ExpertOptions = {}): string {
  const gated = kind === 'swiglu' || kind === 'geglu' || kind === 'geglu_tanh';
  const project = (v: string, name: string) => {
    const y = g.node('MatMul', [v, w(`${prefix}.w_${name}`)]);
    return o.bias ? g.node('Add', [y, g.node('Unsqueeze', [w(`${prefix}.b_${name}`), g.ints([1])])]) : y;
  };
  const activate = (v: string) => (o.alpha !== undefined ? g.node('Mul', [v, g.node('Sigmoid', [g.node('Mul', [v, g.scalar(o.alpha)])])]) : act(g, kind, v));
  let up = project(h, 'up');
  let a: string;
  if (gated) {
    let gate = project(h, 'gate');
    if (o.limit !== undefined) (gate = g.node('Min', [gate, g.scalar(o.limit)])), (up = g.node('Clip', [up, g.scalar(-o.limit), g.scalar(o.limit)]));
    if (o.beta !== undefined) up = g.node('Add', [up, g.scalar(o.beta)]);
    a = g.node('Mul', [activate(gate), up]);
  } else a = activate(up);
  return project(a, 'down');
}

function logits(g: OnnxGraph, h: string, stack: MoeStack, block: string, w: (name: string) => string): string {
  const l = g.node('MatMul', [h, w(`${block}.weight`)]);
  return stack.moe!.gateBias ? g.node('Add', [l, w(`${block}.bias`)]) : l;
}

/** Shared experts (optionally sigmoid-gated) added to the routed output. */
function withShared(g: OnnxGraph, h: string, routed: string, stack: MoeStack, sites: Sites, block: string, w: (name: string) => string): string {
  const shared = stack.moe!.shared;
  if (!shared) return routed;
  let out = g.node('Squeeze', [ffn(g, h, `${block}.shared.${sites.shared}`, stack.kind, w), g.ints([0])]);
  if (shared.gate) out = g.node('Mul', [out, g.node('Sigmoid', [g.node('MatMul', [h, w(`${block}.shared_gate.weight`)])])]);
  return g.node('Add', [routed, out]);
}

/** The block with standard ops: every expert on every token, weighed by the router's [T, E] matrix (0 off the selection). */
function moeOps(g: OnnxGraph, h: string, stack: MoeStack, stages: readonly RouterStage[], sites: Sites, at: string, w: (name: string) => string): string {
  const block = `${at}.${sites.block}`;
  const gate = `${block}.${sites.gate}`;
  const E = stack.moe!.experts;
  let s = logits(g, h, stack, gate, w);
  const bias = stack.moe!.selectBias ? w(`${gate}.select_bias`) : undefined;
  const key = () => (bias ? g.node('Add', [s, bias]) : s);
  let limited: string | undefined;
  let sel: { ids: string; w: string } | undefined;
  for (const stage of stages) {
    if (limited && !sel && stage.op !== 'topk' && stage.op !== 'select_bias') throw new InteropError(refuse(`${stage.op} after group_limit`));
    switch (stage.op) {
      case 'softmax':
        if (sel) sel.w = g.node('Softmax', [sel.w], { axis: -1 });
        else s = g.node('Softmax', [s], { axis: -1 });
        break;
      case 'sigmoid':
        s = g.node('Sigmoid', [s]);
        break;
      case 'select_bias':
        break;
      case 'group_limit':
        limited = groupLimit(g, key(), stage, E);
        break;
      case 'topk': {
        const [, ids] = g.nodeOutputs('TopK', [limited ?? key(), g.ints([stage.k])], 2, { axis: -1, largest: 1, sorted: 1 });
        sel = { ids: ids!, w: g.node('GatherElements', [s, ids!], { axis: 1 }) };
        break;
      }
      case 'normalize':
        sel!.w = g.node('Div', [sel!.w, g.node('ReduceSum', [sel!.w, g.ints([-1])], { keepdims: 1 })]);
        break;
      case 'scale':
        sel!.w = g.node('Mul', [sel!.w, g.scalar(stage.factor)]);
        break;
      default:
        throw new Error(`internal: router stage ${stage.op} passed the ONNX export's check`);
    }
  }
  if (!sel) throw new InteropError(refuse('a router without top-k'));
  const zeros = g.node('Expand', [g.scalar(0), g.node('Shape', [s])]);
  const weights = g.node('ScatterElements', [zeros, sel.ids, sel.w], { axis: 1 });
  // Every expert's output [E, T, H], times its weight per token [E, T, 1], summed over experts.
  const all = ffn(g, h, `${block}.experts.${sites.routed}`, stack.kind, w, stack.expert);
  const perExpert = g.node('Unsqueeze', [g.node('Transpose', [weights], { perm: [1, 0] }), g.ints([2])]);
  const routed = g.node('ReduceSum', [g.node('Mul', [all, perExpert]), g.ints([0])], { keepdims: 0 });
  return withShared(g, h, routed, stack, sites, block, w);
}

/** The key with the other groups' entries set to -inf (excluded) or 0 (`dropped = zero`). */
function groupLimit(g: OnnxGraph, key: string, s: Extract<RouterStage, { op: 'group_limit' }>, E: number): string {
  const size = E / s.groups;
  const grouped = g.node('Reshape', [key, g.ints([0, s.groups, size])]);
  const score =
    s.score === 'max'
      ? g.node('ReduceMax', [grouped], { axes: [2], keepdims: 0 })
      : g.node('ReduceSum', [g.nodeOutputs('TopK', [grouped, g.ints([2])], 2, { axis: 2 })[0]!, g.ints([2])], { keepdims: 0 });
  const [, kept] = g.nodeOutputs('TopK', [score, g.ints([s.keep])], 2, { axis: 1 });
  const ones = g.node('Expand', [g.scalar(1), g.node('Shape', [kept!])]);
  const mask = g.node('ScatterElements', [g.node('Expand', [g.scalar(0), g.node('Shape', [score])]), kept!, ones], { axis: 1 });
  const perEntry = g.node('Reshape', [g.node('Expand', [g.node('Unsqueeze', [mask, g.ints([2])]), g.ints([1, s.groups, size])]), g.ints([0, E])]);
  const keep = g.node('Cast', [perEntry], { to: 9 });
  return g.node('Where', [keep, key, g.scalar(s.dropped === 'zero' ? 0 : -Infinity)]);
}

/** The block as com.microsoft.MoE: fc1 [E, out, in] (SwiGLU: gate and up rows interleaved), fc2 [E, H, I]. */
function fusedMoe(g: OnnxGraph, h: string, stack: MoeStack, stages: readonly RouterStage[], sites: Sites, at: string, cp: Checkpoint): string {
  const block = `${at}.${sites.block}`;
  const gate = `${block}.${sites.gate}`;
  const experts = `${block}.experts.${sites.routed}`;
  const w = (name: string) => {
    const e = cp.entry(name);
    return g.floats(name, e.shape, cp.read(name).tensor.data as Float32Array);
  };
  const read = (name: string) => ({ data: cp.read(name).tensor.data as Float32Array, shape: cp.entry(name).shape });
  const up = read(`${experts}.w_up`);
  const [E, H, I] = up.shape as [number, number, number];
  const fc1 = stack.kind === 'swiglu' ? interleaveRows(transposeStacked(read(`${experts}.w_gate`).data, E, H, I), transposeStacked(up.data, E, H, I), E, I, H) : transposeStacked(up.data, E, H, I);
  const fc2 = transposeStacked(read(`${experts}.w_down`).data, E, I, H);
  const k = (stages.find((s) => s.op === 'topk') as { k: number }).k;
  const swiglu: Record<string, number | { float: number }> = stack.kind === 'swiglu' ? { swiglu_fusion: 1, activation_alpha: { float: 1 }, activation_beta: { float: 0 }, swiglu_limit: { float: 1e30 } } : {};
  const routed = g.node(
    'MoE',
    [h, logits(g, h, stack, gate, w), g.floats(`${experts}.fc1`, [E, stack.kind === 'swiglu' ? 2 * I : I, H], fc1), '', g.floats(`${experts}.fc2`, [E, H, I], fc2)],
    { k, normalize_routing_weights: 1, activation_type: MOE_ACTIVATION[stack.kind]!, ...swiglu },
    'com.microsoft',
  );
  return withShared(g, h, routed, stack, sites, block, w);
}

/** [E, a, b] -> [E, b, a] */
export function transposeStacked(w: Float32Array, E: number, a: number, b: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let e = 0; e < E; e++) for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[e * a * b + j * a + i] = w[e * a * b + i * b + j]!;
  return out;
}

/** Rows of two [E, n, h] tensors interleaved into [E, 2n, h]: a0, b0, a1, b1, ... */
export function interleaveRows(a: Float32Array, b: Float32Array, E: number, n: number, h: number): Float32Array {
  const out = new Float32Array(a.length * 2);
  for (let e = 0; e < E; e++) {
    for (let i = 0; i < n; i++) {
      out.set(a.subarray((e * n + i) * h, (e * n + i + 1) * h), (e * 2 * n + 2 * i) * h);
      out.set(b.subarray((e * n + i) * h, (e * n + i + 1) * h), (e * 2 * n + 2 * i + 1) * h);
    }
  }
  return out;
}
