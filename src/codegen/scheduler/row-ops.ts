import type { Op, OpAttrs, UnaryFn } from '../../ir/ops.js';
import { add, and, bitcast, bool, call, cast, div, eq, f32, ge, gt, i32, lt, mul, ne, neg, not, or, select, sub, u32, bitXor, shr, type Block } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import { each, reduce, type RowArg, type RowCx, type RowEmitter, type RowSink, type RowVec } from './rows.js';

/**
 * Row kernels for the ops a router (or a norm) is made of: each reads its operands' rows and
 * writes its own row, with the exact semantics of the CPU reference (src/runtime/reference):
 * the same live entries (-inf is "not live"), the same order, ties to the lower index.
 */
const NEG_INF = f32(-Infinity);

const row = (a: RowArg | undefined, what: string): RowVec => {
  if (!a?.row) throw new Error(`internal: row op needs a per-row ${what}`);
  return a.row;
};

/** Operand b of add/mul: same row, one value per row ([R, 1]), or a broadcast vector. */
function second(b: RowArg, len: number): (i: Expr) => Expr {
  if (b.row) return b.row.len === 1 && len !== 1 ? () => b.row!.get(i32(0)) : (i) => b.row!.get(i);
  return (i) => b.flat(i);
}

function map(cx: RowCx, out: RowSink, f: (i: Expr) => Expr): void {
  each(cx, 'i', out.len, (i, b) => out.set(b, i, f(i)));
}

/** Under shared rows only lane 0 writes a value every lane computed. */
function setOnce(cx: RowCx, b: Block, out: RowSink, i: Expr, v: Expr): void {
  if (cx.lanes === 1) out.set(b, i, v);
  else b.if(eq(cx.lane, 0), (t) => out.set(t, i, v));
}

/** The elementwise functions, as f32 expressions (sigmoid in the overflow-safe form the reference uses). */
export function unary(fn: UnaryFn | 'sigmoid', v: Expr): Expr {
  const sigmoid = (x: Expr) => select(ge(x, 0), div(1, add(1, call('exp', neg(x)))), div(call('exp', x), add(1, call('exp', x))));
  switch (fn) {
    case 'sigmoid':
      return sigmoid(v);
    case 'silu':
      return mul(v, sigmoid(v));
    case 'gelu':
      return mul(mul(0.5, v), add(1, call('erf', mul(v, Math.SQRT1_2))));
    case 'gelu_tanh':
      return mul(mul(0.5, v), add(1, call('tanh', mul(Math.sqrt(2 / Math.PI), add(v, mul(mul(mul(0.044715, v), v), v))))));
    case 'relu':
      return select(gt(v, 0), v, f32(0));
    case 'identity':
      return v;
  }
}

/** The IR's act with its parameters: fn_α(clamp(v, min, max)) + shift, as the reference's `activate`. */
export function activation({ fn, alpha, min, max, shift }: Readonly<OpAttrs['act']>, v: Expr): Expr {
  const clamped = [max === undefined ? undefined : (u: Expr) => call('min', u, f32(max)), min === undefined ? undefined : (u: Expr) => call('max', u, f32(min))].reduce((u, f) => (f ? f(u) : u), v);
  const y = fn === 'silu' && alpha !== undefined ? mul(clamped, unary('sigmoid', mul(alpha, clamped))) : unary(fn, clamped);
  return shift === undefined ? y : add(y, shift);
}

/**
 * The i-th live entry in (key descending, index ascending) order after (prevKey, prev): the next
 * of a ranking. Lanes sharing the row each find the best of their entries; the subgroup's
 * largest key wins, and among lanes holding it the lowest index (ties to the lower index, as
 * everywhere). Both reductions are exact.
 */
function nextRanked(cx: RowCx, b: Block, key: RowVec, prevKey: Expr, prev: Expr): Expr {
  const best = b.var('best', i32(-1));
  const bestKey = b.var('bk', NEG_INF);
  each({ ...cx, b }, 'e', key.len, (e, l) => {
    const v = l.let('kv', key.get(e));
    // After the previous pick in ranking order, and before the best so far.
    const after = or(lt(prev, 0), or(lt(v, prevKey), and(eq(v, prevKey), gt(e, prev))));
    const better = or(lt(best.get, 0), gt(v, bestKey.get));
    l.if(and(and(ne(v, NEG_INF), after), better), () => {
      best.set(e);
      bestKey.set(v);
    });
  });
  if (cx.lanes === 1) return best.get;
  const top = b.let('top', { k: 'subgroup', type: 'f32', op: 'max', a: bestKey.get });
  const mine = select(and(ge(best.get, 0), eq(bestKey.get, top)), best.get, i32(NO_PICK));
  const pick = b.let('pick', { k: 'subgroup', type: 'i32', op: 'min', a: mine });
  return b.let('pick', select(eq(pick, NO_PICK), i32(-1), pick));
}

