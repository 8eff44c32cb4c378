import type { Node } from '../../ir/graph.js';
import type { OpAttrs } from '../../ir/ops.js';
import { DT, type OnnxGraph } from './builder.js';
import type { Emitted, Route } from './emit-dense.js';

/**
 * ONNX for the router primitives of lower-routers (docs/ir.md, "Primitive ops"), each
 * computing what its CPU reference kernel computes (src/runtime/reference/kernels.ts and
 * selection.ts), discrete decisions exactly:
 *
 * - keys of -inf are entries out of play: selection skips them and fills -1;
 * - every ranking is onnx `TopK`, whose ties go to the lower index, as moec's do; a stable
 *   order by several keys is several TopKs, the last by the most significant key;
 * - per-request coupling (expert_choice, capacity) ranks within segments of equal
 *   (request, expert) after sorting, a position minus its segment's first (`Unique`);
 * - sums that decide (top_p's cumulative threshold, capacity factors) and weight
 *   arithmetic (softmax, normalize, scale) run in f64, as the reference's do;
 * - hash routing is a `Loop` that probes fmix32 until every row has k distinct experts.
 *
 * Ids are int64 in ONNX (-1 for an empty slot); a route is its ids and weights.
 */
export function emitRouting(g: OnnxGraph, n: Node, src: Emitted[]): Emitted {
  const s = src as string[];
  const width = (i: number) => n.src[i]!.type.shape[1] as number;
  switch (n.op) {
    case 'softmax':
      return softmax(g, s[0]!, s[1]);
    case 'group_limit':
      return groupLimit(g, s[0]!, n.attrs, width(0));
    case 'topk': {
      const [v, i] = g.topk(s[0]!, g.ints([n.attrs.k]));
      return g.node('Where', [negInf(g, v), g.int(-1), i]);
    }
    case 'top_p':
      return topP(g, s[0]!, s[1]!, n.attrs, width(0));
    case 'hash_select':
      return hashSelect(g, s[0]!, n.attrs);
    case 'fixed_select':
      return g.node('Expand', [g.ints(n.attrs.experts), rowsBy(g, s[0]!, n.attrs.experts.length)]);
    case 'expert_choice':
      return expertChoice(g, s[0]!, s[1], n.attrs.capacity, width(0));
    case 'capacity':
      return capacity(g, s[0]!, s[1]!, s[2], n.attrs, width(0));
    case 'mask':
      return g.node('Where', [negInf(g, s[1]!), g.scalar(-Infinity), s[0]!]);
    case 'group_mask':
      return groupMask(g, s[0]!, s[1]!, n.attrs.size, width(0));
    case 'group_weight':
      return groupWeight(g, s[0]!, s[1]!, s[2]!, n.attrs.size);
    case 'fill':
      return g.node('Where', [valid(g, s[0]!), g.scalar(n.attrs.value), g.scalar(0)]);
    case 'repeat':
      return g.node('Reshape', [g.node('Expand', [g.node('Unsqueeze', [s[0]!, g.ints([1])]), g.ints([1, n.attrs.times])]), g.ints([-1])]);
    case 'drop': {
      const hit = g.reduce('ReduceMax', g.node('Cast', [g.node('Equal', [g.node('Unsqueeze', [s[0]!, g.ints([-1])]), g.ints(n.attrs.entries)])], { to: DT.INT64 }), [-1], 0);
      return g.node('Where', [g.node('Cast', [hit], { to: DT.BOOL }), g.int(-1), s[0]!]);
    }
    case 'gather':
      return g.node('Where', [valid(g, s[1]!), g.node('GatherElements', [s[0]!, g.node('Max', [s[1]!, g.int(0)])], { axis: 1 }), g.scalar(0)]);
    case 'normalize': {
      const w = f64(g, s[0]!);
      const sum = g.reduce('ReduceSum', w, [-1], 1);
      return f32(g, g.node('Where', [g.node('Equal', [sum, g.scalar(0, 'double')]), w, g.node('Div', [w, sum])]));
    }
    case 'scale':
      return f32(g, g.node('Mul', [f64(g, s[0]!), g.scalar(n.attrs.factor, 'double')]));
    case 'pack_route':
      return { ids: s[0]!, w: s[1]! };
    case 'route_ids':
      return (src[0] as Route).ids;
    case 'route_weights':
      return (src[0] as Route).w;
    case 'extend_route': {
      const r = src[0] as Route;
      const { first, count } = n.attrs;
      const shape = rowsBy(g, r.ids, count);
      const ids = g.node('Expand', [g.ints(Array.from({ length: count }, (_, j) => first + j)), shape]);
      const w = g.node('Expand', [s[1] ?? g.scalar(1), shape]);
      return { ids: g.node('Concat', [r.ids, ids], { axis: 1 }), w: g.node('Concat', [r.w, w], { axis: 1 }) };
    }
    default:
      throw new Error(`internal: the ONNX export has no lowering for IR op ${n.op}`);
  }
}

