import type { Graph, Node } from './graph.js';
import type { OpAttrs } from './ops.js';
import { evalDim, formatType, sameShape, type Dim } from './types.js';
import { expertWeights } from './weights.js';

/** A broken IR invariant: always a compiler bug, never the user's mistake. */
export interface IrProblem {
  node: number;
  message: string;
}

/**
 * Check a graph's invariants: topological order, operand counts and types per op.
 * Returns problems rather than throwing, so a pass pipeline can name the pass at fault.
 */
export function verifyGraph(g: Graph): IrProblem[] {
  const problems: IrProblem[] = [];
  const seen = new Set<Node>();
  for (const n of g.nodes) {
    const report = (message: string) => problems.push({ node: n.id, message: `${n.op}: ${message}` });
    for (const s of n.src) if (!seen.has(s)) report(`operand %${s.id} is not defined before use`);
    seen.add(n);
    checkNode(n, report);
  }
  if (!seen.has(g.output)) problems.push({ node: g.output.id, message: 'the output is not a node of the graph' });
  return problems;
}

const last = (s: readonly Dim[]) => s[s.length - 1];

/** Same element count for any token count (checked at two token counts). */
function sameSize(a: readonly Dim[], b: readonly Dim[]): boolean {
  const size = (s: readonly Dim[], t: number) => s.reduce<number>((p, d) => p * evalDim(d, t), 1);
  return [1, 7].every((t) => size(a, t) === size(b, t));
}

function checkNode(n: Node, report: (m: string) => void): void {
  const arity = (k: number) => n.src.length === k || (report(`expects ${k} operands, has ${n.src.length}`), false);
  const shape = n.type.shape;
  switch (n.op) {
    case 'input':
    case 'param':
      arity(0);
      return;
    case 'add':
      if (arity(2) && (!sameShape(n.src[0]!.type.shape, shape) || !sameShape(n.src[1]!.type.shape, shape))) report(`operands ${n.src.map((s) => formatType(s.type)).join(', ')} do not match ${formatType(n.type)}`);
      return;
    case 'mul':
      if (arity(2) && (!sameShape(n.src[0]!.type.shape, shape) || !(sameShape(n.src[1]!.type.shape, shape) || last(n.src[1]!.type.shape) === 1))) report('the second operand must match or have a trailing dim of 1');
      return;
    case 'sigmoid':
      if (arity(1) && !sameShape(n.src[0]!.type.shape, shape)) report('result shape differs from operand');
      return;
    case 'reshape':
      if (arity(1) && !sameSize(n.src[0]!.type.shape, shape)) report(`cannot reshape ${formatType(n.src[0]!.type)} to ${formatType(n.type)}`);
      return;
    case 'matmul': {
      if (!arity(2)) return;
      const [a, b] = [n.src[0]!.type.shape, n.src[1]!.type.shape];
      if (b.length !== 2 || last(a) !== b[0] || last(shape) !== b[1]) report(`cannot multiply ${formatType(n.src[0]!.type)} by ${formatType(n.src[1]!.type)} into ${formatType(n.type)}`);
      return;
    }
    case 'rmsnorm':
    case 'layernorm': {
      if (!arity(n.op === 'rmsnorm' ? 2 : 3)) return;
      const d = last(n.src[0]!.type.shape);
      if (n.src.slice(1).some((p) => !sameShape(p.type.shape, [d!]))) report(`gain and bias must have shape [${d}]`);
      return;
    }
    case 'ffn': {
      const { expert, index } = n.attrs as OpAttrs['ffn'];
      const want = expertWeights(expert);
      if (!arity(1 + want.length)) return;
      want.forEach((w, i) => {
        const got = n.src[1 + i]!.type.shape;
        const expected = index === undefined ? w.shape : got.slice(1);
        if (!sameShape(expected, w.shape) || (index !== undefined && (typeof got[0] !== 'number' || index >= got[0]))) report(`weight ${w.name} has shape [${got.join(', ')}]`);
      });
      if (last(n.src[0]!.type.shape) !== expert.input || last(shape) !== expert.output) report(`expert ${expert.name} maps ${expert.input} to ${expert.output}`);
      return;
    }
    case 'route': {
      const { slots } = n.attrs as OpAttrs['route'];
      if (n.type.dtype !== 'route' || shape.length !== 2 || shape[1] !== slots || shape[0] !== n.src[0]?.type.shape[0]) report(`result must be route[rows, ${slots}]`);
      return;
    }
    case 'moe': {
      const { groups } = n.attrs as OpAttrs['moe'];
      const want = groups.flatMap((g) => expertWeights(g.expert).map((w) => [g.count, ...w.shape]));
      if (!arity(2 + want.length)) return;
      if (n.src[1]!.type.dtype !== 'route') report('the second operand must be a route');
      want.forEach((w, i) => {
        if (!sameShape(n.src[2 + i]!.type.shape, w)) report(`weight %${n.src[2 + i]!.id} must have shape [${w.join(', ')}]`);
      });
      let next = 0;
      for (const g of groups) {
        if (g.first !== next) report(`group ${g.expert.name} starts at ${g.first}, expected ${next}`);
        next = g.first + g.count;
      }
      if (!sameShape(n.src[0]!.type.shape, shape)) report('result shape differs from input');
      return;
    }
  }
}
