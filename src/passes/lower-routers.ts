import type { GraphBuilder, Node } from '../ir/graph.js';
import type { RouteAttrs, RouterStage } from '../ir/ops.js';
import { rewriteGraph } from '../ir/rewrite.js';
import { routerParamCount, selectionsPerToken } from '../ir/routing.js';
import type { Pass } from './pass.js';

/**
 * lower-routers: a `route` becomes its primitive stages.
 *
 *   %r = route(%x, %W, %sb) {router = "linear(8) | sigmoid | select_bias | topk(k = 2) | normalize"}
 * becomes
 *   %s = matmul(%x, %W); %p = act(%s) {fn = sigmoid}; %key = add(%p, %sb)
 *   %ids = topk(%key) {k = 2}; %w = gather(%p, %ids); %w2 = normalize(%w)
 *   %r = pack_route(%ids, %w2)
 *
 * Keys (scores plus the selection bias) only decide; weights gather the unbiased scores. Null
 * experts are dropped right after selection. Coupling stages (expert_choice, capacity) take the
 * request ids when the block's scope is `request`. Routers it cannot express stay `route` ops;
 * `lowerable` says why.
 */
export const lowerRouters: Pass = {
  name: 'lower-routers',
  summary: 'route ops to primitive scoring, selection and weighting stages',
  run: (g) => rewriteGraph(g, (n, src, b) => (n.op === 'route' && lowerable(n.attrs) === true ? lower(n.attrs, src, b) : undefined)),
};

const selecting = new Set<RouterStage['op']>(['topk', 'top_p', 'expert_choice']);

/** True, or the reason a router stays a `route` op. */
export function lowerable(a: RouteAttrs): true | string {
  if (a.groupRouter) return 'union routers select hierarchically';
  const stages = a.router.stages;
  const select = a.router.source.op === 'linear' ? stages.findIndex((s) => selecting.has(s.op)) : -1;
  const before = stages.slice(0, Math.max(0, select));
  const limit = before.findIndex((s) => s.op === 'group_limit');
  if (limit >= 0 && limit !== select - 1) return 'a group limit must come right before the selection';
  return true;
}

function lower(a: RouteAttrs, src: Node[], b: GraphBuilder): Node {
  const r = a.router;
  const x = src[0]!;
  const params = src.slice(1, 1 + routerParamCount(r));
  // Token ids and request ids are per token; multi-head rows are sub-tokens.
  const perRow = (n: Node) => (a.subTokens ? b.add('repeat', [n], { times: a.subTokens }) : n);
  const input = (name: 'ids' | 'requests') => {
    const i = a.tokenInputs.indexOf(name);
    return i < 0 ? undefined : perRow(src[1 + routerParamCount(r) + i]!);
  };
  const tokenIds = input('ids');
  const requests = a.scope === 'request' ? [input('requests')!] : [];

  let p = 0;
  let s: Node | undefined;
  if (r.source.op === 'linear') {
    s = b.add('matmul', [x, params[p++]!], {});
    if (r.source.bias) s = b.add('add', [s, params[p++]!], {});
  }
  const selectBias = r.selectBias ? params[p++]! : undefined;
  let biased = false;
  let limited: Node | undefined;
  let ids: Node | undefined;
  let w: Node | undefined;
  const key = () => limited ?? (biased ? b.add('add', [s!, selectBias!], {}) : s!);
  const selected = (chosen: Node, weights?: Node) => {
    ids = a.nullEntries.length ? b.add('drop', [chosen], { entries: a.nullEntries }) : chosen;
    w = weights ? b.add('gather', [weights, ids], {}) : b.add('fill', [ids], { value: 1, dtype: x.type.dtype });
  };
  if (r.source.op === 'hash') selected(b.add('hash_select', [tokenIds!], { k: r.source.k, seed: r.source.seed, width: r.width }));
  if (r.source.op === 'fixed') selected(b.add('fixed_select', [x], { experts: r.source.experts }));

  for (const stage of r.stages) {
    switch (stage.op) {
      case 'softmax':
        if (ids) w = b.add('softmax', [w!, ids], {});
        else s = b.add('softmax', [s!], {});
        break;
      case 'sigmoid':
        s = b.add('act', [s!], { fn: 'sigmoid' });
        break;
      case 'select_bias':
        biased = true;
        break;
      case 'group_limit':
        limited = b.add('group_limit', [key()], { groups: stage.groups, keep: stage.keep, score: stage.score });
        break;
      case 'topk':
        selected(b.add('topk', [key()], { k: stage.k }), s);
        break;
      case 'top_p':
        selected(b.add('top_p', [key(), s!], { p: stage.p, max: stage.max }), s);
        break;
      case 'expert_choice':
        selected(b.add('expert_choice', [key(), ...requests], { capacity: stage.capacity }), s);
        break;
      case 'normalize':
        w = b.add('normalize', [w!], {});
        break;
      case 'scale':
        w = b.add('scale', [w!], { factor: stage.factor });
        break;
      case 'capacity':
        ids = b.add('capacity', [ids!, w!, ...requests], { factor: stage.factor, drop: stage.drop, k: selectionsPerToken(r), experts: r.width });
        w = b.add('mul', [w!, b.add('fill', [ids], { value: 1, dtype: w!.type.dtype })], {});
        break;
    }
  }
  return b.add('pack_route', [ids!, w!], {});
}