const f64 = (g: OnnxGraph, v: string) => g.node('Cast', [v], { to: DT.DOUBLE });
const f32 = (g: OnnxGraph, v: string) => g.node('Cast', [v], { to: DT.FLOAT });
const i64 = (g: OnnxGraph, v: string) => g.node('Cast', [v], { to: DT.INT64 });
/** Where v is -inf (an entry out of play). */
const negInf = (g: OnnxGraph, v: string) => g.node('IsInf', [v], { detect_positive: 0, detect_negative: 1 });
/** Where an id is a selected expert, not -1. */
const valid = (g: OnnxGraph, ids: string) => g.node('GreaterOrEqual', [ids, g.int(0)]);
/** [rows of `like`, n] as a shape. */
const rowsBy = (g: OnnxGraph, like: string, n: number) => g.node('Concat', [g.node('Slice', [g.node('Shape', [like]), g.ints([0]), g.ints([1])]), g.ints([n])], { axis: 0 });
/** The length of `v`'s first axis, as a [1] shape (TopK's k). */
const rowCount = (g: OnnxGraph, v: string) => g.node('Slice', [g.node('Shape', [v]), g.ints([0]), g.ints([1])]);

/** Softmax over the live entries (or, with ids, over the slots that hold one); the others unchanged. */
function softmax(g: OnnxGraph, v: string, ids?: string): string {
  const live = ids ? valid(g, ids) : g.node('Not', [negInf(g, v)]);
  const masked = ids ? g.node('Where', [live, v, g.scalar(-Infinity)]) : v;
  return g.node('Where', [live, f32(g, g.node('Softmax', [f64(g, masked)], { axis: -1 })), v]);
}

/**
 * The `keep` best of `groups` contiguous groups (by max live key, or the sum of the two best,
 * a lone one plus 0); live entries of the other groups become -inf (0 with `dropped = zero`).
 */
function groupLimit(g: OnnxGraph, key: string, a: Readonly<OpAttrs['group_limit']>, E: number): string {
  const size = E / a.groups;
  const grouped = g.node('Reshape', [key, g.ints([0, a.groups, size])]);
  let score: string;
  if (a.score === 'max' || size === 1) score = g.reduce('ReduceMax', grouped, [2], 0);
  else {
    const [top] = g.topk(grouped, g.ints([2]));
    const part = (i: number) => g.node('Squeeze', [g.node('Slice', [top, g.ints([i]), g.ints([i + 1]), g.ints([2])]), g.ints([2])]);
    const second = part(1);
    score = g.node('Add', [part(0), g.node('Where', [negInf(g, second), g.scalar(0), second])]);
  }
  const [, kept] = g.topk(score, g.ints([a.keep]));
  const member = g.node('ScatterElements', [g.node('ConstantOfShape', [g.node('Shape', [score])]), kept, g.node('Expand', [g.scalar(1), g.node('Shape', [kept])])], { axis: 1 });
  const keep = g.node('Cast', [perEntry(g, member, a.groups, size)], { to: DT.BOOL });
  return g.node('Where', [g.node('Or', [keep, negInf(g, key)]), key, g.scalar(a.dropped === 'zero' ? 0 : -Infinity)]);
}

/** A per-group [R, G] tensor repeated over each group's `size` entries: [R, G · size]. */
function perEntry(g: OnnxGraph, v: string, G: number, size: number): string {
  return g.node('Reshape', [g.node('Expand', [g.node('Unsqueeze', [v, g.ints([2])]), g.ints([1, 1, size])]), g.ints([0, G * size])]);
}

