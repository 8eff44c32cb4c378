import type { Graph, Node } from './graph.js';
import { inferType } from './infer.js';
import { formatType, sameShape } from './types.js';

/** A broken IR invariant: always a compiler bug, never the user's mistake. */
export interface IrProblem {
  node: number;
  message: string;
}

/**
 * Check a graph's invariants: operands defined before use (topological order), and every
 * node's type equal to the type inferred from its operands. Returns problems rather than
 * throwing, so the pass pipeline can name the pass at fault.
 */
export function verifyGraph(g: Graph): IrProblem[] {
  const problems: IrProblem[] = [];
  const seen = new Set<Node>();
  const ids = new Set<number>();
  for (const n of g.nodes) {
    const report = (message: string) => problems.push({ node: n.id, message: `%${n.id} = ${n.op}: ${message}` });
    for (const s of n.src) if (!seen.has(s)) report(`operand %${s.id} is not defined before use`);
    if (ids.has(n.id)) report('duplicate node id');
    seen.add(n);
    ids.add(n.id);
    const inferred = inferType(n, n.src.map((s) => s.type), n.type);
    if (typeof inferred === 'string') report(inferred);
    else if (inferred.dtype !== n.type.dtype || !sameShape(inferred.shape, n.type.shape)) report(`type ${formatType(n.type)} differs from the inferred ${formatType(inferred)}`);
  }
  if (!seen.has(g.output)) problems.push({ node: g.output.id, message: 'the output is not a node of the graph' });
  return problems;
}
