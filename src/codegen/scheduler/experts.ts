import type { Node } from '../../ir/graph.js';
import type { KernelNode, OpAttrs } from '../../ir/ops.js';
import { add, affineExpr, and, bool, builtin, div, f32, ge, i32, le, lt, mul, select } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import { elements, grid1, type Placement, type ProgramBuilder, type TensorValue, type Value } from './context.js';
import { emitCombine } from './dispatch.js';
import { emitMatmul } from './matmul.js';
import { unary } from './row-ops.js';
import type { Emitter, Site } from './site.js';

/**
 * Expert computation over rerouted rows. The fused kernels the passes form are matched here
 * against the shapes their templates implement:
 *
 *   grouped_glu   mul(act(gm(xs, Wg)), gm(xs, Wu))  -> one grouped matmul, two accumulators,
 *                                                     x read through the permutation
 *   grouped_act   act(gm(xs, W))                    -> one grouped matmul, act in the epilogue
 *   down_combine  combine(Σ gm(h, Wd) | copy, ...)  -> per group, a grouped matmul whose rows
 *                                                     carry their routing weight, then one combine
 *
 * Bodies of another shape (low-rank or latent experts) run op by op through the standalone
 * emitters below, which keep the IR's meaning exactly (rows of other experts are zero).
 */
type Template = (pb: ProgramBuilder, site: Site, args: Value[], body: readonly KernelNode[]) => Value | undefined;

const asTensor = (v: Value | undefined): TensorValue | undefined => (v?.kind === 'tensor' ? v : undefined);

/** The value of a body operand: a kernel input, or a dequant of kernel inputs (weights). */
function operand(args: Value[], body: readonly KernelNode[], index: number): Value | undefined {
  if (index < args.length) return args[index];
  const n = body[index - args.length]!;
  if (n.op !== 'dequant') return undefined;
  const [q, s] = n.src.map((i) => asTensor(operand(args, body, i)));
  return q && s ? { kind: 'quantized', q: q.buffer, scale: s.buffer, bits: (n.attrs as OpAttrs['dequant']).bits, shape: n.type.shape } : undefined;
}

/** The reroute placement that a grouped op's offsets operand (a kernel input) belongs to. */
function placementOf(pb: ProgramBuilder, site: Site, offsetsIndex: number): Placement | undefined {
  const node = site.node.src[offsetsIndex];
  return node && pb.placements.get(node);
}

const at = (body: readonly KernelNode[], base: number, i: number) => (i >= base ? body[i - base] : undefined);

const gatedOrPlain: Template = (pb, site, args, body) => {
  const base = args.length;
  const root = body[body.length - 1]!;
  let gate: KernelNode | undefined;
  let up: KernelNode | undefined;
  let fn: OpAttrs['act']['fn'];
  if (root.op === 'mul') {
    const [l, r] = root.src.map((i) => at(body, base, i));
    const act = l?.op === 'act' ? l : r?.op === 'act' ? r : undefined;
    up = act === l ? r : l;
    gate = act && at(body, base, act.src[0]!);
    fn = (act?.attrs as OpAttrs['act'] | undefined)?.fn ?? 'silu';
  } else if (root.op === 'act') {
    gate = at(body, base, root.src[0]!);
    fn = (root.attrs as OpAttrs['act']).fn;
  } else return undefined;
  const gms = up ? [gate, up] : [gate];
  if (!gms.every((g) => g?.op === 'grouped_matmul')) return undefined;
  const [xsIndex, offIndex] = gms[0]!.src;
  if (gms.some((g) => g!.src[0] !== xsIndex || g!.src[1] !== offIndex) || xsIndex! >= base || offIndex! >= base) return undefined;
  const placement = placementOf(pb, site, offIndex!);
  const weights = gms.map((g) => operand(args, body, g!.src[2]!));
  if (!placement || weights.some((w) => !w)) return undefined;
  const { first, count } = gms[0]!.attrs as OpAttrs['grouped_matmul'];
  const out = pb.output(site);
  const xs = args[xsIndex!]!;
  emitMatmul(pb, {
    site,
    kernel: up ? 'grouped_glu' : 'grouped_act',
    summary: up ? `${fn}(x·W_gate) * (x·W_up) over each expert's rows, x read through the permutation` : `${fn}(x·W) over each expert's rows`,
    a: xs,
    rows: site.type.shape[0]!,
    K: Number(xs.shape[1]),
    N: Number(site.type.shape[1]),
    weights: weights as Value[],
    epilogue: (acc) => (up ? mul(unary(fn, acc[0]!), acc[1]!) : unary(fn, acc[0]!)),
    out,
    grouped: { placement, first, count },
  });
  return out;
};