/** Union: -inf at each entry whose group is not among the row's group ids. */
function groupMask(g: OnnxGraph, v: string, gids: string, size: number, E: number): string {
  const G = E / size;
  const at = g.node('Where', [valid(g, gids), gids, g.int(G)]);
  const rows = g.node('Concat', [rowCount(g, v), g.ints([G + 1])], { axis: 0 });
  const member = g.node('ScatterElements', [g.node('ConstantOfShape', [rows]), at, g.node('Expand', [g.scalar(1), g.node('Shape', [at])])], { axis: 1 });
  const kept = g.node('Slice', [member, g.ints([0]), g.ints([G]), g.ints([1])]);
  return g.node('Where', [g.node('Cast', [perEntry(g, kept, G, size)], { to: DT.BOOL }), v, g.scalar(-Infinity)]);
}

/** Union: each slot's weight of its expert's group (the first matching group slot), 0 for an empty slot or a group not chosen. */
function groupWeight(g: OnnxGraph, ids: string, gids: string, gw: string, size: number): string {
  const group = g.node('Unsqueeze', [g.node('Div', [ids, g.int(size)]), g.ints([2])]);
  const match = g.node('Cast', [g.node('Equal', [group, g.node('Unsqueeze', [gids, g.ints([1])])])], { to: DT.FLOAT });
  const slot = g.node('ArgMax', [match], { axis: 2, keepdims: 0 });
  const found = g.node('Greater', [g.reduce('ReduceMax', match, [2], 0), g.scalar(0)]);
  return g.node('Where', [g.node('And', [valid(g, ids), found]), g.node('GatherElements', [gw, slot], { axis: 1 }), g.scalar(0)]);
}

/** The fewest best-keyed live entries whose scores (summed in f64, in rank order) reach p, at most max, at least one. */
function topP(g: OnnxGraph, key: string, scores: string, a: Readonly<OpAttrs['top_p']>, E: number): string {
  const [v, ids] = g.topk(key, g.ints([E]));
  const live = g.node('Not', [negInf(g, v)]);
  const before = g.node('CumSum', [f64(g, g.node('GatherElements', [scores, ids], { axis: 1 })), g.int(1)], { exclusive: 1 });
  // A row stops at the first entry whose predecessors already reach p: that one and every later one are out.
  const stopped = g.node('CumSum', [i64(g, g.node('GreaterOrEqual', [before, g.scalar(a.p, 'double')])), g.int(1)]);
  const take = g.node('And', [live, g.node('Equal', [stopped, g.int(0)])]);
  return g.node('Slice', [g.node('Where', [take, ids, g.int(-1)]), g.ints([0]), g.ints([a.max]), g.ints([1])]);
}

/**
 * Each element's rank within its segment, given `order` (a permutation that makes equal
 * segments contiguous) and `segment` (int64, per element): the sorted position minus the
 * position of the segment's first element, scattered back to the elements' own order.
 */
function segmentRank(g: OnnxGraph, order: string, segment: string): string {
  const sorted = g.node('Gather', [segment, order]);
  const [, first, inverse] = g.nodeOutputs('Unique', [sorted], 4, { sorted: 0 });
  const position = g.node('Range', [g.int(0), g.node('Size', [sorted]), g.int(1)]);
  const rank = g.node('Sub', [position, g.node('Gather', [first!, inverse!])]);
  return g.node('ScatterElements', [g.node('Mul', [segment, g.int(0)]), order, rank], { axis: 0 });
}

/** A permutation of a 1-D `v` sorted ascending (or descending), ties in the order given: stable. */
function sortBy(g: OnnxGraph, v: string, largest: 0 | 1): string {
  return g.topk(v, g.node('Shape', [v]), largest)[1];
}

/** Rows in the request of each element's row (`row`: the element's row index; all rows without requests). */
function requestSize(g: OnnxGraph, rows: string, requests: string | undefined, row: string): string {
  if (!requests) return g.node('Squeeze', [rowCount(g, rows), g.ints([0])]);
  const [, , inverse, counts] = g.nodeOutputs('Unique', [requests], 4, { sorted: 0 });
  return g.node('Gather', [g.node('Gather', [counts!, inverse!]), row]);
}

