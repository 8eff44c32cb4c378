import type { Graph, Node } from '../../ir/graph.js';
import type { FfnExpertSpec } from '../../ir/ops.js';
import { useCounts } from '../../ir/rewrite.js';
import { bytes, DT, type OnnxGraph } from './builder.js';

/**
 * onnxruntime's `com.microsoft.MoE` computes softmax over all experts, top-k and, with
 * `normalize_routing_weights = 1`, renormalisation, then Σ w · fc2(act(fc1 x)) with fc1
 * [E, out, in]. That is moec's route + moe when the router is `linear | softmax | topk(k) |
 * normalize` (no selection bias, null experts, union, sub-tokens or coupling) over one
 * declaration of plain experts, but for ties: its CPU kernel sorts (probability, index) pairs
 * with std::greater, so equal probabilities go to the higher index, where moec's go to the
 * lower. The op therefore gets the experts in reverse order (router logits, fc1 and fc2
 * reversed along the expert axis): its higher index is then moec's lower one, and the sum is
 * the same. With `normalize_routing_weights = 0` onnxruntime 1.30 is wrong when the op's
 * input comes from another node (docs/interop.md), so routers without `normalize` never fuse.
 */
const ACTIVATION: Record<string, string> = { relu: 'relu', silu: 'silu', gelu_tanh: 'gelu' };

/** The route nodes whose route + moe become one com.microsoft.MoE. */
export function fusable(graph: Graph): Set<Node> {
  const uses = useCounts(graph);
  const routes = new Set<Node>();
  for (const moe of graph.nodes) {
    if (moe.op !== 'moe') continue;
    const route = moe.src[1]!;
    if (route.op !== 'route' || uses.get(route) !== 1 || route.src[0] !== moe.src[0]) continue;
    const a = route.attrs;
    const r = a.router;
    const plain = r.source.op === 'linear' && !r.selectBias && !a.groupRouter && !a.nullEntries.length && !a.subTokens && !a.scope && !a.tokenInputs.length;
    const stages = r.stages.map((s) => s.op).join(' ');
    const [group] = moe.attrs.groups;
    if (!plain || stages !== 'softmax topk normalize' || moe.attrs.groups.length !== 1 || group!.expert.kind !== 'ffn' || !activation(group!.expert)) continue;
    if (moe.src.slice(2).every((w) => w.op === 'param')) routes.add(route);
  }
  return routes;
}

function activation(e: FfnExpertSpec): string | undefined {
  if (e.rank || e.latent || e.bias || e.alpha !== undefined || e.beta !== undefined || e.limit !== undefined || e.input !== e.output) return undefined;
  if (e.gated) return e.act === 'silu' ? 'swiglu' : undefined;
  return ACTIVATION[e.act];
}

/**
 * The moe as com.microsoft.MoE: router logits x · W (+ b); fc1 [E, I, H] (SwiGLU: [E, 2I, H],
 * gate and up rows interleaved, `swiglu_fusion = 1`) and fc2 [E, H, I], experts in reverse
 * order, initializers named after the experts (`<experts>.fc1`, `.fc2`), from which `moec
 * import onnx` recovers moec's matrices.
 */
export function fusedMoe(g: OnnxGraph, moe: Node<'moe'>, x: string, read: (name: string) => Float32Array, value: (n: Node) => string): string {
  const route = moe.src[1] as Node<'route'>;
  const spec = moe.attrs.groups[0]!.expert as FfnExpertSpec;
  const act = activation(spec)!;
  const param = (n: Node) => (n.op === 'param' ? n.attrs.name : '');
  const names = moe.src.slice(2).map(param);
  const up = names.find((n) => n.endsWith('.w_up'))!;
  const experts = up.replace(/\.w_up$/, '');
  const [E, H, I] = [moe.attrs.groups[0]!.count, spec.input, spec.hidden];
  const fc1 = reverseExperts(act === 'swiglu' ? interleaveRows(transposeStacked(read(`${experts}.w_gate`), E, H, I), transposeStacked(read(up), E, H, I), E, I, H) : transposeStacked(read(up), E, H, I), E);
  const fc2 = reverseExperts(transposeStacked(read(`${experts}.w_down`), E, I, H), E);
  let logits = g.node('MatMul', [x, value(route.src[1]!)]);
  if (route.attrs.router.source.op === 'linear' && route.attrs.router.source.bias) logits = g.node('Add', [logits, value(route.src[2]!)]);
  logits = g.node('Gather', [logits, g.ints(Array.from({ length: E }, (_, e) => E - 1 - e))], { axis: 1 });
  const k = (route.attrs.router.stages.find((s) => s.op === 'topk') as { k: number }).k;
  const swiglu: Record<string, number | { float: number }> = act === 'swiglu' ? { swiglu_fusion: 1, activation_alpha: { float: 1 }, activation_beta: { float: 0 }, swiglu_limit: { float: 1e30 } } : {};
  return g.node(
    'MoE',
    [x, logits, g.weight(`${experts}.fc1`, DT.FLOAT, [E, act === 'swiglu' ? 2 * I : I, H], bytes(fc1)), '', g.weight(`${experts}.fc2`, DT.FLOAT, [E, H, I], bytes(fc2))],
    { k, normalize_routing_weights: 1, activation_type: act, ...swiglu },
    'com.microsoft',
  );
}

/** The E experts of a stacked [E, ...] tensor in reverse order (its own inverse). */
export function reverseExperts(w: Float32Array, E: number): Float32Array {
  const per = w.length / E;
  const out = new Float32Array(w.length);
  for (let e = 0; e < E; e++) out.set(w.subarray(e * per, (e + 1) * per), (E - 1 - e) * per);
  return out;
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
