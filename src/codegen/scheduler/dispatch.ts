import type { OpAttrs } from '../../ir/ops.js';
import { affine, type Dim } from '../../ir/types.js';
import { add, affineExpr, and, call, div, eq, ge, gt, i32, lt, mul, or, sub, select } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import { perThread, type Launch } from './launch.js';
import type { Placement, ProgramBuilder } from './program-builder.js';
import { elements, type RouteValue, type TensorValue, type Value } from './values.js';
import { opKernel, type OpKernel, type Site, type Workspaces } from './site.js';

/**
 * On-device dispatch of a reroute: tokens per expert, padded offsets, the permutation and its
 * inverse, and the deterministic combine. Every kernel here gives each expert (or each output
 * element) one invocation that walks the routing decisions in (row, slot) order, so positions
 * and sums never depend on thread timing, and nothing is read back to the host.
 */
const tensor = (v: Value): TensorValue => {
  if (v.kind !== 'tensor') throw new Error(`internal: expected a tensor, got ${v.kind}`);
  return v;
};

/** Rows of a grouped matmul tile: the schedule's rows per lane, dividing the reroute block (a tile stays inside one expert's run). */
export function tileRows(pb: ProgramBuilder, block: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  return gcd(pb.matmulRows, block);
}

/** The earliest node (in graph order) that reads a site's node. */
function firstReader(site: Site): Site['node'] | undefined {
  return site.graph.nodes.find((n) => n.src.includes(site.node));
}

/** Slots of the routing decisions: rows · slots, affine in T. */
const slotCount = (ids: Value) => elements(ids.shape);

/** Where every routing decision lands in the permuted rows (the permute node's kernel), recorded for the expert kernels. */
function placement(pb: ProgramBuilder, site: Site, ids: TensorValue, offsets: TensorValue, ws: Workspaces): Placement {
  const offsetsNode = site.src![1]!;
  const countNode = offsetsNode.src[0]!;
  const counts = tensor(pb.valueOf(countNode));
  const slots = Number(ids.shape[ids.shape.length - 1]);
  const padded = site.type.shape[0]!;
  const experts = (countNode.attrs as OpAttrs['count']).experts;
  const p: Placement = {
    perm: pb.output(site, 'i32', [padded]),
    inverse: ws['inverse']!,
    slotOf: ws['slot_of']!,
    counts,
    offsets,
    block: (offsetsNode.attrs as OpAttrs['offsets']).block,
    tiles: { rows: tileRows(pb, (offsetsNode.attrs as OpAttrs['offsets']).block), table: ws['tiles']!, start: ws['tile_start']! },
  };
  const tileRowsHere = p.tiles.rows;
  const n = slotCount(ids);
  const block = p.block;
  perThread(pb, site.node, 'place', 'each expert sums the padded counts before it (its offset), then walks the routing decisions in order and places its rows', { a: 0, b: experts }, pb.schedule.rows, (launch, e) => {
    const k = launch.k;
    const id = launch.read('ids', ids);
    const count = launch.read('counts', counts);
    const padded = (x: Expr) => mul(div(add(count(x), block - 1), block), block);
    const [perm, inv, slotOf, off] = [launch.write('perm', p.perm), launch.write('inverse', p.inverse), launch.write('slot_of', p.slotOf), launch.write('offsets', offsets)];
    const [table, tileStart] = [launch.write('tiles', p.tiles.table), launch.write('tile_start', p.tiles.start)];
    const tilesOf = (x: Expr) => div(add(count(x), tileRowsHere - 1), tileRowsHere);
    const start = k.var('start', i32(0));
    const firstTile = k.var('first_tile', i32(0));
    k.for('x', 0, e, (x) => {
      start.set(add(start.get, padded(x)));
      firstTile.set(add(firstTile.get, tilesOf(x)));
    });
    const end = k.let('end', add(start.get, padded(e)));
    k.store(off, e, start.get);
    k.if(eq(e, experts - 1), (b) => b.store(off, experts, end));
    // This expert's real row tiles, listed for the grouped matmuls' exact grids.
    const tiles = k.let('tiles', tilesOf(e));
    k.store(tileStart, e, firstTile.get);
    k.if(eq(e, experts - 1), (b) => b.store(tileStart, experts, add(firstTile.get, tiles)));
    k.for('j', 0, tiles, (j, b) => {
      const record = b.let('record', mul(add(firstTile.get, j), 3));
      b.store(table, record, e);
      b.store(table, add(record, 1), add(start.get, mul(j, tileRowsHere)));
      b.store(table, add(record, 2), call('min', i32(tileRowsHere), sub(count(e), mul(j, tileRowsHere))));
    });
    const pos = k.var('pos', start.get);
    k.for('i', 0, affineExpr(n.a, n.b), (i, b) => {
      const x = b.let('id', id(i));
      b.if(eq(x, e), (t) => {
        t.store(perm, pos.get, div(i, slots));
        t.store(slotOf, pos.get, i);
        t.store(inv, i, pos.get);
        pos.set(add(pos.get, 1));
      });
      // Empty slots have no position; expert 0's invocation marks them.
      b.if(and(lt(x, 0), eq(e, 0)), (t) => t.store(inv, i, i32(-1)));
    });
    k.for('q', pos.get, end, (q, b) => {
      b.store(perm, q, i32(-1));
      b.store(slotOf, q, i32(-1));
    });
  });
  pb.placements.set(offsetsNode, p);
  return p;
}

