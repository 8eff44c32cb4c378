import type { RouteAttrs, RouterSpec } from '../../ir/ops.js';
import { routerParamCount, selectionsPerToken } from '../../ir/routing.js';
import type { RowState, StageRows } from '../../stages/stage.js';
import { stageDef } from '../../stages/table.js';
import { matmul } from './math.js';
import { rankDesc } from './selection.js';

/**
 * The exact router semantics of docs/language.md, "Router stages", over a batch of rows.
 * Token-choice stages act on each row alone; expert_choice and capacity act on the rows of
 * one request (or the whole batch for `scope batch`). Values are rounded to f32 after each
 * stage; selection ties go to the lower expert (or token) index.
 */
export interface RouteValue {
  rows: number;
  slots: number;
  /** Expert ids per row in selection order, -1 for an empty slot. */
  ids: Int32Array;
  weights: Float32Array;
}

/** What a router reads besides its stages: the activations and its parameters. */
export interface RouterInputs {
  x: Float32Array;
  width: number;
  params: Float32Array[];
  /** Token ids (hash routing), per row. */
  ids?: Int32Array;
  /** Request id per row, for coupling stages under `scope request`. */
  requests?: Int32Array;
}

const f = Math.fround;

export function route(attrs: RouteAttrs, rows: number, inputs: RouterInputs): RouteValue {
  const params = [...inputs.params];
  let allowed: ((row: number, e: number) => boolean) | undefined;
  let groupWeight: ((row: number, e: number) => number) | undefined;
  if (attrs.groupRouter) {
    const g = attrs.groupRouter;
    const groups = runRouter(g, [], rows, inputs, params.splice(0, routerParamCount(g)));
    const size = attrs.router.width / g.width;
    allowed = (r, e) => groups[r]!.sel!.includes(Math.floor(e / size));
    groupWeight = (r, e) => groups[r]!.w[Math.floor(e / size)]!;
  }
  const state = runRouter(attrs.router, attrs.nullEntries, rows, inputs, params, allowed);
  const out: RouteValue = { rows, slots: attrs.slots, ids: new Int32Array(rows * attrs.slots).fill(-1), weights: new Float32Array(rows * attrs.slots) };
  state.forEach((st, r) => {
    st.sel!.slice(0, attrs.slots).forEach((e, i) => {
      out.ids[r * attrs.slots + i] = e;
      out.weights[r * attrs.slots + i] = groupWeight ? f(st.w[e]! * groupWeight(r, e)) : st.w[e]!;
    });
  });
  return out;
}


function runRouter(spec: RouterSpec, nullEntries: readonly number[], rows: number, inputs: RouterInputs, params: Float32Array[], allowed?: (row: number, e: number) => boolean): RowState[] {
  const E = spec.width;
  const state: RowState[] = Array.from({ length: rows }, (_, r) => ({
    s: new Float64Array(E),
    live: Uint8Array.from({ length: E }, (_, e) => (allowed && !allowed(r, e) ? 0 : 1)),
    sel: null,
    w: new Float64Array(E),
  }));
  let p = 0;
  const src = spec.source;
  if (src.op === 'linear') {
    const logits = matmul(inputs.x, rows, inputs.width, params[p++]!, E);
    const bias = src.bias ? params[p++]! : undefined;
    state.forEach((st, r) => {
      for (let e = 0; e < E; e++) st.s[e] = f(logits[r * E + e]! + (bias ? bias[e]! : 0));
    });
  } else {
    state.forEach((st, r) => {
      const picked = src.op === 'fixed' ? src.experts : hashExperts(inputs.ids![r]!, src.seed, src.k, E);
      select(st, picked, nullEntries);
      for (const e of picked) st.w[e] = 1;
    });
  }
  const bias = spec.selectBias ? params[p++]! : undefined;
  // Each stage's semantics is its definition's `apply` (src/stages), over these rows.
  const view: StageRows = {
    state,
    E,
    k: selectionsPerToken(spec),
    requests: inputs.requests,
    key: (st, e) => (st.zeroKey?.[e] ? 0 : bias ? f(st.s[e]! + bias[e]!) : st.s[e]!),
    liveEntries,
    ranked: (st) => rankDesc(liveEntries(st), (e) => view.key(st, e)),
    select: (st, picked) => select(st, picked, nullEntries),
  };
  for (const stage of spec.stages) stageDef(stage).apply(stage, view);
  return state;
}

function select(st: RowState, picked: readonly number[], nullEntries: readonly number[]): void {
  // Null experts take part in selection, then leave: weighting sees only real experts.
  st.sel = picked.filter((e) => !nullEntries.includes(e));
  for (const e of st.sel) st.w[e] = st.s[e]!;
}

function liveEntries(st: RowState): number[] {
  const list: number[] = [];
  for (let e = 0; e < st.live.length; e++) if (st.live[e]) list.push(e);
  return list;
}

/** fmix32 of a token id, seed and probe index; docs/language.md, hash. */
export function hashExperts(id: number, seed: number, k: number, E: number): number[] {
  const out: number[] = [];
  for (let j = 0; out.length < k; j++) {
    let h = (Math.imul(id, 0x9e3779b1) + Math.imul(seed, 0x85ebca77) + Math.imul(j, 0xc2b2ae3d)) | 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = (h ^ (h >>> 16)) >>> 0;
    const e = h % E;
    if (!out.includes(e)) out.push(e);
  }
  return out;
}
