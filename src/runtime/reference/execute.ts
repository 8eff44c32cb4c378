import type { Graph, Node } from '../../ir/graph.js';
import { evalDim } from '../../ir/types.js';
import type { Tensor } from '../tensor.js';
import { runKernel, type Value } from './kernels.js';

/**
 * The CPU reference: an interpreter over IR nodes, the numerical oracle for every backend.
 * It runs a graph at any stage of lowering, in f32 with f64 accumulation.
 */
export interface RunInputs {
  x: Tensor;
  ids?: Int32Array;
  requests?: Int32Array;
}

export function execute(graph: Graph, weights: ReadonlyMap<string, Tensor>, inputs: RunInputs): Tensor {
  const tokens = inputs.x.shape[0]!;
  const values = new Map<Node, Value>();
  for (const n of graph.nodes) {
    const shape = n.type.shape.map((d) => evalDim(d, tokens));
    let v: Value;
    if (n.op === 'input') {
      const name = n.attrs.name;
      const given = name === 'x' ? inputs.x.data : name === 'ids' ? inputs.ids : inputs.requests;
      v = { dtype: name === 'x' ? 'f32' : 'i32', shape, data: given ?? new Int32Array(tokens) };
    } else if (n.op === 'param') {
      v = weights.get(n.attrs.name)!;
    } else {
      v = runKernel(n, n.src.map((s) => values.get(s)!), shape, { tokens });
    }
    values.set(n, v);
  }
  return values.get(graph.output) as Tensor;
}