/** The slots of row r in increasing expert order (ties by slot), as a private list; returns its length. */
function expertOrder(launch: Launch, ids: (i: Expr) => Expr, r: Expr, slots: number): { order: (j: Expr) => Expr; length: Expr } {
  const k = launch.k;
  const order = k.array('order', 'i32', slots);
  const len = k.var('len', i32(0));
  const prevE = k.var('pe', i32(-1));
  const prevS = k.var('ps', i32(-1));
  k.for('j', 0, slots, (_, b) => {
    const best = b.var('bs', i32(-1));
    const bestE = b.var('be', i32(0));
    b.for('s', 0, slots, (s, l) => {
      const e = l.let('e', ids(add(mul(r, slots), s)));
      const after = or(gt(e, prevE.get), and(eq(e, prevE.get), gt(s, prevS.get)));
      const better = or(lt(best.get, 0), lt(e, bestE.get));
      l.if(and(and(ge(e, 0), after), better), () => {
        best.set(s);
        bestE.set(e);
      });
    });
    b.if(ge(best.get, 0), (t) => {
      t.set(order, len.get, best.get);
      len.set(add(len.get, 1));
      prevE.set(bestE.get);
      prevS.set(best.get);
    });
  });
  return { order: (j) => order.at(j), length: len.get };
}

/**
 * y[r, c] = Σ over r's slots in increasing expert order of (w ·) ys[inverse[r, slot], c].
 * `weighted`: the expert outputs already carry their routing weight (fused down projection).
 */
export function emitCombine(pb: ProgramBuilder, site: Site, ys: Value, ids: TensorValue, inverse: TensorValue, w: TensorValue | undefined, out: TensorValue): void {
  const d = Number(site.type.shape[1]);
  const slots = Number(ids.shape[1]);
  perThread(pb, site.node, site.residual ? 'combine_residual' : 'combine', `each token sums its experts in increasing expert order${site.residual ? ', plus the residual' : ''}`, elements(site.type.shape), pb.schedule.rows, (launch, t) => {
    const k = launch.k;
    const [y, id, inv] = [launch.read('ys', ys), launch.read('ids', ids), launch.read('inverse', inverse)];
    const weight = w && launch.read('w', w);
    const residual = site.residual && launch.read('residual', site.residual);
    const o = launch.write('out', out);
    const r = k.let('r', div(t, d));
    const c = k.let('c', sub(t, mul(r, d)));
    const { order, length } = expertOrder(launch, id, r, slots);
    const acc = k.var('acc', { k: 'const', type: 'f32', value: 0 });
    k.for('j', 0, length, (j, b) => {
      const slot = b.let('slot', add(mul(r, slots), order(j)));
      const v = b.let('v', y(add(mul(inv(slot), d), c)));
      acc.set(add(acc.get, weight ? mul(weight(slot), v) : v));
    });
    k.store(o, t, residual ? add(residual(t), acc.get) : acc.get);
  });
}

const rowsOf = (shape: readonly Dim[]) => affine(shape[0]!);

