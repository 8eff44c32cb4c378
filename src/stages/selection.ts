import { num } from '../ir/codec.js';
import { expertChoice as chooseRows, requestGroups, topP as topPrefix } from '../runtime/reference/selection.js';
import { tooMany, type StageDef } from './stage.js';

/** Selection stages: they choose each token's experts from the live entries by key. */
export type SelectionStage = { op: 'topk'; k: number } | { op: 'top_p'; p: number; max: number } | { op: 'expert_choice'; capacity: number };

export const topk: StageDef<{ op: 'topk'; k: number }> = {
  signature: { name: 'topk', phase: 'select', params: [{ name: 'k', type: 'int', doc: 'experts per token' }], doc: 'Keep the k live entries with the largest keys; ties go to the lower index.' },
  resolve: (a) => {
    const k = a.int('k');
    return k === undefined || tooMany(a, k, 'k', 'topk(k)') ? undefined : { op: 'topk', k };
  },
  fields: { k: num },
  selects: (s) => ({ min: s.k, max: s.k, slots: s.k, asks: s.k }),
  lower: (s, l) => l.select(l.b.add('topk', [l.key()], { k: s.k }), l.scores()),
  apply: (s, rows) => {
    for (const st of rows.state) rows.select(st, rows.ranked(st).slice(0, s.k));
  },
};

export const topP: StageDef<{ op: 'top_p'; p: number; max: number }> = {
  signature: {
    name: 'top_p',
    phase: 'select',
    doc: 'Dynamic k: the fewest highest-scoring entries whose scores sum to at least p, at most max.',
    params: [
      { name: 'p', type: 'number', gt: 0, max: 1, doc: 'cumulative score threshold in (0, 1]' },
      { name: 'max', type: 'int', doc: 'most experts per token' },
    ],
  },
  resolve: (a) => {
    const [p, max] = [a.number('p'), a.int('max')];
    if (p === undefined || max === undefined) return undefined;
    return tooMany(a, max, 'max', 'top_p(max)', false) ? undefined : { op: 'top_p', p, max };
  },
  fields: { p: num, max: num },
  selects: (s) => ({ min: 1, max: s.max, slots: s.max, asks: s.max }),
  lower: (s, l) => l.select(l.b.add('top_p', [l.key(), l.scores()], { p: s.p, max: s.max }), l.scores()),
  apply: (s, rows) => {
    for (const st of rows.state) rows.select(st, topPrefix(rows.ranked(st), (e) => st.s[e]!, s.p, s.max));
  },
};

export const expertChoice: StageDef<{ op: 'expert_choice'; capacity: number }> = {
  signature: {
    name: 'expert_choice',
    phase: 'select',
    couples: true,
    doc: 'Each expert takes its ceil(capacity · tokens / experts) highest-scoring tokens.',
    params: [{ name: 'capacity', type: 'number', gt: 0, doc: 'capacity factor: average experts per token' }],
  },
  resolve: (a) => {
    const capacity = a.number('capacity');
    return capacity === undefined ? undefined : { op: 'expert_choice', capacity };
  },
  fields: { capacity: num },
  // A token may be chosen by every expert, or by none; it asks for none itself.
  selects: (_, width) => ({ min: 0, max: width, slots: width, asks: 1 }),
  lower: (s, l) => l.select(l.b.add('expert_choice', [l.key(), ...(l.requests ? [l.requests] : [])], { capacity: s.capacity }), l.scores()),
  apply: (s, rows) => {
    for (const group of requestGroups(rows.state.length, rows.requests)) {
      const chosen = chooseRows(group, rows.E, s.capacity, (r, e) => rows.key(rows.state[r]!, e), (r, e) => rows.state[r]!.live[e] === 1);
      for (const r of group) rows.select(rows.state[r]!, chosen.get(r)!);
    }
  },
};
