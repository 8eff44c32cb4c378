import type { Graph } from './graph.js';
import { OP_LEVEL, type KernelNode } from './ops.js';
import type { IrProblem } from './verify.js';

/**
 * Check that a graph is fully lowered: only graph ops (input, param), primitives and fused
 * kernels whose bodies hold only primitives. What remains is exactly what a back end must
 * implement (docs/ir.md, "Primitive ops"); a model-level op (`route`, `moe`, `ffn`) left
 * behind is a missing lowering.
 */
export function verifyLowered(g: Graph): IrProblem[] {
  const problems: IrProblem[] = [];
  const body = (id: number, nodes: readonly KernelNode[]) =>
    nodes.forEach((m, i) => {
      if (OP_LEVEL[m.op] !== 'primitive') problems.push({ node: id, message: `%${id} = kernel: body node %k${i} is ${m.op}, not a primitive op` });
    });
  for (const n of g.nodes) {
    const level = OP_LEVEL[n.op];
    if (n.op === 'kernel') body(n.id, n.attrs.body);
    else if (level === 'model') problems.push({ node: n.id, message: `%${n.id} = ${n.op}: not lowered to primitive ops` });
  }
  return problems;
}
