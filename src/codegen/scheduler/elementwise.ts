import type { OpAttrs } from '../../ir/ops.js';
import { add, div, eq, f32, ge, i32, mod, mul, or, select } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import { perThread } from './launch.js';
import { elements, type Value } from './values.js';
import { activation } from './row-ops.js';
import { opKernel, type OpKernel, type Site } from './site.js';

/**
 * One invocation per output element: add, mul, act, scale, fill, drop and repeat outside a
 * row chain. Operand b of add/mul broadcasts as the reference does: a vector over rows, or
 * one value per row ([R, 1]).
 */
type Scalarize = (site: Site, at: ((i: Expr) => Expr)[], i: Expr, args: Value[]) => Expr;

const lastDim = (v: Value) => Number(v.shape[v.shape.length - 1]);
const count = (v: Value) => elements(v.shape);

/** The element of operand b that output element i combines with. */
function broadcast(site: Site, b: Value, i: Expr): Expr {
  const d = Number(site.type.shape[site.type.shape.length - 1]);
  const n = count(b);
  const out = elements(site.type.shape);
  if (n.a === out.a && n.b === out.b) return i;
  if (lastDim(b) === 1 && d !== 1) return div(i, d);
  return mod(i, n.b);
}

const scalar: Partial<Record<Site['op'], Scalarize>> = {
  add: (s, [a, b], i, args) => add(a!(i), b!(broadcast(s, args[1]!, i))),
  mul: (s, [a, b], i, args) => mul(a!(i), b!(broadcast(s, args[1]!, i))),
  act: (s, [a], i) => activation(s.attrs as OpAttrs['act'], a!(i)),
  scale: (s, [a], i) => mul(a!(i), (s.attrs as { factor: number }).factor),
  fill: (s, [a], i) => select(ge(a!(i), 0), f32((s.attrs as { value: number }).value), f32(0)),
  drop: (s, [a], i) => {
    const entries = (s.attrs as { entries: number[] }).entries;
    const id = a!(i);
    return entries.length ? select(entries.map((e) => eq(id, e)).reduce(or), i32(-1), id) : id;
  },
  repeat: (s, [a], i) => a!(div(i, (s.attrs as { times: number }).times)),
};

export const elementwiseOps: Partial<Record<Site['op'], OpKernel>> = Object.fromEntries(
  Object.entries(scalar).map(([op, f]) => [
    op,
    opKernel(`${op}, one invocation per element`, (site, args, pb) => {
      const out = pb.output(site);
      perThread(pb, site.node, site.op, `${site.op} per element`, elements(site.type.shape), pb.schedule.elementwise, (launch, i) => {
        const readers = args.map((v, j) => launch.read(`in${j}`, v));
        launch.k.store(launch.write('out', out), i, f!(site, readers, i, args));
      });
      return out;
    }),
  ]),
);

