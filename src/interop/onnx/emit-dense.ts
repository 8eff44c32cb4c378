import type { ExpertGroup, FfnExpertSpec, OpAttrs } from '../../ir/ops.js';
import { actParams, expertStructure } from '../../model/expert-structure.js';
import { DT, type OnnxGraph } from './builder.js';

/**
 * ONNX for the IR's dense ops (docs/ir.md): activations, dequantisation, norms, FFN experts
 * and the moe combination. Each computes what the CPU reference kernel of the same op
 * computes (src/runtime/reference), in f32.
 */

/** An IR value in ONNX: a tensor's name, or a route as its ids (int64 [R, k], -1 for an empty slot) and weights [R, k]. */
export type Emitted = string | Route;
export interface Route {
  ids: string;
  w: string;
}

/** fn_α(clamp(v, min, max)) + shift. */
export function emitAct(g: OnnxGraph, a: Readonly<OpAttrs['act']>, v: string): string {
  let u = v;
  if (a.min !== undefined || a.max !== undefined) u = g.node('Clip', [u, a.min === undefined ? '' : g.scalar(a.min), a.max === undefined ? '' : g.scalar(a.max)]);
  const sig = (t: string) => g.node('Sigmoid', [t]);
  let y: string;
  switch (a.fn) {
    case 'identity':
      y = u;
      break;
    case 'sigmoid':
      y = sig(u);
      break;
    case 'silu':
      y = g.node('Mul', [u, sig(a.alpha === undefined ? u : g.node('Mul', [u, g.scalar(a.alpha)]))]);
      break;
    case 'relu':
      y = g.node('Relu', [u]);
      break;
    case 'gelu':
      y = g.node('Mul', [g.node('Mul', [u, g.scalar(0.5)]), g.node('Add', [g.scalar(1), g.node('Erf', [g.node('Mul', [u, g.scalar(Math.SQRT1_2)])])])]);
      break;
    case 'gelu_tanh': {
      const cube = g.node('Mul', [g.node('Mul', [g.node('Mul', [u, u]), u]), g.scalar(0.044715)]);
      const inner = g.node('Mul', [g.node('Add', [u, cube]), g.scalar(Math.sqrt(2 / Math.PI))]);
      y = g.node('Mul', [g.node('Mul', [u, g.scalar(0.5)]), g.node('Add', [g.scalar(1), g.node('Tanh', [inner])])]);
      break;
    }
  }
  return a.shift === undefined ? y : g.node('Add', [y, g.scalar(a.shift)]);
}

/**
 * q [..., in, out] times its per-column scale [..., out]. int8 is stored as INT8; int4 as
 * moec's packed bytes (UINT8 [..., in, out / 2], low nibble first, two's complement), unpacked here.
 */
export function emitDequant(g: OnnxGraph, bits: 8 | 4, q: string, scale: string, shape: number[]): string {
  let values: string;
  if (bits === 8) values = g.node('Cast', [q], { to: DT.FLOAT });
  else {
    const bytes = g.node('Cast', [q], { to: DT.INT32 });
    const sixteen = g.node('Cast', [g.int(16)], { to: DT.INT32 });
    const signed = (n: string) => g.node('Sub', [n, g.node('Mul', [g.node('Cast', [g.node('GreaterOrEqual', [n, g.node('Cast', [g.int(8)], { to: DT.INT32 })])], { to: DT.INT32 }), sixteen])]);
    const lo = signed(g.node('Mod', [bytes, sixteen]));
    const hi = signed(g.node('Div', [bytes, sixteen]));
    const pairs = g.node('Concat', [g.node('Unsqueeze', [lo, g.ints([-1])]), g.node('Unsqueeze', [hi, g.ints([-1])])], { axis: -1 });
    values = g.node('Cast', [g.node('Reshape', [pairs, g.ints(shape)])], { to: DT.FLOAT });
  }
  return g.node('Mul', [values, g.node('Unsqueeze', [scale, g.ints([-2])])]);
}

/** rmsnorm: x / sqrt(mean(x²) + eps) · g; layernorm: (x - mean) / sqrt(var + eps) · g + b. */
export function emitNorm(g: OnnxGraph, op: 'rmsnorm' | 'layernorm', eps: number, [x, gain, bias]: string[]): string {
  const centred = op === 'layernorm' ? g.node('Sub', [x!, g.reduce('ReduceMean', x!, [-1], 1)]) : x!;
  const ms = g.reduce('ReduceMean', g.node('Mul', [centred, centred]), [-1], 1);
  const inv = g.node('Div', [g.scalar(1), g.node('Sqrt', [g.node('Add', [ms, g.scalar(eps)])])]);
  const y = g.node('Mul', [g.node('Mul', [centred, inv]), gain!]);
  return op === 'layernorm' ? g.node('Add', [y, bias!]) : y;
}

