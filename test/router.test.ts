import { describe, expect, it } from 'vitest';
import type { Node } from '../src/ir/graph.js';
import { hashExperts, route } from '../src/runtime/reference/router.js';
import { compileText } from './support/model.js';

/**
 * Hand-computed router cases. Each router reads `hidden = E` features through an identity
 * gate, so the logits are the input row itself and every expected value can be worked out
 * on paper (in the comments).
 */
function routerOf(pipeline: string, experts: number, members = `e x ${experts}`, extra = '') {
  const text = `model t {
    dims { hidden = ${experts} }
    expert e = relu(hidden -> 4 -> hidden)
    expert none = null
    block moe {
      router gate = ${pipeline}
      experts ${members}
      ${extra}
    }
    layers 1 { x = moe(x) }
  }`;
  const { graph } = compileText(text);
  return graph.nodes.find((n): n is Node<'route'> => n.op === 'route')!.attrs;
}

const identity = (n: number) => Float32Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
const logit = (p: number) => Math.log(p / (1 - p));

function decide(pipeline: string, rows: number[][], opts: { members?: string; extra?: string; bias?: number[]; requests?: number[]; ids?: number[] } = {}) {
  const E = rows[0]!.length;
  const attrs = routerOf(pipeline, E, opts.members, opts.extra);
  const params = [identity(E), ...(opts.bias ? [Float32Array.from(opts.bias)] : [])];
  const r = route(attrs, rows.length, {
    x: Float32Array.from(rows.flat()),
    width: E,
    params,
    ...(opts.requests ? { requests: Int32Array.from(opts.requests) } : {}),
    ...(opts.ids ? { ids: Int32Array.from(opts.ids) } : {}),
  });
  return rows.map((_, t) => {
    const ids: number[] = [];
    const w: number[] = [];
    for (let s = 0; s < r.slots; s++) {
      const e = r.ids[t * r.slots + s]!;
      if (e >= 0) (ids.push(e), w.push(r.weights[t * r.slots + s]!));
    }
    return { ids, w };
  });
}

