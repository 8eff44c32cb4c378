import type { Graph, Node } from '../../ir/graph.js';
import type { OpAttrs } from '../../ir/ops.js';
import { evalDim } from '../../ir/types.js';
import { expertWeights } from '../../ir/weights.js';
import { size, type Tensor } from '../tensor.js';
import { ffnRows } from './experts.js';
import { matmul, sigmoid } from './math.js';
import { layernorm, rmsnorm } from './norms.js';
import { paramCount, route, type RouteValue } from './router.js';

/**
 * The CPU reference: an interpreter over IR nodes, the numerical oracle for every backend.
 * It runs a graph at any stage of lowering, in f32 with f64 accumulation.
 */
export type Value = Tensor | RouteValue;

export interface RunInputs {
  x: Tensor;
  ids?: Int32Array;
  requests?: Int32Array;
}

export function execute(graph: Graph, weights: ReadonlyMap<string, Tensor>, inputs: RunInputs): Tensor {
  const tokens = inputs.x.shape[0]!;
  const values = new Map<Node, Value>();
  const tensor = (n: Node) => values.get(n) as Tensor;
  const data = (n: Node) => tensor(n).data as Float32Array;
  for (const n of graph.nodes) {
    const shape = n.type.dtype === 'route' ? [] : n.type.shape.map((d) => evalDim(d, tokens));
    const out = (d: Float32Array | Int32Array): Tensor => ({ dtype: d instanceof Int32Array ? 'i32' : 'f32', shape, data: d });
    const rows = () => size(shape.slice(0, -1));
    const lastDim = (m: Node) => evalDim(m.type.shape[m.type.shape.length - 1]!, tokens);
    let v: Value;
    switch (n.op) {
      case 'input': {
        const name = (n.attrs as OpAttrs['input']).name;
        const given = name === 'x' ? inputs.x.data : name === 'ids' ? inputs.ids : inputs.requests;
        v = out(given ?? new Int32Array(tokens).fill(0));
        break;
      }
      case 'param':
        v = weights.get((n.attrs as OpAttrs['param']).name)!;
        break;
      case 'add': {
        const [a, b] = [data(n.src[0]!), data(n.src[1]!)];
        v = out(a.map((x, i) => x + b[i]!));
        break;
      }
      case 'mul': {
        const [a, b] = [data(n.src[0]!), data(n.src[1]!)];
        const d = lastDim(n);
        const broadcast = lastDim(n.src[1]!) === 1 && d !== 1;
        v = out(a.map((x, i) => x * b[broadcast ? Math.floor(i / d) : i]!));
        break;
      }
      case 'sigmoid':
        v = out(data(n.src[0]!).map((x) => sigmoid(x)));
        break;
      case 'reshape':
        v = out(data(n.src[0]!));
        break;
      case 'matmul': {
        const [a, b] = [n.src[0]!, n.src[1]!];
        v = out(matmul(data(a), rows(), lastDim(a), data(b), lastDim(b)));
        break;
      }
      case 'rmsnorm':
        v = out(rmsnorm(data(n.src[0]!), rows(), lastDim(n), data(n.src[1]!), (n.attrs as OpAttrs['rmsnorm']).eps));
        break;
      case 'layernorm':
        v = out(layernorm(data(n.src[0]!), rows(), lastDim(n), data(n.src[1]!), data(n.src[2]!), (n.attrs as OpAttrs['layernorm']).eps));
        break;
      case 'ffn': {
        const { expert, index } = n.attrs as OpAttrs['ffn'];
        const ws = n.src.slice(1).map((w) => slice(tensor(w), index));
        v = out(ffnRows(expert, data(n.src[0]!), rows(), ws));
        break;
      }
      case 'route':
        v = runRoute(n as Node<'route'>, (m) => values.get(m)!);
        break;
      case 'moe':
        v = out(runMoe(n as Node<'moe'>, (m) => values.get(m)!));
        break;
    }
    values.set(n, v);
  }
  return values.get(graph.output) as Tensor;
}

/** One expert's matrix out of a stacked [count, ...] weight (or the whole tensor). */
function slice(t: Tensor, index: number | undefined): Float32Array {
  const d = t.data as Float32Array;
  if (index === undefined) return d;
  const per = size(t.shape.slice(1));
  return d.subarray(index * per, (index + 1) * per);
}

function runRoute(n: Node<'route'>, get: (m: Node) => Value): RouteValue {
  const a = n.attrs;
  const x = get(n.src[0]!) as Tensor;
  const rows = x.shape[0]!;
  const nParams = (a.groupRouter ? paramCount(a.groupRouter) : 0) + paramCount(a.router);
  const params = n.src.slice(1, 1 + nParams).map((p) => (get(p) as Tensor).data as Float32Array);
  const extra = n.src.slice(1 + nParams).map((m) => ({ name: (m.attrs as OpAttrs['input']).name, data: (get(m) as Tensor).data as Int32Array }));
  const perRow = (d: Int32Array | undefined) => (d && a.subTokens ? Int32Array.from({ length: rows }, (_, r) => d[Math.floor(r / a.subTokens!)]!) : d);
  const ids = perRow(extra.find((e) => e.name === 'ids')?.data);
  const requests = a.scope === 'request' ? perRow(extra.find((e) => e.name === 'requests')?.data) : undefined;
  return route(a, rows, { x: x.data as Float32Array, width: x.shape[1]!, params, ...(ids ? { ids } : {}), ...(requests ? { requests } : {}) });
}

/** y[t] = Σ_e w[t,e] · expert_e(x[t]), summed in f64 in increasing expert order. */
function runMoe(n: Node<'moe'>, get: (m: Node) => Value): Float32Array {
  const x = get(n.src[0]!) as Tensor;
  const r = get(n.src[1]!) as RouteValue;
  const [rows, d] = [x.shape[0]!, x.shape[1]!];
  const xs = x.data as Float32Array;
  const acc = new Float64Array(rows * d);
  const assigned = new Map<number, { row: number; w: number }[]>();
  for (let row = 0; row < rows; row++) {
    for (let s = 0; s < r.slots; s++) {
      const e = r.ids[row * r.slots + s]!;
      if (e < 0) continue;
      if (!assigned.has(e)) assigned.set(e, []);
      assigned.get(e)!.push({ row, w: r.weights[row * r.slots + s]! });
    }
  }
  let w = 2;
  for (const group of n.attrs.groups) {
    const ws = expertWeights(group.expert).map(() => get(n.src[w++]!) as Tensor);
    for (let j = 0; j < group.count; j++) {
      const list = assigned.get(group.first + j);
      if (!list || group.expert.kind === 'null') continue;
      const gathered = new Float32Array(list.length * d);
      list.forEach(({ row }, i) => gathered.set(xs.subarray(row * d, (row + 1) * d), i * d));
      const y = group.expert.kind === 'ffn' ? ffnRows(group.expert, gathered, list.length, ws.map((t) => slice(t, j))) : gathered;
      list.forEach(({ row, w: weight }, i) => {
        for (let c = 0; c < d; c++) acc[row * d + c]! += weight * y[i * d + c]!;
      });
    }
  }
  return Float32Array.from(acc);
}