/**
 * An FFN expert by its steps (src/model/expert-structure.ts) on rows x [R, in]. With stacked
 * weights [n, ...], `index` (a number, or the name of an int64 scalar) picks one expert.
 */
export function emitFfn(g: OnnxGraph, e: FfnExpertSpec, x: string, weights: string[], index?: number | string): string {
  const at = typeof index === 'number' ? g.int(index) : index;
  const w = at === undefined ? weights : weights.map((t) => g.node('Gather', [t, at], { axis: 0 }));
  const { steps } = expertStructure(e);
  const values = [x];
  for (const s of steps) {
    if (s.op === 'matmul') {
      const y = g.node('MatMul', [values[s.src]!, w[s.weight]!]);
      values.push(s.bias === undefined ? y : g.node('Add', [y, w[s.bias]!]));
    } else if (s.op === 'act') values.push(emitAct(g, actParams(s), values[s.src]!));
    else values.push(g.node('Mul', [values[s.src[0]]!, values[s.src[1]]!]));
  }
  return values[values.length - 1]!;
}

/**
 * y = Σ_e w[r, e] · expert_e(x[r]). The route is scattered into [R, E] matrices of weights and
 * of assignment counts (empty slots into a spare column); each group of FFN experts is a Loop
 * over its experts that runs one expert on the rows assigned to it (`NonZero`, `Gather`) and
 * adds their weighted outputs back (`ScatterND`, add): the work of the selected experts only.
 * Identity experts add x times their weight; null experts nothing.
 */
export function emitMoe(g: OnnxGraph, groups: readonly ExpertGroup[], x: string, route: Route, weights: string[]): string {
  const E = groups.reduce((m, gr) => Math.max(m, gr.first + gr.count), 0);
  const ids = g.node('Where', [g.node('Less', [route.ids, g.int(0)]), g.int(E), route.ids]);
  const scatter = (updates: string) => g.node('ScatterElements', [zeros(g, route.ids, E + 1, DT.FLOAT), ids, updates], { axis: 1, reduction: 'add' });
  const dense = scatter(route.w);
  const assigned = scatter(g.node('Expand', [g.scalar(1), g.node('Shape', [route.ids])]));
  const columns = (m: string, gr: ExpertGroup) => g.node('Slice', [m, g.ints([gr.first]), g.ints([gr.first + gr.count]), g.ints([1])]);
  let next = 0;
  const parts: string[] = [];
  for (const gr of groups) {
    const n = gr.expert.kind === 'ffn' ? expertStructure(gr.expert).weights.length : 0;
    const w = weights.slice(next, (next += n));
    if (gr.expert.kind === 'identity') parts.push(g.node('Mul', [x, g.reduce('ReduceSum', columns(dense, gr), [1], 1)]));
    if (gr.expert.kind === 'ffn') parts.push(expertLoop(g, gr.expert, gr.count, x, columns(dense, gr), columns(assigned, gr), w));
  }
  return parts.length ? g.node('Sum', parts) : g.node('Mul', [x, g.scalar(0)]);
}

/** Σ over the experts of one stacked group of what each computes on its assigned rows, times their weights ([R, count] each). */
function expertLoop(g: OnnxGraph, e: FfnExpertSpec, count: number, x: string, weight: string, assigned: string, weights: string[]): string {
  const name = g.fresh('experts');
  const [j, acc] = [`${name}_j`, `${name}_acc`];
  const body = g.subgraph(
    name,
    [
      { name: j, type: DT.INT64, dims: [] },
      { name: `${name}_cond`, type: DT.BOOL, dims: [] },
      { name: acc, type: DT.FLOAT },
    ],
    (b) => {
      const column = (m: string) => b.node('Gather', [m, j], { axis: 1 });
      const rows = b.node('Transpose', [b.node('NonZero', [b.node('Greater', [column(assigned), b.scalar(0)])])], { perm: [1, 0] }); // [n, 1]
      const y = emitFfn(b, e, b.node('GatherND', [x, rows]), weights, j);
      const weighted = b.node('Mul', [y, b.node('GatherND', [b.node('Unsqueeze', [column(weight), b.ints([1])]), rows])]);
      return [
        { name: b.bool(true), type: DT.BOOL },
        { name: b.node('ScatterND', [acc, rows, weighted], { reduction: 'add' }), type: DT.FLOAT },
      ];
    },
  );
  return g.nodeOutputs('Loop', [g.int(count), '', g.node('Mul', [x, g.scalar(0)])], 1, { body: { graph: body } })[0]!;
}

/** A [rows of `like`, width] tensor of zeros of `type`. */
export function zeros(g: OnnxGraph, like: string, width: number, type: number): string {
  const shape = g.node('Concat', [g.node('Slice', [g.node('Shape', [like]), g.ints([0]), g.ints([1])]), g.ints([width])], { axis: 0 });
  const z = g.node('ConstantOfShape', [shape]);
  return type === DT.FLOAT ? z : g.node('Cast', [z], { to: type });
}