/** ceil(f · n · k / E) in f64, as the reference computes it. */
function ceilShare(g: OnnxGraph, n: string, factor: number, k: number, E: number): string {
  const share = g.node('Div', [g.node('Mul', [g.node('Mul', [g.scalar(factor, 'double'), f64(g, n)]), g.scalar(k, 'double')]), g.scalar(E, 'double')]);
  return i64(g, g.node('Ceil', [share]));
}

/**
 * Expert choice: within each request, each expert takes its min(n, ceil(capacity · n / E)) live
 * rows of largest key, ties to the lower row. The (expert, row) pairs are ordered by expert,
 * request, key descending and row (stable sorts), ranked within their (expert, request)
 * segment, and each row lists its chosen experts ascending, -1 after.
 */
function expertChoice(g: OnnxGraph, key: string, requests: string | undefined, capacity: number, E: number): string {
  const flat = g.node('Reshape', [g.node('Transpose', [key], { perm: [1, 0] }), g.ints([-1])]); // expert-major [E · R]
  const R = g.node('Squeeze', [rowCount(g, key), g.ints([0])]);
  const element = g.node('Range', [g.int(0), g.node('Size', [flat]), g.int(1)]);
  const [row, expert] = [g.node('Mod', [element, R]), g.node('Div', [element, R])];
  let order = sortBy(g, flat, 1);
  const request = requests ? g.node('Add', [g.node('Gather', [requests, row]), g.int(2 ** 31)]) : g.node('Mul', [row, g.int(0)]);
  const segment = g.node('Add', [g.node('Mul', [expert, g.int(2 ** 32)]), request]);
  order = g.node('Gather', [order, sortBy(g, g.node('Gather', [segment, order]), 0)]);
  const n = requestSize(g, key, requests, row);
  const take = g.node('Min', [n, ceilShare(g, n, capacity, 1, E)]);
  const chosen = g.node('And', [g.node('Not', [negInf(g, flat)]), g.node('Less', [segmentRank(g, order, segment), take])]);
  const byRow = g.node('Transpose', [g.node('Reshape', [i64(g, chosen), g.node('Concat', [g.ints([E]), rowCount(g, key)], { axis: 0 })])], { perm: [1, 0] }); // [R, E]
  // Row r's chosen experts in ascending order: expert e goes to slot (chosen before it), the others to a spare column.
  const slot = g.node('Where', [g.node('Cast', [byRow], { to: DT.BOOL }), g.node('Sub', [g.node('CumSum', [byRow, g.int(1)]), g.int(1)]), g.int(E)]);
  const experts = g.node('Expand', [g.ints(Array.from({ length: E }, (_, e) => e)), g.node('Shape', [byRow])]);
  const empty = g.node('Expand', [g.int(-1), rowsBy(g, key, E + 1)]);
  const ids = g.node('ScatterElements', [empty, slot, experts], { axis: 1, reduction: 'max' });
  return g.node('Slice', [ids, g.ints([0]), g.ints([E]), g.ints([1])]);
}

/**
 * Capacity: within each request, each expert keeps at most its capacity (a fixed limit, or
 * ceil(factor · n · k / E)) of its assignments, the earliest in (row, slot) order (`overflow`)
 * or the heaviest (`score`, ties to the earlier); the others become -1.
 */
function capacity(g: OnnxGraph, ids: string, w: string, requests: string | undefined, a: Readonly<OpAttrs['capacity']>, slots: number): string {
  const flatIds = g.node('Reshape', [ids, g.ints([-1])]);
  const element = g.node('Range', [g.int(0), g.node('Size', [flatIds]), g.int(1)]);
  const row = g.node('Div', [element, g.int(slots)]);
  let order = a.drop === 'score' ? sortBy(g, g.node('Reshape', [w, g.ints([-1])]), 1) : element;
  const request = requests ? g.node('Add', [g.node('Gather', [requests, row]), g.int(2 ** 31)]) : g.node('Mul', [row, g.int(0)]);
  // Segments of equal (request, expert); empty slots (id -1) form their own and are never kept.
  const segment = g.node('Add', [g.node('Mul', [request, g.int(a.experts + 1)]), g.node('Add', [flatIds, g.int(1)])]);
  order = g.node('Gather', [order, sortBy(g, g.node('Gather', [segment, order]), 0)]);
  const limit = a.limit !== undefined ? g.int(a.limit) : ceilShare(g, requestSize(g, ids, requests, row), a.factor!, a.k, a.experts);
  const kept = g.node('And', [valid(g, flatIds), g.node('Less', [segmentRank(g, order, segment), limit])]);
  return g.node('Reshape', [g.node('Where', [kept, flatIds, g.int(-1)]), g.node('Shape', [ids])]);
}