/** A lane without a candidate offers this index to the subgroup minimum. */
const NO_PICK = 2147483647;

/** Fill out[0..slots) with the ranking of live keys, stopping when `more(n, pick)` says so (top-k: n < k). */
function rank(cx: RowCx, key: RowVec, out: RowSink, more?: (n: Expr, pick: Expr, b: Block) => Expr): void {
  if (cx.lanes > 1) return rankShared(cx, key, out, more);
  const b = cx.b;
  const prev = b.var('prev', i32(-1));
  const prevKey = b.var('pk', f32(0));
  const done = b.var('done', bool(false));
  b.for('s', 0, out.len, (s, l) => {
    out.set(l, s, i32(-1));
    l.if(not(done.get), (t) => {
      const pick = nextRanked(cx, t, key, prevKey.get, prev.get);
      const take = more ? and(ge(pick, 0), more(s, pick, t)) : ge(pick, 0);
      t.if(take, (y) => {
        out.set(y, s, pick);
        prev.set(pick);
        prevKey.set(key.get(pick));
      }, () => done.set(bool(true)));
    });
  });
}

/**
 * The same ranking with the row shared by a subgroup: every lane finds every pick (so the
 * subgroup operations stay in uniform control flow, and every lane agrees on the state);
 * lane 0 writes the row.
 */
function rankShared(cx: RowCx, key: RowVec, out: RowSink, more?: (n: Expr, pick: Expr, b: Block) => Expr): void {
  const b = cx.b;
  const prev = b.var('prev', i32(-1));
  const prevKey = b.var('pk', f32(0));
  const done = b.var('done', bool(false));
  b.for('s', 0, out.len, (s, l) => {
    const pick = nextRanked(cx, l, key, prevKey.get, prev.get);
    const take = l.var('take', bool(false));
    const accept = () => {
      take.set(bool(true));
      prev.set(pick);
      prevKey.set(key.get(pick));
    };
    l.if(and(not(done.get), ge(pick, 0)), (t) => (more ? t.if(more(s, pick, t), accept, () => done.set(bool(true))) : accept()), () => done.set(bool(true)));
    setOnce(cx, l, out, s, select(take.get, pick, i32(-1)));
  });
}

/** Row ops that do not share their row among lanes: under shared rows they run on lane 0. */
export const serialRowOps: ReadonlySet<Op> = new Set<Op>(['group_limit', 'fixed_select', 'hash_select']);

