import type { GraphBuilder, Node } from '../ir/graph.js';
import type { RouteAttrs, RouterSpec } from '../ir/ops.js';
import { rewriteGraph } from '../ir/rewrite.js';
import { routerParamCount } from '../ir/routing.js';
import type { Pass } from './pass.js';
import { lowerRouter, type RowInputs } from './lower-router-stages.js';

/**
 * lower-routers: every `route` becomes primitive stages (lower-router-stages.ts lowers one
 * router's pipeline).
 *
 *   %r = route(%x, %W, %sb) {router = linear | sigmoid | select_bias | topk(k = 2) | normalize}
 * becomes
 *   %s = matmul(%x, %W); %p = act(%s) {fn = sigmoid}; %key = add(%p, %sb)
 *   %ids = topk(%key) {k = 2}; %w = gather(%p, %ids); %w2 = normalize(%w)
 *   %r = pack_route(%ids, %w2)
 *
 * A union route lowers its group router first; the expert router then runs with only the
 * entries of the chosen groups live (`group_mask`), and each selected expert's weight is
 * multiplied by its group's weight (`group_weight`, `mul`), as the reference route does:
 *
 *   %gids = topk(...); %gw = gather(...)                      (the group router)
 *   %live = group_mask(%s, %gids) {size = E / G}; ...; %ids = topk(%live); %w = ...
 *   %r = pack_route(%ids, mul(%w, group_weight(%ids, %gids, %gw) {size = E / G}))
 */
export const lowerRouters: Pass = {
  name: 'lower-routers',
  summary: 'route ops (union routers included) to primitive scoring, selection and weighting stages',
  run: (g) => rewriteGraph(g, (n, src, b) => (n.op === 'route' ? lowerRoute(n.attrs, src, b) : undefined)),
};

function lowerRoute(a: RouteAttrs, src: Node[], b: GraphBuilder): Node {
  let next = 1;
  const paramsOf = (r: RouterSpec) => src.slice(next, (next += routerParamCount(r)));
  const groupParams = a.groupRouter ? paramsOf(a.groupRouter) : [];
  const params = paramsOf(a.router);
  // Token ids and request ids are per token; multi-head rows are sub-tokens.
  const perRow = (n: Node) => (a.subTokens ? b.add('repeat', [n], { times: a.subTokens }) : n);
  const input = (name: 'ids' | 'requests') => {
    const i = a.tokenInputs.indexOf(name);
    return i < 0 ? undefined : perRow(src[next + i]!);
  };
  const tokenIds = input('ids');
  const requests = a.scope === 'request' ? input('requests') : undefined;
  const rows: RowInputs = { x: src[0]!, ...(tokenIds ? { tokenIds } : {}), ...(requests ? { requests } : {}) };

  if (!a.groupRouter) {
    const { ids, w } = lowerRouter(b, a.router, params, a.nullEntries, rows);
    return b.add('pack_route', [ids, w], {});
  }
  const groups = lowerRouter(b, a.groupRouter, groupParams, [], rows);
  const size = a.router.width / a.groupRouter.width;
  const { ids, w } = lowerRouter(b, a.router, params, a.nullEntries, rows, { ids: groups.ids, size });
  const weighted = b.add('mul', [w, b.add('group_weight', [ids, groups.ids, groups.w], { size })], {});
  return b.add('pack_route', [ids, weighted], {});
}
