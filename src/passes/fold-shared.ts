import type { Node } from '../ir/graph.js';
import type { ExpertGroup } from '../ir/ops.js';
import { rewriteGraph } from '../ir/rewrite.js';
import type { Pass } from './pass.js';

/**
 * fold-shared: shared experts join the routed experts' grouped execution as always-selected
 * experts, so one dispatch serves both.
 *
 *   %m = moe(%x, %r, %W...) ; %s = ffn(%x, %S...) {index = 0} ; %g = act(matmul(%x, %gw)) {fn = sigmoid}
 *   %y = add(%m, mul(%s, %g))
 * becomes
 *   %r2 = extend_route(%r, %g) {first = E, count = 1} ; %y = moe(%x, %r2, %W..., %S...)
 *
 * The shared outputs are then summed with the routed ones in one accumulation instead of a
 * separate f32 add: the same sum, rounded once (results agree to f32 rounding, not bit for bit).
 */
export const foldShared: Pass = {
  name: 'fold-shared',
  summary: 'shared experts into the grouped execution as always-selected experts',
  run: (g) =>
    rewriteGraph(g, (n, _src, b, map) => {
      if (n.op !== 'add') return undefined;
      const [moe, shared] = n.src[0]!.op === 'moe' ? [n.src[0]!, n.src[1]!] : [n.src[1]!, n.src[0]!];
      if (moe.op !== 'moe') return undefined;
      const match = sharedExperts(shared, moe.src[0]!);
      if (!match) return undefined;
      const attrs = moe.attrs;
      const groups = attrs.groups;
      const first = groups.reduce((m, gr) => Math.max(m, gr.first + gr.count), 0);
      const expert = match.ffn.attrs;
      const count = match.weights[0]!.type.shape[0] as number;
      const route = b.add('extend_route', [map(moe.src[1]!), ...(match.gate ? [map(match.gate)] : [])], { first, count });
      const group: ExpertGroup = { expert: expert.expert, count, first };
      return b.add('moe', [map(moe.src[0]!), route, ...moe.src.slice(2).map(map), ...match.weights.map(map)], { ...attrs, groups: [...groups, group] });
    }),
};

interface SharedMatch {
  ffn: Node<'ffn'>;
  weights: readonly Node[];
  gate?: Node;
}

/**
 * The shared-expert subgraph the builder emits for one block: every instance of one stacked
 * declaration (ffn index 0..count-1) summed, optionally times a sigmoid gate of x.
 */
function sharedExperts(s: Node, x: Node): SharedMatch | undefined {
  let gate: Node | undefined;
  const gateAct = s.src[1]?.op === 'act' && s.src[1].attrs.fn === 'sigmoid' ? s.src[1] : undefined;
  if (s.op === 'mul' && gateAct?.src[0]?.op === 'matmul' && gateAct.src[0].src[0] === x) {
    gate = s.src[1];
    s = s.src[0]!;
  }
  const ffns: Node<'ffn'>[] = [];
  const collect = (n: Node): boolean => {
    if (n.op === 'add') return n.src.every(collect);
    if (n.op === 'ffn' && n.src[0] === x && n.attrs.index !== undefined) return ffns.push(n) > 0;
    return false;
  };
  if (!collect(s) || !ffns.length) return undefined;
  const weights = ffns[0]!.src.slice(1);
  const count = weights[0]!.type.shape[0] as number;
  const sameDecl = ffns.every((f) => f.src.slice(1).every((w, i) => w === weights[i]));
  const indices = new Set(ffns.map((f) => f.attrs.index));
  if (!sameDecl || indices.size !== count || ffns.length !== count) return undefined;
  return { ffn: ffns[0]!, weights, ...(gate ? { gate } : {}) };
}