export const dispatchOps: Partial<Record<Site['op'], OpKernel>> = {
  count: opKernel('routing decisions per expert: one invocation per expert counts its ids', (site, [ids], pb) => {
    const out = pb.output(site);
    const n = slotCount(ids!);
    perThread(pb, site.node, 'count', 'routing decisions per expert', { a: 0, b: (site.attrs as OpAttrs['count']).experts }, pb.schedule.rows, (launch, e) => {
      const id = launch.read('ids', ids!);
      const c = launch.k.var('c', i32(0));
      launch.k.for('i', 0, affineExpr(n.a, n.b), (i, b) => b.if(eq(id(i), e), () => c.set(add(c.get, 1))));
      launch.k.store(launch.write('out', out), e, c.get);
    });
    return out;
  }),
  offsets: opKernel('start of each expert run, padded to the block: one invocation per expert sums the counts before it', (site, [counts], pb) => {
    const out = pb.output(site);
    // The permute kernel computes the same prefix sums for its own experts: when it is the
    // first to read them, it writes them too and this dispatch is saved.
    if (firstReader(site)?.op === 'permute') return out;
    const { block } = site.attrs as OpAttrs['offsets'];
    const experts = Number(site.type.shape[0]) - 1;
    perThread(pb, site.node, 'offsets', 'start of each expert run, padded to the block', { a: 0, b: experts + 1 }, pb.schedule.rows, (launch, e) => {
      const c = launch.read('counts', counts!);
      const sum = launch.k.var('sum', i32(0));
      launch.k.for('x', 0, e, (x, _b) => sum.set(add(sum.get, mul(div(add(c(x), block - 1), block), block))));
      launch.k.store(launch.write('out', out), e, sum.get);
    });
    return out;
  }),
  permute: {
    summary: 'each expert walks the routing decisions in (row, slot) order and places its rows; the inverse map and each row\'s source slot come with it',
    supports: (site) => (site.src?.[1]?.op === 'offsets' && site.src[1].src[0]?.op === 'count' ? true : 'the offsets must be offsets(count(ids)) of the graph'),
    workspace: (site, [ids]) => [
      { name: 'inverse', element: 'i32', shape: ids!.shape },
      { name: 'slot_of', element: 'i32', shape: [site.type.shape[0]!] },
      // At most one tile per padded row (tiles are never smaller than a row).
      { name: 'tiles', element: 'i32', shape: [site.type.shape[0]!, 3] },
      { name: 'tile_start', element: 'i32', shape: [Number(site.src![1]!.type.shape[0])] },
    ],
    emit: (site, [ids, offsets], pb, ws) => placement(pb, site, tensor(ids!), tensor(offsets!), ws).perm,
  },
  inverse: {
    summary: 'written by the permute kernel of the same offsets',
    supports: (site, _args) => (site.src?.[1] ? true : 'the offsets must be a graph node'),
    emit: (site, _args, pb) => {
      const p = pb.placements.get(site.src![1]!);
      if (!p) throw new Error('internal: inverse scheduled before its permute');
      return p.inverse;
    },
  },
  gather_rows: opKernel('a view: readers index x through the permutation', (site, [x, perm]) => ({ kind: 'gathered', x: tensor(x!), perm: tensor(perm!), shape: site.type.shape })),
  combine: opKernel('each token sums w · its experts\' rows in increasing expert order', (site, [ys, ids, inv, w], pb) => {
    const out = pb.output(site);
    emitCombine(pb, site, ys!, tensor(ids!), tensor(inv!), tensor(w!), out);
    return out;
  }),
  route_ids: opKernel('a view of the route\'s ids', (_site, [r]) => (r as RouteValue).ids),
  route_weights: opKernel('a view of the route\'s weights', (_site, [r]) => (r as RouteValue).weights),
  pack_route: opKernel('a view: ids and weights as one route', (site, [ids, w]) => ({ kind: 'route', ids: tensor(ids!), weights: tensor(w!), shape: site.type.shape })),
  extend_route: opKernel('append always-selected experts to every row', (site, [r, gate], pb) => {
    const route = r as RouteValue;
    const { first } = site.attrs as OpAttrs['extend_route'];
    const [k, slots] = [Number(route.shape[1]), Number(site.type.shape[1])];
    const ids = pb.output({ ...site, name: `${site.name}_ids` }, 'i32');
    const weights = pb.output({ ...site, name: `${site.name}_w` }, 'f32');
    perThread(pb, site.node, 'extend_route', 'append always-selected experts to every row', rowsOf(site.type.shape), pb.schedule.rows, (launch, row) => {
      const [id, w] = [launch.read('ids', route.ids), launch.read('w', route.weights)];
      const g = gate && launch.read('gate', gate);
      const [oi, ow] = [launch.write('out_ids', ids), launch.write('out_w', weights)];
      launch.k.for('s', 0, slots, (s, b) => {
        const from = b.let('from', add(mul(row, k), s));
        const to = b.let('to', add(mul(row, slots), s));
        const extra = ge(s, k);
        b.store(oi, to, select(extra, add(sub(s, k), first), id(select(extra, i32(0), from))));
        b.store(ow, to, select(extra, g ? g(row) : { k: 'const', type: 'f32', value: 1 }, w(select(extra, i32(0), from))));
      });
    });
    return { kind: 'route', ids, weights, shape: site.type.shape };
  }),
};
