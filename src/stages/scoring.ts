import { num, oneOf, opt } from '../ir/codec.js';
import { keptGroups, softmaxOver } from '../runtime/reference/selection.js';
import { sigmoid as logistic } from '../runtime/reference/math.js';
import type { StageDef } from './stage.js';

/** Scoring stages: they change the scores, the key or the live set before selection. */
export type ScoringStage = { op: 'softmax' } | { op: 'sigmoid' } | { op: 'select_bias' } | GroupLimit;

/**
 * `dropped` is absent for the default, `exclude` (the dropped groups' entries leave the live
 * set, as in DeepSeek's own inference code); `zero` keeps them selectable with key 0 (the
 * Hugging Face implementations' `masked_fill(..., 0.0)`).
 */
export type GroupLimit = { op: 'group_limit'; groups: number; keep: number; score: 'max' | 'top2'; dropped?: 'zero' };

const f = Math.fround;

export const softmax: StageDef<{ op: 'softmax' }> = {
  signature: { name: 'softmax', phase: 'score', params: [], doc: 'Softmax over the live entries (all before selection, the selected after).' },
  resolve: () => ({ op: 'softmax' }),
  fields: {},
  // Before selection over the live scores; after it over the selected weights.
  lower: (_, l) => {
    const sel = l.selected();
    if (sel) l.setSelected(sel.ids, l.b.add('softmax', [sel.w, sel.ids], {}));
    else l.setScores(l.b.add('softmax', [l.liveScores()], {}), true);
  },
  apply: (_, rows) => {
    for (const st of rows.state) softmaxOver(st.sel ? st.w : st.s, st.sel ?? rows.liveEntries(st));
  },
};

export const sigmoid: StageDef<{ op: 'sigmoid' }> = {
  signature: { name: 'sigmoid', phase: 'score', params: [], doc: 'Elementwise logistic function.' },
  resolve: () => ({ op: 'sigmoid' }),
  fields: {},
  lower: (_, l) => l.setScores(l.b.add('act', [l.scores()], { fn: 'sigmoid' }), false),
  apply: (_, rows) => {
    for (const st of rows.state) for (let e = 0; e < rows.E; e++) st.s[e] = f(logistic(st.s[e]!));
  },
};

export const selectBias: StageDef<{ op: 'select_bias' }> = {
  signature: { name: 'select_bias', phase: 'score', params: [], doc: 'Adds a learned correction bias to the selection keys only; weights keep the unbiased scores.' },
  resolve: () => ({ op: 'select_bias' }),
  fields: {},
  // The bias is a router param that is in every key, wherever the stage is written.
  lower: () => {},
  apply: () => {},
};

export const groupLimit: StageDef<GroupLimit> = {
  signature: {
    name: 'group_limit',
    phase: 'score',
    doc: 'Group-limited routing: split experts into contiguous groups, keep the best `keep` groups.',
    params: [
      { name: 'groups', type: 'int', doc: 'number of equal, contiguous expert groups' },
      { name: 'keep', type: 'int', doc: 'groups kept per token' },
      { name: 'score', type: { choice: ['max', 'top2'] }, default: 'max', doc: 'group score: max key, or sum of the top two keys' },
      { name: 'dropped', type: { choice: ['exclude', 'zero'] }, default: 'exclude', doc: "the other groups' entries: out of play, or selectable with key 0 (Hugging Face)" },
    ],
  },
  resolve: (a) => {
    const [groups, keep, score, dropped] = [a.int('groups'), a.int('keep'), a.choice('score'), a.choice('dropped')];
    if (groups === undefined || keep === undefined || score === undefined || dropped === undefined) return undefined;
    if (a.width % groups !== 0) return a.report('E0508', `${groups} groups do not divide the router's ${a.width} experts evenly`, 'groups');
    if (keep > groups) return a.report('E0509', `group_limit keeps ${keep} groups, but there are only ${groups}`, 'keep');
    if (score === 'top2' && a.width / groups < 2) return a.report('E0312', `score = top2 needs at least 2 experts per group, but each group has ${a.width / groups}`, 'score');
    return { op: 'group_limit', groups, keep, score: score as 'max' | 'top2', ...(dropped === 'zero' ? { dropped } : {}) };
  },
  fields: { groups: num, keep: num, score: oneOf('max', 'top2'), dropped: opt(oneOf('zero')) },
  // With `dropped = zero` every entry stays selectable.
  narrows: (s, width, selectable) => (s.dropped ? selectable : (width / s.groups) * s.keep),
  lower: (s, l) => {
    const limited = l.b.add('group_limit', [l.key()], { groups: s.groups, keep: s.keep, score: s.score, ...(s.dropped ? { dropped: s.dropped } : {}) });
    if (s.dropped) l.setKey(limited);
    else l.restrict(limited);
  },
  apply: (s, rows) => {
    const size = rows.E / s.groups;
    for (const st of rows.state) {
      const kept = keptGroups(s.groups, size, s.keep, s.score, (e) => rows.key(st, e), (e) => st.live[e] === 1);
      for (let e = 0; e < rows.E; e++) {
        if (kept.has(Math.floor(e / size)) || !st.live[e]) continue;
        if (s.dropped) (st.zeroKey ??= new Uint8Array(rows.E))[e] = 1;
        else st.live[e] = 0;
      }
    }
  },
};