/** imul(a, c) mod 2³² for int64 a in [0, 2³²) and a constant c < 2³², in halves so no product passes 2⁴⁸. */
function mulMod32(g: OnnxGraph, a: string, c: number): string {
  const lo = g.node('Mod', [a, g.int(65536)]);
  const hi = g.node('Div', [a, g.int(65536)]);
  const high = g.node('Mul', [g.node('Mod', [g.node('Mul', [hi, g.int(c)]), g.int(65536)]), g.int(65536)]);
  return mod32(g, g.node('Add', [g.node('Mul', [lo, g.int(c)]), high]));
}

const mod32 = (g: OnnxGraph, v: string) => g.node('Mod', [v, g.int(2 ** 32)]);
const xorShift = (g: OnnxGraph, h: string, bits: number) => g.node('BitwiseXor', [h, g.node('Div', [h, g.int(2 ** bits)])]);

/**
 * Hash routing (src/runtime/reference/router.ts, hashExperts): probe j = 0, 1, ... gives
 * fmix32(id·0x9e3779b1 + seed·0x85ebca77 + j·0xc2b2ae3d) mod E; a row keeps each new expert
 * until it has k. The probes run in a Loop until every row is full.
 */
function hashSelect(g: OnnxGraph, tokens: string, a: Readonly<OpAttrs['hash_select']>): string {
  const base = mod32(g, g.node('Add', [mulMod32(g, mod32(g, tokens), 0x9e3779b1), g.int(Math.imul(a.seed, 0x85ebca77) >>> 0)]));
  const empty = g.node('Expand', [g.int(-1), rowsBy(g, tokens, a.k)]);
  const none = g.node('Mul', [tokens, g.int(0)]);
  const start = g.node('Greater', [g.node('Size', [tokens]), g.int(0)]);
  const name = g.fresh('hash_probe');
  const [probe, ids, count] = [`${name}_j`, `${name}_ids`, `${name}_count`];
  const body = g.subgraph(
    name,
    [
      { name: probe, type: DT.INT64, dims: [] },
      { name: `${name}_cond`, type: DT.BOOL, dims: [] },
      { name: ids, type: DT.INT64 },
      { name: count, type: DT.INT64 },
    ],
    (b) => {
      let h = mod32(b, b.node('Add', [base, mulMod32(b, mod32(b, probe), 0xc2b2ae3d)]));
      h = mulMod32(b, xorShift(b, h, 16), 0x85ebca6b);
      h = mulMod32(b, xorShift(b, h, 13), 0xc2b2ae35);
      const e = b.node('Unsqueeze', [b.node('Mod', [xorShift(b, h, 16), b.int(a.width)]), b.ints([1])]);
      const present = b.node('Cast', [b.reduce('ReduceMax', b.node('Cast', [b.node('Equal', [ids, e])], { to: DT.INT64 }), [1], 0)], { to: DT.BOOL });
      const add = b.node('And', [b.node('Less', [count, b.int(a.k)]), b.node('Not', [present])]);
      const slot = b.node('And', [b.node('Equal', [b.node('Unsqueeze', [count, b.ints([1])]), b.ints(Array.from({ length: a.k }, (_, i) => i))]), b.node('Unsqueeze', [add, b.ints([1])])]);
      const counted = b.node('Add', [count, b.node('Cast', [add], { to: DT.INT64 })]);
      const more = b.node('Less', [b.reduce('ReduceMin', counted, [0], 0), b.int(a.k)]);
      return [
        { name: more, type: DT.BOOL },
        { name: b.node('Where', [slot, e, ids]), type: DT.INT64 },
        { name: counted, type: DT.INT64 },
      ];
    },
  );
  return g.nodeOutputs('Loop', ['', start, empty, none], 2, { body: { graph: body } })[0]!;
}
