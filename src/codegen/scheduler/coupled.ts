import type { OpAttrs } from '../../ir/ops.js';
import { affine } from '../../ir/types.js';
import { add, affineExpr, and, div, eq, ge, gt, i32, lt, mul, ne, or, sub, f32 } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import { perThread, type Launch } from './launch.js';
import type { Block } from '../build.js';
import type { Affine } from '../program.js';
import { elements, type Value } from './values.js';
import type { OpKernel } from './site.js';

/**
 * The two router stages that couple tokens: expert choice and capacity. Both act on the rows
 * of one request (every row when the model has no request ids). Each decision is one
 * invocation that counts, over the rows of its request, who ranks before it, so the result is
 * the reference's sequential order without atomics or sorting.
 */
const NEG_INF = f32(-Infinity);

/** ceil(factor · n / d) exactly, for a decimal factor: integer arithmetic on factor's digits. */
function ceilScaled(factor: number, n: Expr, d: number): Expr {
  let scale = 1;
  while (!Number.isInteger(factor * scale) && scale < 1e6) scale *= 10;
  const num = Math.round(factor * scale);
  const den = d * scale;
  return div(add(mul(n, num), den - 1), den);
}

/**
 * Visit, in order, every row q of row r's request (every row without request ids); returns
 * how many there are. Both coupling stages count their request's rows and rank within them.
 */
function eachRowOfRequest(launch: Launch, requests: Value | undefined, rows: Affine, r: Expr, visit: (q: Expr, b: Block) => void): Expr {
  const req = requests && launch.read('requests', requests);
  const n = launch.k.var('n', i32(0));
  launch.k.for('q', 0, affineExpr(rows.a, rows.b), (q, b) => {
    const count = (y: Block) => {
      n.set(add(n.get, 1));
      visit(q, y);
    };
    if (req) b.if(eq(req(r), req(q)), count);
    else count(b);
  });
  return n.get;
}

export const coupledOps: Partial<Record<keyof OpAttrs, OpKernel>> = {
  expert_choice: {
    summary: 'each expert takes its best rows of each request; each row lists the experts that took it',
    workspace: (site) => [{ name: 'chosen', element: 'i32', shape: site.type.shape }],
    emit: (site, [key, requests], pb, { chosen }) => {
      const { capacity } = site.attrs as OpAttrs['expert_choice'];
      const [R, E] = [site.type.shape[0]!, Number(site.type.shape[1])];
      const rows = affine(R);
      const out = pb.output(site);
      // 1. Does expert e take row r? It takes its ceil(capacity · n / E) best live rows of the request.
      perThread(pb, site.node, 'expert_choice_rank', 'expert choice: does each expert take each row', { a: rows.a * E, b: rows.b * E }, pb.schedule.elementwise, (launch, t) => {
        const k = launch.k;
        const keys = launch.read('key', key!);
        const r = k.let('r', div(t, E));
        const e = k.let('e', sub(t, mul(r, E)));
        const mine = k.let('mine', keys(t));
        const before = k.var('before', i32(0));
        const n = eachRowOfRequest(launch, requests, rows, r, (q, y) => {
          const other = y.let('o', keys(add(mul(q, E), e)));
          y.if(and(ne(other, NEG_INF), or(gt(other, mine), and(eq(other, mine), lt(q, r)))), () => before.set(add(before.get, 1)));
        });
        const take = ceilScaled(capacity, n, E);
        k.store(launch.write('chosen', chosen!), t, { k: 'select', type: 'i32', cond: and(ne(mine, NEG_INF), and(lt(before.get, take), lt(before.get, n))), a: i32(1), b: i32(0) });
      });
      // 2. Each row lists the experts that took it, ascending, then -1.
      perThread(pb, site.node, 'expert_choice_ids', 'expert choice: each row lists the experts that took it', rows, pb.schedule.rows, (launch, r) => {
        const k = launch.k;
        const c = launch.read('chosen', chosen!);
        const o = launch.write('out', out);
        const next = k.var('next', i32(0));
        k.for('e', 0, E, (e, b) => {
          b.store(o, add(mul(r, E), e), i32(-1));
          b.if(ne(c(add(mul(r, E), e)), 0), (t) => {
            t.store(o, add(mul(r, E), next.get), e);
            next.set(add(next.get, 1));
          });
        });
      });
      return out;
    },
  },
  capacity: {
    summary: 'each assignment is kept while its expert has room in its request',
    emit: (site, [ids, w, requests], pb) => {
      const { factor, limit, drop, k: perToken, experts } = site.attrs as OpAttrs['capacity'];
      const slots = Number(site.type.shape[1]);
      const rows = affine(site.type.shape[0]!);
      const out = pb.output(site);
      perThread(pb, site.node, 'capacity', 'each assignment is kept while its expert has room', elements(site.type.shape), pb.schedule.elementwise, (launch, t) => {
        const k = launch.k;
        const [id, weight] = [launch.read('ids', ids!), launch.read('w', w!)];
        const r = k.let('r', div(t, slots));
        const e = k.let('e', id(t));
        // The assignment's own weight, which only score-ordered dropping compares against.
        const mine = drop === 'score' ? k.let('mine', weight(t)) : undefined;
        const before = k.var('before', i32(0));
        const rowsInRequest = eachRowOfRequest(launch, requests, rows, r, (q, y) =>
          y.for('s', 0, slots, (s, z) => {
            const u = z.let('u', add(mul(q, slots), s));
            // Earlier in (row, slot) order; for `score`, heavier first, then that order.
            const earlier = lt(u, t);
            const ranksBefore = mine ? or(gt(weight(u), mine), and(eq(weight(u), mine), earlier)) : earlier;
            z.if(and(eq(id(u), e), ranksBefore), () => before.set(add(before.get, 1)));
          }),
        );
        const cap = limit !== undefined ? i32(limit) : ceilScaled(factor!, mul(rowsInRequest, perToken), experts);
        k.store(launch.write('out', out), t, { k: 'select', type: 'i32', cond: and(ge(e, 0), lt(before.get, cap)), a: e, b: i32(-1) });
      });
      return out;
    },
  },
};