describe('router stages, hand-computed', () => {
  it('softmax | topk | normalize (Mixtral)', () => {
    // top-2 of logits [1, 3, 2, 0] are experts 1 and 2; renormalised e^3/(e^3+e^2), e^2/(e^3+e^2).
    const [r] = decide('linear(hidden -> 4) | softmax | topk(2) | normalize', [[1, 3, 2, 0]]);
    expect(r!.ids).toEqual([1, 2]);
    expect(r!.w[0]).toBeCloseTo(Math.E / (Math.E + 1), 6);
    expect(r!.w[1]).toBeCloseTo(1 / (Math.E + 1), 6);
  });

  it('topk breaks ties by the lower expert index', () => {
    expect(decide('linear(hidden -> 4) | softmax | topk(2)', [[1, 1, 1, 1]])[0]!.ids).toEqual([0, 1]);
  });

  it('topk then softmax over the selected equals softmax, topk, normalize', () => {
    const a = decide('linear(hidden -> 4) | topk(2) | softmax', [[1, 3, 2, 0]])[0]!;
    const b = decide('linear(hidden -> 4) | softmax | topk(2) | normalize', [[1, 3, 2, 0]])[0]!;
    expect(a.ids).toEqual(b.ids);
    a.w.forEach((w, i) => expect(w).toBeCloseTo(b.w[i]!, 6));
  });

  it('DeepSeek-V3: the selection bias and group limit pick, the unbiased scores weigh', () => {
    // scores s = [.9 .1 | .5 .4 | .2 .3 | .8 .05], bias on experts 4 and 5 (+.5):
    // keys = [.9 .1 | .5 .4 | .7 .8 | .8 .05]; group top-2 sums 1.0, .9, 1.5, .85 -> keep groups 2, 0;
    // live {0, 1, 4, 5}; top-2 keys: expert 0 (.9), expert 5 (.8) -- not expert 6 (.8, dropped group).
    // weights from s: .9 and .3, normalised .75 / .25, scaled by 2.5.
    const s = [0.9, 0.1, 0.5, 0.4, 0.2, 0.3, 0.8, 0.05];
    const [r] = decide(
      'linear(hidden -> 8) | sigmoid | select_bias | group_limit(groups = 4, keep = 2, score = top2) | topk(2) | normalize | scale(2.5)',
      [s.map(logit)],
      { bias: [0, 0, 0, 0, 0.5, 0.5, 0, 0] },
    );
    expect(r!.ids).toEqual([0, 5]);
    expect(r!.w[0]).toBeCloseTo(1.875, 5);
    expect(r!.w[1]).toBeCloseTo(0.625, 5);
  });

  it('group_limit with max scores (DeepSeek-V2)', () => {
    // groups of 2: maxima 3, 5, 4, 1 -> keep groups 1 and 2: live {2, 3, 4, 5}; top-3 of those.
    const [r] = decide('linear(hidden -> 8) | group_limit(groups = 4, keep = 2) | topk(3)', [[3, 0, 5, 1, 4, 2, 0, 1]]);
    expect(r!.ids).toEqual([2, 4, 5]);
  });

  it('group_limit(dropped = zero) keeps the dropped groups selectable at key 0 (Hugging Face DeepSeek-V3)', () => {
    // s = [.9 .1 | .5 .4 | .2 .3 | .8 .05], bias -1 except expert 6:
    // keys = [-.1 -.9 | -.5 -.6 | -.8 -.7 | .8 -.95]; group top-2 sums -1, -1.1, -1.5, -.15 -> keep groups 3, 0.
    // exclude: live {0, 1, 6, 7}, top-3 keys .8 (6), -.1 (0), -.9 (1).
    // zero: the other groups' keys become 0, above the kept negative keys: 6, then 2 and 3 (ties at 0, lower index).
    const s = [0.9, 0.1, 0.5, 0.4, 0.2, 0.3, 0.8, 0.05];
    const bias = [-1, -1, -1, -1, -1, -1, 0, -1];
    const limited = (dropped: string) => decide(`linear(hidden -> 8) | sigmoid | select_bias | group_limit(groups = 4, keep = 2, score = top2${dropped}) | topk(3)`, [s.map(logit)], { bias })[0]!;
    expect(limited('').ids).toEqual([6, 0, 1]);
    const zero = limited(', dropped = zero');
    expect(zero.ids).toEqual([6, 2, 3]);
    // Weights are the unbiased scores, as for every other selection.
    zero.w.forEach((w, i) => expect(w).toBeCloseTo([0.8, 0.5, 0.4][i]!, 6));
  });

  it('group_limit(dropped = zero) lets top-k reach beyond the kept groups', () => {
    // softmax scores are positive, so the kept groups' entries rank first, then index order among the zeros.
    const [r] = decide('linear(hidden -> 8) | softmax | group_limit(groups = 4, keep = 1, dropped = zero) | topk(3)', [[3, 0, 5, 1, 4, 2, 0, 1]]);
    expect(r!.ids).toEqual([2, 3, 0]);
  });

  it('top_p takes the fewest experts reaching p, at most max', () => {
    // probabilities .1 .4 .3 .2: sorted .4 .3 reach .5; .4 .3 .2 reach .75; .95 needs 4 but max is 3.
    const probs = [0.1, 0.4, 0.3, 0.2].map(Math.log);
    expect(decide('linear(hidden -> 4) | softmax | top_p(0.5, max = 3)', [probs])[0]!.ids).toEqual([1, 2]);
    expect(decide('linear(hidden -> 4) | softmax | top_p(0.75, max = 3)', [probs])[0]!.ids).toEqual([1, 2, 3]);
    expect(decide('linear(hidden -> 4) | softmax | top_p(0.95, max = 3)', [probs])[0]!.ids).toEqual([1, 2, 3]);
    const w = decide('linear(hidden -> 4) | softmax | top_p(0.5, max = 3)', [probs])[0]!.w;
    expect(w[0]).toBeCloseTo(0.4, 6);
    expect(w[1]).toBeCloseTo(0.3, 6);
  });

  it('expert_choice: each expert takes its top tokens; a token may get none or several', () => {
    // 4 tokens, 2 experts, capacity 1: each expert takes ceil(4/2) = 2 tokens.
    // p(e0) = .73 .27 .5 .5; p(e1) = .27 .73 .5 .5 -> e0 takes t0, t2; e1 takes t1, t2 (tie with t3 -> t2).
    const rows = [[3, 2], [2, 3], [0, 0], [-2, -2]];
    const r = decide('linear(hidden -> 2) | softmax | expert_choice(capacity = 1)', rows, { extra: 'scope batch' });
    expect(r.map((t) => t.ids)).toEqual([[0], [1], [0, 1], []]);
  });

  it('expert_choice under scope request couples only tokens of one request', () => {
    // requests {t0, t1} and {t2, t3}: 1 token per expert per request.
    const rows = [[3, 2], [2, 3], [0, 0], [-2, -2]];
    const r = decide('linear(hidden -> 2) | softmax | expert_choice(capacity = 1)', rows, { extra: 'scope request', requests: [0, 0, 1, 1] });
    expect(r.map((t) => t.ids)).toEqual([[0], [1], [0, 1], []]);
    const alone = decide('linear(hidden -> 2) | softmax | expert_choice(capacity = 1)', rows.slice(2), { extra: 'scope request', requests: [1, 1] });
    expect(alone.map((t) => t.ids)).toEqual([[0, 1], []]);
  });

  it('capacity drops overflow in token order, or the lowest weights', () => {
    // all 4 tokens prefer expert 0; capacity ceil(1.0 * 4 * 1 / 2) = 2.
    const rows = [[1, 0], [3, 0], [2, 0], [4, 0]];
    const overflow = decide('linear(hidden -> 2) | softmax | topk(1) | capacity(1.0, drop = overflow)', rows, { extra: 'scope batch' });
    expect(overflow.map((t) => t.ids)).toEqual([[0], [0], [], []]);
    const score = decide('linear(hidden -> 2) | softmax | topk(1) | capacity(1.0, drop = score)', rows, { extra: 'scope batch' });
    expect(score.map((t) => t.ids)).toEqual([[], [0], [], [0]]);
  });

  it('capacity(limit = n) keeps a fixed number of assignments per expert and request (Switch checkpoints)', () => {
    // all 6 tokens prefer expert 0; requests {t0, t1, t2} and {t3, t4, t5}; limit 2 per request, in token order.
    const rows = [[1, 0], [3, 0], [2, 0], [4, 0], [5, 0], [6, 0]];
    const r = decide('linear(hidden -> 2) | softmax | topk(1) | capacity(limit = 2)', rows, { extra: 'scope request', requests: [0, 0, 0, 1, 1, 1] });
    expect(r.map((t) => t.ids)).toEqual([[0], [0], [], [0], [0], []]);
    // The same limit over a batch of any size: a factor would have grown with the batch.
    const batch = decide('linear(hidden -> 2) | softmax | topk(1) | capacity(limit = 2)', rows, { extra: 'scope batch' });
    expect(batch.map((t) => t.ids)).toEqual([[0], [0], [], [], [], []]);
  });

  it('null experts are selected like others, then leave before weighting (AdaMoE)', () => {
    // top-2 of [3, 1, 2, 0] is expert 0 and null entry 2; normalize sees only expert 0.
    const [r] = decide('linear(hidden -> 4) | softmax | topk(2) | normalize', [[3, 1, 2, 0]], { members: 'e x 2, none x 2' });
    expect(r!.ids).toEqual([0]);
    expect(r!.w).toEqual([1]);
  });

  it('hash routing picks k distinct experts from the token id', () => {
    const r = decide('hash(8, k = 2, seed = 3) | normalize', [[0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]], { ids: [17, 17] });
    expect(r[0]!.ids).toEqual(hashExperts(17, 3, 2, 8));
    expect(r[0]).toEqual(r[1]);
    expect(new Set(r[0]!.ids).size).toBe(2);
    expect(r[0]!.w).toEqual([0.5, 0.5]);
  });

  it('fixed routing sends every token to the listed experts', () => {
    expect(decide('fixed(4, experts = [3, 1])', [[0, 0, 0, 0]])[0]).toEqual({ ids: [3, 1], w: [1, 1] });
  });
});