export const rowOps: Partial<Record<keyof OpAttrs, RowEmitter>> = {
  matmul: (cx, [x, w], _, out) => {
    const xs = row(x, 'left operand');
    const n = out.len;
    // Shared rows: the lanes split each column's k range; a subgroup sum adds their parts.
    cx.b.for('n', 0, n, (c, b) => {
      const acc = reduce({ ...cx, b }, 'acc', f32(0), xs.len, (a, k) => add(a, mul(xs.get(k), w!.flat(add(mul(k, n), c)))), 'sum', undefined, 'k');
      setOnce(cx, b, out, c, acc);
    });
  },
  add: (cx, [a, b], _, out) => {
    const rhs = second(b!, out.len);
    map(cx, out, (i) => add(row(a, 'operand').get(i), rhs(i)));
  },
  mul: (cx, [a, b], _, out) => {
    const rhs = second(b!, out.len);
    map(cx, out, (i) => mul(row(a, 'operand').get(i), rhs(i)));
  },
  act: (cx, [a], attrs: OpAttrs['act'], out) => map(cx, out, (i) => activation(attrs, row(a, 'operand').get(i))),
  scale: (cx, [a], attrs: OpAttrs['scale'], out) => map(cx, out, (i) => mul(row(a, 'operand').get(i), attrs.factor)),
  fill: (cx, [ids], attrs: OpAttrs['fill'], out) => map(cx, out, (i) => select(ge(row(ids, 'ids').get(i), 0), f32(attrs.value), f32(0))),
  drop: (cx, [ids], attrs: OpAttrs['drop'], out) =>
    map(cx, out, (i) => {
      const id = row(ids, 'ids').get(i);
      return attrs.entries.length ? select(attrs.entries.map((e) => eq(id, e)).reduce(or), i32(-1), id) : id;
    }),
  gather: (cx, [v, ids], _, out) =>
    each(cx, 's', out.len, (s, b) => {
      const id = b.let('id', row(ids, 'ids').get(s));
      const safe = select(ge(id, 0), id, i32(0));
      out.set(b, s, select(ge(id, 0), row(v, 'values').get(safe), f32(0)));
    }),
  normalize: (cx, [w], _, out) => {
    const ws = row(w, 'weights');
    const sum = reduce(cx, 'sum', f32(0), ws.len, (a, s) => add(a, ws.get(s)), 'sum', undefined, 's');
    map(cx, out, (i) => select(ne(sum, 0), div(ws.get(i), sum), ws.get(i)));
  },
  softmax: (cx, [v, ids], _, out) => {
    const xs = row(v, 'values');
    const live = (i: Expr) => (ids ? ge(row(ids, 'ids').get(i), 0) : ne(xs.get(i), NEG_INF));
    const max = reduce(cx, 'max', NEG_INF, xs.len, (m, i) => call('max', m, xs.get(i)), 'max', live);
    const sum = reduce(cx, 'sum', f32(0), xs.len, (a, i) => add(a, call('exp', sub(xs.get(i), max))), 'sum', live);
    map(cx, out, (i) => select(live(i), div(call('exp', sub(xs.get(i), max)), sum), xs.get(i)));
  },
  topk: (cx, [key], _, out) => rank(cx, row(key, 'keys'), out),
  top_p: (cx, [key, scores], attrs: OpAttrs['top_p'], out) => {
    const sum = cx.b.var('sum', f32(0));
    // Take while fewer than max and (none yet or the scores so far fall short of p).
    rank(cx, row(key, 'keys'), out, (n, pick, b) => {
      const take = b.let('take', or(eq(n, 0), lt(sum.get, attrs.p)));
      b.if(take, () => sum.set(add(sum.get, row(scores, 'scores').get(pick))));
      return take;
    });
  },
  group_limit: (cx, [key], attrs: OpAttrs['group_limit'], out) => {
    const keys = row(key, 'keys');
    const size = keys.len / attrs.groups;
    const scores = cx.b.array('gs', 'f32', attrs.groups);
    cx.b.for('g', 0, attrs.groups, (g, b) => {
      const top1 = b.var('t1', NEG_INF);
      const top2 = b.var('t2', NEG_INF);
      b.for('e', mul(g, size), add(mul(g, size), size), (e, l) => {
        const v = l.let('kv', keys.get(e));
        l.if(ne(v, NEG_INF), (t) =>
          t.if(gt(v, top1.get), () => {
            top2.set(top1.get);
            top1.set(v);
          }, (n) => n.if(gt(v, top2.get), () => top2.set(v))),
        );
      });
      // top2 of a group with one live entry adds 0, as the reference does.
      const score = attrs.score === 'max' ? top1.get : select(eq(top1.get, NEG_INF), NEG_INF, add(top1.get, select(eq(top2.get, NEG_INF), f32(0), top2.get)));
      b.set(scores, g, score);
    });
    cx.b.for('e', 0, keys.len, (e, b) => {
      const g = b.let('g', div(e, size));
      const better = b.var('better', i32(0));
      b.for('h', 0, attrs.groups, (h, l) =>
        l.if(or(gt(scores.at(h), scores.at(g)), and(eq(scores.at(h), scores.at(g)), lt(h, g))), () => better.set(add(better.get, 1))),
      );
      // A dropped group's live entries leave play (-inf) or, with `dropped = zero`, get key 0.
      const dropped = attrs.dropped === 'zero' ? select(eq(keys.get(e), NEG_INF), NEG_INF, f32(0)) : NEG_INF;
      out.set(b, e, select(lt(better.get, attrs.keep), keys.get(e), dropped));
    });
  },
  mask: (cx, [v, live], _, out) => map(cx, out, (i) => select(eq(row(live, 'live').get(i), NEG_INF), NEG_INF, row(v, 'values').get(i))),
  group_mask: (cx, [v, groups], attrs: OpAttrs['group_mask'], out) =>
    each(cx, 'e', out.len, (e, b) => {
      const g = b.let('g', div(e, attrs.size));
      const chosen = b.var('chosen', bool(false));
      const ids = row(groups, 'group ids');
      b.for('j', 0, ids.len, (j, l) => l.if(eq(ids.get(j), g), () => chosen.set(bool(true))));
      out.set(b, e, select(chosen.get, row(v, 'values').get(e), NEG_INF));
    }),
  group_weight: (cx, [ids, groups, weights], attrs: OpAttrs['group_weight'], out) =>
    each(cx, 's', out.len, (s, b) => {
      const id = b.let('id', row(ids, 'ids').get(s));
      const w = b.var('w', f32(0));
      const gids = row(groups, 'group ids');
      b.if(ge(id, 0), (t) => t.for('j', 0, gids.len, (j, l) => l.if(eq(gids.get(j), div(id, attrs.size)), () => w.set(row(weights, 'group weights').get(j)))));
      out.set(b, s, w.get);
    }),
  fixed_select: (cx, _args, attrs: OpAttrs['fixed_select'], out) => attrs.experts.forEach((e, s) => out.set(cx.b, i32(s), i32(e))),
  hash_select: (cx, [tokens], attrs: OpAttrs['hash_select'], out) => {
    // fmix32 of (id, seed, probe) as in the reference; u32 arithmetic wraps like Math.imul.
    const b = cx.b;
    const id = b.let('tid', bitcast('u32', row(tokens, 'token ids').get(i32(0))));
    const found = b.var('found', i32(0));
    b.for('j', 0, 4096, (j, l) => {
      l.if(ge(found.get, attrs.k), (t) => t.break());
      let h = add(add(mul(id, u32(0x9e3779b1)), u32(Math.imul(attrs.seed, 0x85ebca77))), mul(bitcast('u32', j), u32(0xc2b2ae3d)));
      const h0 = l.let('h', h);
      const h1 = l.let('h', mul(bitXor(h0, shr(h0, u32(16))), u32(0x85ebca6b)));
      const h2 = l.let('h', mul(bitXor(h1, shr(h1, u32(13))), u32(0xc2b2ae35)));
      h = bitXor(h2, shr(h2, u32(16)));
      const e = l.let('e', cast('i32', { k: 'binary', type: 'u32', op: '%', a: h, b: u32(attrs.width) }));
      const seen = l.var('seen', bool(false));
      l.for('s', 0, attrs.k, (s, m) => m.if(and(lt(s, found.get), eq(out.get(s), e)), () => seen.set(bool(true))));
      l.if(not(seen.get), (t) => {
        out.set(t, found.get, e);
        found.set(add(found.get, 1));
      });
    });
  },
  rmsnorm: (cx, [x, g], attrs: OpAttrs['rmsnorm'], out) => {
    const xs = row(x, 'input');
    const ms = reduce(cx, 'ms', f32(0), xs.len, (a, i) => add(a, mul(xs.get(i), xs.get(i))), 'sum');
    const inv = cx.b.let('inv', div(1, call('sqrt', add(div(ms, xs.len), attrs.eps))));
    map(cx, out, (i) => mul(mul(xs.get(i), inv), g!.flat(i)));
  },
  layernorm: (cx, [x, g, beta], attrs: OpAttrs['layernorm'], out) => {
    const xs = row(x, 'input');
    const sum = reduce(cx, 'sum', f32(0), xs.len, (a, i) => add(a, xs.get(i)), 'sum');
    const mean = cx.b.let('mean', div(sum, xs.len));
    const v = reduce(cx, 'var', f32(0), xs.len, (a, i, b) => {
      const d = b.let('d', sub(xs.get(i), mean));
      return add(a, mul(d, d));
    }, 'sum');
    const inv = cx.b.let('inv', div(1, call('sqrt', add(div(v, xs.len), attrs.eps))));
    map(cx, out, (i) => add(mul(mul(sub(xs.get(i), mean), inv), g!.flat(i)), beta!.flat(i)));
  },
};
