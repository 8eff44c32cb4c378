import type { GraphBuilder, Node } from '../ir/graph.js';
import type { ExpertGroup } from '../ir/ops.js';
import { rewriteGraph } from '../ir/rewrite.js';
import { weightsByGroup } from '../ir/weights.js';
import { actParams, expertStructure } from '../model/expert-structure.js';
import type { Pass } from './pass.js';

/**
 * reroute (batched rerouting): per-token routing becomes grouped execution, with no
 * per-expert loop on the host.
 *
 *   %y = moe(%x, %r, %Wg, %Wu, %Wd) {groups = [e x 8 @ 0]}
 * becomes
 *   %n = count(%ids) {experts = 8}; %off = offsets(%n) {block = 16}
 *   %perm = permute(%ids, %off); %inv = inverse(%ids, %off); %xs = gather_rows(%x, %perm)
 *   %g = grouped_matmul(%xs, %off, %Wg) ... %ys = grouped_matmul(%h, %off, %Wd)
 *   %y = combine(%ys, %ids, %inv, %w)
 *
 * Chain iterations reroute the already-updated tokens, multi-head blocks reroute sub-tokens,
 * union routes are one dispatch, and heterogeneous experts get one grouped run per declaration.
 */
export const reroute: Pass = {
  name: 'reroute',
  summary: 'moe ops to count, offsets, permute, grouped expert runs and combine',
  run: (g, options) =>
    rewriteGraph(g, (n, src, b) => {
      if (n.op !== 'moe') return undefined;
      const [x, route, ...weights] = src as [Node, Node, ...Node[]];
      const { groups } = n.attrs;
      const [ids, w] = route.op === 'pack_route' ? [route.src[0]!, route.src[1]!] : [b.add('route_ids', [route], {}), b.add('route_weights', [route], {})];
      const experts = groups.reduce((m, gr) => Math.max(m, gr.first + gr.count), 0);
      const offsets = b.add('offsets', [b.add('count', [ids], { experts })], { block: options.block });
      const xs = b.add('gather_rows', [x, b.add('permute', [ids, offsets], { block: options.block })], {});
      const inverse = b.add('inverse', [ids, offsets], {});
      const perGroup = weightsByGroup(groups, weights);
      const outs = groups.flatMap((group, i) => groupRun(b, group, xs, offsets, perGroup[i]!) ?? []);
      const ys = outs.reduce((acc, y) => b.add('add', [acc, y], {}));
      return b.add('combine', [ys, ids, inverse, w], {});
    }),
};

/** One declaration's experts over the permuted rows, its steps as grouped primitives (undefined: null experts). */
function groupRun(b: GraphBuilder, group: ExpertGroup, xs: Node, offsets: Node, weights: Node[]): Node | undefined {
  const e = group.expert;
  const range = { first: group.first, count: group.count };
  if (e.kind === 'null') return undefined;
  if (e.kind === 'identity') return b.add('grouped_copy', [xs, offsets], range);
  const values: Node[] = [xs];
  for (const s of expertStructure(e).steps) {
    if (s.op === 'matmul') values.push(b.add('grouped_matmul', [values[s.src]!, offsets, weights[s.weight]!, ...(s.bias === undefined ? [] : [weights[s.bias]!])], range));
    else if (s.op === 'act') values.push(b.add('act', [values[s.src]!], actParams(s)));
    else values.push(b.add('mul', [values[s.src[0]]!, values[s.src[1]]!], {}));
  }
  return values[values.length - 1];
}
