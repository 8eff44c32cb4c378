import type { Graph, Node } from '../ir/graph.js';
import type { KernelNode, Op } from '../ir/ops.js';
import { rewriteGraph, useCounts } from '../ir/rewrite.js';
import type { Pass } from './pass.js';

/**
 * Fusion as one mechanism: a pattern picks a root node and the producers that fold into it;
 * the group becomes one `kernel` node whose body is the original nodes. Only producers read
 * solely inside the group are folded, so a kernel has one output and nothing is recomputed.
 */
interface FusionPattern {
  name: string;
  summary: string;
  /** The kernel's name, when `root` starts a group. */
  kernel: (root: Node) => string | undefined;
  /** Whether a producer of the group joins it. */
  joins: (producer: Node, root: Node) => boolean;
}

const routerOps = new Set<Op>([
  ...(['matmul', 'add', 'mul', 'act', 'softmax', 'group_limit', 'topk', 'top_p', 'expert_choice', 'hash_select', 'fixed_select'] as const),
  ...(['drop', 'gather', 'fill', 'normalize', 'scale', 'capacity', 'mask', 'group_mask', 'group_weight'] as const),
]);

const patterns: FusionPattern[] = [
  {
    name: 'fuse-router',
    summary: 'gate matmul, scoring, selection and weighting into one routing kernel',
    kernel: (n) => (n.op === 'pack_route' ? 'route' : undefined),
    joins: (p) => routerOps.has(p.op) && p.type.shape.length === 2,
  },
  {
    name: 'fuse-gate-up',
    summary: 'grouped gate and up projections with the activation (SwiGLU, GeGLU) into one kernel',
    // A gated product: act(x·W_gate) times x·W_up, or times act(x·W_up) (gpt-oss clamps and shifts up).
    kernel: (n) => (n.op === 'mul' && n.src.every(isProjection) && n.src.some((s) => s.op === 'act') ? 'grouped_glu' : n.op === 'act' && n.src[0]?.op === 'grouped_matmul' ? 'grouped_act' : undefined),
    // Quantised weights are dequantised inside the kernel that reads them.
    joins: (p, root) => p.op === 'grouped_matmul' || p.op === 'dequant' || (p.op === 'act' && root.op === 'mul'),
  },
  {
    name: 'fuse-down-combine',
    summary: 'grouped down projection, routing weight and scatter-add combine into one kernel',
    kernel: (n) => (n.op === 'combine' ? 'down_combine' : undefined),
    joins: (p, root) => p.op === 'dequant' || ((p.op === 'grouped_matmul' || p.op === 'grouped_copy' || p.op === 'add') && isDirectYs(p, root)),
  },
];

/** A grouped product, or an activation of one. */
const isProjection = (n: Node): boolean => n.op === 'grouped_matmul' || (n.op === 'act' && n.src[0]?.op === 'grouped_matmul');

/**
 * For down_combine: only the expert outputs summed into the combine's first operand join, at
 * any depth of its add tree (heterogeneous blocks add one output per expert group).
 */
function isDirectYs(p: Node, root: Node): boolean {
  const inTree = (n: Node): boolean => n === p || (n.op === 'add' && n.src.some(inTree));
  return inTree(root.src[0]!);
}

const asPass = (pattern: FusionPattern): Pass => ({ name: pattern.name, summary: pattern.summary, run: (g: Graph) => fuse(g, pattern) });

/** The routing kernel forms before rerouting (it yields the route dispatch reads); the expert kernels after. */
export const [fuseRouter, fuseGateUp, fuseDownCombine] = patterns.map(asPass) as [Pass, Pass, Pass];

function fuse(g: Graph, pattern: FusionPattern): Graph {
  const uses = useCounts(g);
  const readerMap = new Map<Node, Node[]>();
  for (const n of g.nodes) for (const s of n.src) readerMap.set(s, [...(readerMap.get(s) ?? []), n]);
  const readers = (n: Node) => readerMap.get(n) ?? [];
  const groups = new Map<Node, Node[]>();
  const folded = new Set<Node>();
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const root = g.nodes[i]!;
    if (folded.has(root) || !pattern.kernel(root)) continue;
    const members = new Set<Node>([root]);
    const grow = (n: Node) => {
      for (const p of n.src) {
        if (members.has(p) || !pattern.joins(p, root)) continue;
        // A producer joins only if all its readers are already in the group.
        if (readers(p).every((r) => members.has(r)) && uses.get(p) === readers(p).length) {
          members.add(p);
          grow(p);
        }
      }
    };
    grow(root);
    if (members.size < 2) continue;
    const ordered = g.nodes.filter((n) => members.has(n));
    groups.set(root, ordered);
    ordered.forEach((n) => folded.add(n));
  }
  if (!groups.size) return g;
  return rewriteGraph(g, (n, _src, b, map) => {
    const group = groups.get(n);
    if (!group) return undefined;
    const inside = new Set(group);
    const inputs: Node[] = [];
    const index = new Map<Node, number>();
    for (const m of group) for (const s of m.src) if (!inside.has(s) && !index.has(s)) (index.set(s, inputs.length), inputs.push(s));
    const body = group.map((m, i): KernelNode => {
      index.set(m, inputs.length + i);
      if (m.op === 'kernel' || m.op === 'input' || m.op === 'param') throw new Error(`internal: ${m.op} cannot join a fused kernel`);
      const { id: _id, ...body } = m;
      return { ...body, src: m.src.map((s) => index.get(s)!) };
    });
    return b.add('kernel', inputs.map(map), { name: pattern.kernel(n)!, body }, n.type);
  });
}
