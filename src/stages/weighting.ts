import { num, oneOf, opt } from '../ir/codec.js';
import { capacityKeep, normalizeOver, requestGroups } from '../runtime/reference/selection.js';
import type { StageDef, StageLowering } from './stage.js';

/** Weighting stages: they change the selected experts' weights (capacity drops some). */
export type WeightingStage = { op: 'normalize' } | { op: 'scale'; factor: number } | Capacity;

/** Exactly one of `factor` (per request, scaled by its tokens) and `limit` (a fixed count, Switch checkpoints' `expert_capacity`). */
export type Capacity = { op: 'capacity'; factor?: number; limit?: number; drop: 'overflow' | 'score' };

const f = Math.fround;

/** The weights after selection; the checker orders weighting stages after it (E0504). */
function selected(l: StageLowering) {
  const sel = l.selected();
  if (!sel) throw new Error('internal: a weighting stage before the selection');
  return sel;
}

export const normalize: StageDef<{ op: 'normalize' }> = {
  signature: { name: 'normalize', phase: 'weight', params: [], doc: 'Divide the selected weights by their sum.' },
  resolve: () => ({ op: 'normalize' }),
  fields: {},
  lower: (_, l) => {
    const { ids, w } = selected(l);
    l.setSelected(ids, l.b.add('normalize', [w], {}));
  },
  apply: (_, rows) => {
    for (const st of rows.state) normalizeOver(st.w, st.sel!);
  },
};

export const scale: StageDef<{ op: 'scale'; factor: number }> = {
  signature: { name: 'scale', phase: 'weight', params: [{ name: 'factor', type: 'number', gt: 0, doc: 'routed scaling factor' }], doc: 'Multiply the selected weights by a constant.' },
  resolve: (a) => {
    const factor = a.number('factor');
    return factor === undefined ? undefined : { op: 'scale', factor };
  },
  fields: { factor: num },
  lower: (s, l) => {
    const { ids, w } = selected(l);
    l.setSelected(ids, l.b.add('scale', [w], { factor: s.factor }));
  },
  apply: (s, rows) => {
    for (const st of rows.state) for (const e of st.sel!) st.w[e] = f(st.w[e]! * s.factor);
  },
};

export const capacity: StageDef<Capacity> = {
  signature: {
    name: 'capacity',
    phase: 'weight',
    couples: true,
    doc: 'Switch-style capacity: each expert takes at most ceil(factor · tokens · k / experts) assignments, or a fixed limit; the rest are dropped.',
    params: [
      { name: 'factor', type: 'number', gt: 0, optional: true, doc: 'capacity factor (give it or limit)' },
      { name: 'drop', type: { choice: ['overflow', 'score'] }, default: 'overflow', doc: 'which assignments are dropped: the latest tokens, or the lowest weights' },
      { name: 'limit', type: 'int', optional: true, doc: 'a fixed number of assignments per expert (give it or factor)' },
    ],
  },
  resolve: (a) => {
    const given = ['factor', 'limit'].filter((p) => a.has(p));
    if (given.length !== 1) {
      const message = given.length ? 'capacity takes a factor or a limit, not both' : 'capacity needs a factor (ceil(factor · tokens · k / experts) per expert) or a fixed limit = N';
      return a.report(given.length ? 'E0313' : 'E0309', message, given[1]);
    }
    const [factor, limit, drop] = [a.number('factor'), a.int('limit'), a.choice('drop')];
    if ((factor === undefined && limit === undefined) || drop === undefined) return undefined;
    return { op: 'capacity', ...(factor !== undefined ? { factor } : { limit: limit! }), drop: drop as 'overflow' | 'score' };
  },
  fields: { factor: opt(num), limit: opt(num), drop: oneOf('overflow', 'score') },
  drops: true,
  // Dropped assignments become -1 and their weights 0.
  lower: (s, l) => {
    const { ids, w } = selected(l);
    const kept = l.b.add('capacity', [ids, w, ...(l.requests ? [l.requests] : [])], { ...limitOf(s), drop: s.drop, k: l.perToken, experts: l.router.width });
    l.setSelected(kept, l.b.add('mul', [w, l.b.add('fill', [kept], { value: 1, dtype: w.type.dtype })], {}));
  },
  apply: (s, rows) => {
    for (const group of requestGroups(rows.state.length, rows.requests)) {
      const states = group.map((r) => rows.state[r]!);
      const kept = capacityKeep(states.map((st) => st.sel!), states.map((st) => st.sel!.map((e) => st.w[e]!)), rows.E, rows.k, limitOf(s), s.drop);
      states.forEach((st, r) => (st.sel = st.sel!.filter((_, slot) => kept[r]![slot])));
    }
  },
};

function limitOf(s: Capacity): { factor: number } | { limit: number } {
  return s.limit !== undefined ? { limit: s.limit } : { factor: s.factor! };
}
