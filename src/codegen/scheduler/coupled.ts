import type { OpAttrs } from '../../ir/ops.js';
import { affine } from '../../ir/types.js';
import { add, affineExpr, and, div, eq, ge, gt, i32, lt, mul, ne, or, sub, f32 } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import { perThread, type Launch } from './launch.js';
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

/** Rows sharing row r's request (all rows without request ids), counted. */
function sameRequest(launch: Launch, requests: Value | undefined): (r: Expr, q: Expr) => Expr {
  if (!requests) return () => ({ k: 'const', type: 'bool', value: true });
  const req = launch.read('requests', requests);
  return (r, q) => eq(req(r), req(q));
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
        const [keys, same] = [launch.read('key', key!), sameRequest(launch, requests)];
        const r = k.let('r', div(t, E));
        const e = k.let('e', sub(t, mul(r, E)));
        const mine = k.let('mine', keys(t));
        const n = k.var('n', i32(0));
        const before = k.var('before', i32(0));
        k.for('q', 0, affineExpr(rows.a, rows.b), (q, b) => {
          b.if(same(r, q), (y) => {
            n.set(add(n.get, 1));
            const other = y.let('o', keys(add(mul(q, E), e)));
            y.if(and(ne(other, NEG_INF), or(gt(other, mine), and(eq(other, mine), lt(q, r)))), () => before.set(add(before.get, 1)));
          });
        });
        const take = ceilScaled(capacity, n.get, E);
        k.store(launch.write('chosen', chosen!), t, { k: 'select', type: 'i32', cond: and(ne(mine, NEG_INF), and(lt(before.get, take), lt(before.get, n.get))), a: i32(1), b: i32(0) });
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
      const { factor, drop, k: perToken, experts } = site.attrs as OpAttrs['capacity'];
      const slots = Number(site.type.shape[1]);
      const rows = affine(site.type.shape[0]!);
      const out = pb.output(site);
      perThread(pb, site.node, 'capacity', 'each assignment is kept while its expert has room', elements(site.type.shape), pb.schedule.elementwise, (launch, t) => {
        const k = launch.k;
        const [id, weight, same] = [launch.read('ids', ids!), launch.read('w', w!), sameRequest(launch, requests)];
        const r = k.let('r', div(t, slots));
        const e = k.let('e', id(t));
        const mine = k.let('mine', weight(t));
        const rowsInRequest = k.var('n', i32(0));
        const before = k.var('before', i32(0));
        k.for('q', 0, affineExpr(rows.a, rows.b), (q, b) => {
          b.if(same(r, q), (y) => {
            rowsInRequest.set(add(rowsInRequest.get, 1));
            y.for('s', 0, slots, (s, z) => {
              const u = z.let('u', add(mul(q, slots), s));
              // Earlier in (row, slot) order; for `score`, heavier first, then that order.
              const earlier = lt(u, t);
              const ranksBefore = drop === 'score' ? or(gt(weight(u), mine), and(eq(weight(u), mine), earlier)) : earlier;
              z.if(and(eq(id(u), e), ranksBefore), () => before.set(add(before.get, 1)));
            });
          });
      });
      const cap = ceilScaled(factor, mul(rowsInRequest.get, perToken), experts);
      k.store(launch.write('out', out), t, { k: 'select', type: 'i32', cond: and(ge(e, 0), lt(before.get, cap)), a: e, b: i32(-1) });
      });
      return out;
    },
  },
};