/** combine(ys, ids, inverse, w) where ys is a sum of grouped products and copies, one per group. */
const downCombine: Template = (pb, site, args, body) => {
  const base = args.length;
  const root = body[body.length - 1]!;
  if (root.op !== 'combine') return undefined;
  const [ysIndex, idsIndex, invIndex, wIndex] = root.src as [number, number, number, number];
  if (idsIndex >= base || invIndex >= base || wIndex >= base) return undefined;
  const terms: KernelNode[] = [];
  const collect = (i: number): boolean => {
    const n = at(body, base, i);
    if (n?.op === 'add') return n.src.every(collect);
    if (n?.op === 'grouped_matmul' || n?.op === 'grouped_copy') return terms.push(n) > 0;
    return false;
  };
  if (!collect(ysIndex)) return undefined;
  const offIndex = terms[0]!.src[1]!;
  const placement = placementOf(pb, site, offIndex);
  if (!placement || terms.some((t) => t.src[1] !== offIndex || t.src[0]! >= base)) return undefined;
  const w = asTensor(args[wIndex]);
  const weights = terms.map((t) => (t.op === 'grouped_matmul' ? operand(args, body, t.src[2]!) : undefined));
  if (!w || terms.some((t, i) => t.op === 'grouped_matmul' && !weights[i])) return undefined;
  const ys = pb.workspace(`${site.name}_ys`, 'f32', terms[0]!.type.shape, site.node);
  terms.forEach((t, i) => {
    const range = t.attrs as OpAttrs['grouped_matmul'];
    const h = args[t.src[0]!]!;
    const weightOf = (row: Expr, read: (p: string, v: Value) => (i: Expr) => Expr) => {
      const slot = read('slot_of', placement.slotOf)(row);
      return read('route_w', w)(select(ge(slot, 0), slot, i32(0)));
    };
    if (t.op === 'grouped_copy') return groupedCopy(pb, site, h, ys, placement, range, weightOf);
    emitMatmul(pb, {
      site,
      kernel: 'grouped_down',
      summary: "w · (h·W_down) over each expert's rows (the routing weight applied here, summed by combine)",
      a: h,
      rows: t.type.shape[0]!,
      K: Number(h.shape[1]),
      N: Number(t.type.shape[1]),
      weights: [weights[i]!],
      epilogue: (acc, row, bind) => mul(weightOf(row, bind), acc[0]!),
      out: ys,
      grouped: { placement, ...range },
    });
  });
  const out = pb.output(site);
  emitCombine(pb, site, ys, asTensor(args[idsIndex])!, asTensor(args[invIndex])!, undefined, out);
  return out;
};

/** Rows of identity experts: (w ·) xs over each expert's real rows; `zero`: every other row 0. */
function groupedCopy(pb: ProgramBuilder, site: Site, xs: Value, out: TensorValue, placement: Placement, range: { first: number; count: number }, weightOf?: (row: Expr, read: (p: string, v: Value) => (i: Expr) => Expr) => Expr, zero = false): void {
  const d = Number(out.shape[1]);
  const n = elements(out.shape);
  const launch = pb.launch(site.node, weightOf ? 'grouped_copy_weighted' : 'grouped_copy', "identity experts: each expert's rows copied", [pb.schedule.elementwise, 1, 1]);
  const k = launch.k;
  const t = k.let('t', builtin('global_x'));
  k.if(ge(t, affineExpr(n.a, n.b)), (b) => b.return());
  const [x, off, counts] = [launch.read('xs', xs), launch.read('offsets', placement.offsets), launch.read('counts', placement.counts)];
  const o = launch.write('out', out);
  const p = k.let('p', div(t, d));
  const real = k.var('real', bool(false));
  k.for('e', range.first, range.first + range.count, (e, b) => b.if(and(le(off(e), p), lt(p, add(off(e), counts(e)))), () => real.set(bool(true))));
  const value = weightOf ? mul(weightOf(p, (param, v) => launch.read(param, v)), x(t)) : x(t);
  if (zero) k.store(o, t, select(real.get, value, 0));
  else k.if(real.get, (b) => b.store(o, t, value));
  launch.dispatch(grid1(n, pb.schedule.elementwise));
}

export const expertKernels: Record<string, Template> = { grouped_glu: gatedOrPlain, grouped_act: gatedOrPlain, down_combine: downCombine };

/** Standalone products: dense matmul; grouped matmul and copy with the IR's zero rows elsewhere. */
export const matmulOps: Partial<Record<Site['op'], Emitter>> = {
  matmul: (site, [a, w], pb) => {
    const out = pb.output(site);
    const [K, N] = [Number(a!.shape[a!.shape.length - 1]), Number(site.type.shape[site.type.shape.length - 1])];
    emitMatmul(pb, { site, kernel: 'matmul', summary: 'x·W', a: a!, rows: site.type.shape[0]!, K, N, weights: [w!], epilogue: (acc) => acc[0]!, out });
    return out;
  },
  grouped_matmul: (site, [xs, , w], pb) => {
    const placement = pb.placements.get(site.src![1] as Node);
    if (!placement) throw new Error('internal: grouped_matmul before its placement');
    const out = pb.output(site);
    zeroFill(pb, site, out);
    emitMatmul(pb, {
      site,
      kernel: 'grouped_matmul',
      summary: "x·W over each expert's rows",
      a: xs!,
      rows: site.type.shape[0]!,
      K: Number(xs!.shape[1]),
      N: Number(site.type.shape[1]),
      weights: [w!],
      epilogue: (acc) => acc[0]!,
      out,
      grouped: { placement, ...(site.attrs as OpAttrs['grouped_matmul']) },
    });
    return out;
  },
  grouped_copy: (site, [xs], pb) => {
    const placement = pb.placements.get(site.src![1] as Node);
    if (!placement) throw new Error('internal: grouped_copy before its placement');
    const out = pb.output(site);
    groupedCopy(pb, site, xs!, out, placement, site.attrs as OpAttrs['grouped_copy'], undefined, true);
    return out;
  },
};

/** Zeros over a whole tensor (the rows a grouped product does not own). */
function zeroFill(pb: ProgramBuilder, site: Site, out: TensorValue): void {
  const n = elements(out.shape);
  const launch = pb.launch(site.node, 'zero', 'zeros', [pb.schedule.elementwise, 1, 1]);
  const t = launch.k.let('t', builtin('global_x'));
  const o = launch.write('out', out);
  launch.k.if(lt(t, affineExpr(n.a, n.b)), (b) => b.store(o, t, f32(0)));
  launch.dispatch(grid1(n, pb.schedule.elementwise));
}
