import type { Stage } from '../checker/model.js';
import type { Node } from '../ir/graph.js';
import type { GraphBuilder } from '../ir/graph.js';
import type { OpAttrs, RouteAttrs } from '../ir/ops.js';
import { rewriteGraph } from '../ir/rewrite.js';
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
 * Routers this pass cannot express stay `route` ops; `lowerable` says why.
 */
export const lowerRouters: Pass = {
  name: 'lower-routers',
  summary: 'route ops to primitive scoring, selection and weighting stages',
  run: (g) => rewriteGraph(g, (n, src, b) => (n.op === 'route' && lowerable(n.attrs as RouteAttrs) === true ? lower(n.attrs as RouteAttrs, src, b) : undefined)),
};

const scoring = new Set<Stage['op']>(['softmax', 'sigmoid', 'select_bias']);

/** True, or the reason a router stays a `route` op. */
export function lowerable(a: RouteAttrs): true | string {
  if (a.groupRouter) return 'union routers select hierarchically';
  if (a.router.source.op !== 'linear') return `${a.router.source.op} routing has no gate`;
  const stages = a.router.stages;
  const select = stages.findIndex((s) => s.op === 'topk');
  if (select < 0) return 'only top-k selection is lowered';
  const before = stages.slice(0, select);
  const limit = before.findIndex((s) => s.op === 'group_limit');
  if (limit >= 0 && limit !== select - 1) return 'a group limit must come right before top-k';
  if (before.some((s, i) => i !== limit && !scoring.has(s.op))) return 'unsupported scoring stage';
  if (stages.slice(select + 1).some((s) => !['softmax', 'normalize', 'scale'].includes(s.op))) return 'unsupported weighting stage';
  return true;
}

function lower(a: RouteAttrs, src: Node[], b: GraphBuilder): Node {
  const source = a.router.source as Extract<RouteAttrs['router']['source'], { op: 'linear' }>;
  let p = 1;
  let s: Node = b.add('matmul', [src[0]!, src[p++]!], {});
  if (source.bias) s = b.add('add', [s, src[p++]!], {});
  const selectBias = a.router.selectBias ? src[p++]! : undefined;
  let biased = false;
  let key: Node | undefined;
  let ids: Node | undefined;
  let w: Node | undefined;
  for (const stage of a.router.stages) {
    switch (stage.op) {
      case 'softmax':
        if (ids) w = b.add('softmax', [w!, ids], {});
        else s = b.add('softmax', [s], {});
        break;
      case 'sigmoid':
        s = b.add('act', [s], { fn: 'sigmoid' });
        break;
      case 'select_bias':
        biased = true;
        break;
      case 'group_limit':
        key = b.add('group_limit', [biased ? b.add('add', [s, selectBias!], {}) : s], { groups: stage.groups, keep: stage.keep, score: stage.score } satisfies OpAttrs['group_limit']);
        break;
      case 'topk':
        ids = b.add('topk', [key ?? (biased ? b.add('add', [s, selectBias!], {}) : s)], { k: stage.k });
        if (a.nullEntries.length) ids = b.add('drop', [ids], { entries: a.nullEntries });
        w = b.add('gather', [s, ids], {});
        break;
      case 'normalize':
        w = b.add('normalize', [w!], {});
        break;
      case 'scale':
        w = b.add('scale', [w!], { factor: stage.factor });
        break;
      default:
        throw new Error(`internal: lower-routers met ${stage.op}`);
    }
  }
  return b.add('pack_route', [ids!, w!], {});
}
