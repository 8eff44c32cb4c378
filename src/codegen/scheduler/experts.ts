import type { KernelNode, OpAttrs } from '../../ir/ops.js';
import { add, and, bool, div, f32, ge, i32, le, lt, mul, select } from '../build.js';
import type { Dim } from '../../ir/types.js';
import type { Expr } from '../kernel-ir.js';
import { perThread } from './launch.js';
import type { Placement, ProgramBuilder } from './program-builder.js';
import { dequantValue, elements, type TensorValue, type Value } from './values.js';
import { emitCombine } from './dispatch.js';
import { emitMatmul } from './matmul.js';
import { activation } from './row-ops.js';
import { fusedTemplate, opKernel, type FusedKernel, type FusedTemplate, type OpKernel, type Site } from './site.js';

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
const asTensor = (v: Value | undefined): TensorValue | undefined => (v?.kind === 'tensor' ? v : undefined);

/** The value of a body operand: a kernel input, or a dequant of kernel inputs (weights). */
function operand(args: readonly Value[], body: readonly KernelNode[], index: number): Value | undefined {
  if (index < args.length) return args[index];
  const n = body[index - args.length]!;
  if (n.op !== 'dequant') return undefined;
  const [q, s] = n.src.map((i) => asTensor(operand(args, body, i)));
  return q && s ? dequantValue(q, s, (n.attrs as OpAttrs['dequant']).bits, n.type.shape) : undefined;
}

/** The reroute placement that a grouped op's offsets operand (a kernel input) belongs to. */
function placementOf(pb: ProgramBuilder, site: Site, offsetsIndex: number): Placement | undefined {
  const node = site.node.src[offsetsIndex];
  return node && pb.placements.get(node);
}

const at = (body: readonly KernelNode[], base: number, i: number) => (i >= base ? body[i - base] : undefined);

/** A grouped product's bias operand (its 4th): undefined without one, null when it is computed rather than stored. */
function biasOf(args: readonly Value[], body: readonly KernelNode[], product: KernelNode): Value | undefined | null {
  const index = product.src[3];
  return index === undefined ? undefined : (operand(args, body, index) ?? null);
}

interface ProductPlan {
  site: Site;
  xs: Value;
  /** The gate's weight first (the factor with an activation), then up's when gated. */
  weights: Value[];
  /** Per weight, its experts' biases [count, N] (gpt-oss), when the projection has them. */
  biases: (Value | undefined)[];
  /** Per weight, the activation of its product: the gate's always, up's when it has one (gpt-oss clamps and shifts it). */
  acts: (OpAttrs['act'] | undefined)[];
  placement: Placement;
  range: { first: number; count: number };
  /** Gate and up in two passes (the schedule's choice): the gate's products go through a workspace. */
  twoPass: boolean;
}

/** A factor's value from its finished sum: its activation, if it has one. */
const activated = (act: OpAttrs['act'] | undefined, v: Expr): Expr => (act ? activation(act, v) : v);

/** mul(act(gm(xs, Wg)), [act](gm(xs, Wu))) or act(gm(xs, W)): one grouped matmul (or two), the rest its epilogue. */
const gatedOrPlain: FusedKernel<ProductPlan> = {
  summary: "the grouped gate and up projections of each expert's rows with the activation fused, x read through the permutation",
  plan: (site, args, body, pb) => {
    const base = args.length;
    const root = body[body.length - 1]!;
    if (root.op !== 'mul' && root.op !== 'act') return `the body ends in ${root.op}, not an activation or a gated product`;
    const factors = (root.op === 'mul' ? root.src.map((i) => at(body, base, i)) : [root]).map((f) => (f?.op === 'act' ? { act: f.attrs as OpAttrs['act'], gm: at(body, base, f.src[0]!) } : { act: undefined, gm: f }));
    // The gate is the factor with an activation; in mul(act(g), act(u)) the first.
    factors.sort((a, b) => Number(!a.act) - Number(!b.act));
    if (!factors[0]!.act) return 'a product without an activation';
    const gms = factors.map((f) => f.gm);
    if (!gms.every((g) => g?.op === 'grouped_matmul')) return 'an operand is not one grouped matmul (a low-rank or latent expert)';
    const [xsIndex, offIndex] = gms[0]!.src as [number, number];
    if (gms.some((g) => g!.src[0] !== xsIndex || g!.src[1] !== offIndex) || xsIndex >= base || offIndex >= base) return 'the products read different rows';
    const placement = placementOf(pb, site, offIndex);
    if (!placement) return 'the offsets come from no placement';
    const weights = gms.map((g) => operand(args, body, g!.src[2]!));
    if (weights.some((w) => !w)) return 'a weight is computed, not stored';
    const biases = gms.map((g) => biasOf(args, body, g!));
    if (biases.includes(null)) return 'a bias is computed, not stored';
    const range = gms[0]!.attrs as OpAttrs['grouped_matmul'];
    const acts = factors.map((f) => f.act);
    // One kernel binds the grid record, the tile table, x (and its permutation), each weight (and
    // its scales), each bias and the output; more than the schedule allows takes two passes.
    const xs = args[xsIndex]!;
    const bindings = 4 + (xs.kind === 'gathered' ? 1 : 0) + weights.reduce((n, w) => n + (w!.kind === 'quantized' ? 2 : 1), 0) + biases.filter(Boolean).length;
    const twoPass = acts.length === 2 && (pb.schedule.glu === 'two-pass' || bindings > pb.schedule.maxStorageBuffers);
    return { site, xs, weights: weights as Value[], biases: biases as (Value | undefined)[], acts, placement, range: { first: range.first, count: range.count }, twoPass };
  },
  workspace: (p) => (p.twoPass ? [{ name: 'gate', element: 'f32', shape: p.site.type.shape }] : []),
  emit: (p, pb, { gate }) => {
    const out = pb.output(p.site);
    const product = { site: p.site, a: p.xs, rows: p.site.type.shape[0]!, K: Number(p.xs.shape[1]), N: Number(p.site.type.shape[1]), grouped: { placement: p.placement, ...p.range } };
    const [gateAct, upAct] = p.acts;
    if (p.twoPass) {
      const N = product.N;
      emitMatmul(pb, { ...product, kernel: 'grouped_gate', summary: "x·W_gate over each expert's rows (first pass of a gated expert)", weights: [p.weights[0]!], biases: [p.biases[0]], epilogue: (acc) => acc[0]!, out: gate! });
      emitMatmul(pb, {
        ...product,
        kernel: 'grouped_up_glu',
        summary: `${gateAct!.fn}(gate) * (x·W_up) over each expert's rows, the gate from the first pass`,
        weights: [p.weights[1]!],
        biases: [p.biases[1]],
        epilogue: (acc, row, bind, column) => mul(activated(gateAct, bind('gate', gate!)(add(mul(row, N), column))), activated(upAct, acc[0]!)),
        out,
      });
      return out;
    }
    const gated = p.acts.length === 2;
    emitMatmul(pb, {
      ...product,
      kernel: gated ? 'grouped_glu' : 'grouped_act',
      summary: gated ? `${gateAct!.fn}(x·W_gate) * (x·W_up) over each expert's rows, x read through the permutation` : `${gateAct!.fn}(x·W) over each expert's rows`,
      weights: p.weights,
      biases: p.biases,
      epilogue: (acc) => (gated ? mul(activated(gateAct, acc[0]!), activated(upAct, acc[1]!)) : activated(gateAct, acc[0]!)),
      out,
    });
    return out;
  },
};

interface DownPlan {
  site: Site;
  /** One per expert group: a grouped product (weight given) or a copy (identity experts). */
  terms: { h: Value; weight?: Value; bias?: Value; range: { first: number; count: number }; shape: readonly Dim[] }[];
  placement: Placement;
  ids: TensorValue;
  inverse: TensorValue;
  w: TensorValue;
}

/** combine(Σ grouped products and copies, ids, inverse, w): the routing weight moves into each product's epilogue. */
const downCombine: FusedKernel<DownPlan> = {
  summary: "per expert group, w · (h·W_down) over each expert's rows; then each token sums its rows in increasing expert order",
  plan: (site, args, body, pb) => {
    const base = args.length;
    const root = body[body.length - 1]!;
    if (root.op !== 'combine') return `the body ends in ${root.op}, not combine`;
    const [ysIndex, idsIndex, invIndex, wIndex] = root.src as [number, number, number, number];
    const [ids, inverse, w] = [idsIndex, invIndex, wIndex].map((i) => (i < base ? asTensor(args[i]) : undefined));
    if (!ids || !inverse || !w) return 'the routing decisions are computed inside the kernel';
    const found: KernelNode[] = [];
    const collect = (i: number): boolean => {
      const n = at(body, base, i);
      if (n?.op === 'add') return n.src.every(collect);
      if (n?.op === 'grouped_matmul' || n?.op === 'grouped_copy') return found.push(n) > 0;
      return false;
    };
    if (!collect(ysIndex)) return 'its expert outputs are not each one grouped product or copy inside the kernel (a low-rank or latent expert, or a group the fusion left outside)';
    const offIndex = found[0]!.src[1]!;
    const placement = placementOf(pb, site, offIndex);
    if (!placement || found.some((t) => t.src[1] !== offIndex || t.src[0]! >= base)) return 'the groups read different placements';
    const terms: DownPlan['terms'] = [];
    for (const t of found) {
      const range = t.attrs as OpAttrs['grouped_matmul'];
      const weight = t.op === 'grouped_matmul' ? operand(args, body, t.src[2]!) : undefined;
      if (t.op === 'grouped_matmul' && !weight) return 'a weight is computed, not stored';
      const bias = biasOf(args, body, t);
      if (bias === null) return 'a bias is computed, not stored';
      terms.push({ h: args[t.src[0]!]!, ...(weight ? { weight } : {}), ...(bias ? { bias } : {}), range: { first: range.first, count: range.count }, shape: t.type.shape });
    }
    return { site, terms, placement, ids, inverse, w };
  },
  workspace: (p) => [{ name: 'ys', element: 'f32', shape: p.terms[0]!.shape }],
  emit: (p, pb, { ys }) => {
    const weightOf = (row: Expr, read: (param: string, v: Value) => (i: Expr) => Expr) => {
      const slot = read('slot_of', p.placement.slotOf)(row);
      return read('route_w', p.w)(select(ge(slot, 0), slot, i32(0)));
    };
    for (const t of p.terms) {
      if (!t.weight) {
        groupedCopy(pb, p.site, t.h, ys!, p.placement, t.range, weightOf);
        continue;
      }
      emitMatmul(pb, {
        site: p.site,
        kernel: 'grouped_down',
        summary: "w · (h·W_down) over each expert's rows (the routing weight applied here, summed by combine)",
        a: t.h,
        rows: t.shape[0]!,
        K: Number(t.h.shape[1]),
        N: Number(t.shape[1]),
        weights: [t.weight],
        biases: [t.bias],
        epilogue: (acc, row, bind) => mul(weightOf(row, bind), acc[0]!),
        out: ys!,
        grouped: { placement: p.placement, ...t.range },
      });
    }
    const out = pb.output(p.site);
    emitCombine(pb, p.site, ys!, p.ids, p.inverse, undefined, out);
    return out;
  },
};

/** Rows of identity experts: (w ·) xs over each expert's real rows; `zero`: every other row 0. */
function groupedCopy(pb: ProgramBuilder, site: Site, xs: Value, out: TensorValue, placement: Placement, range: { first: number; count: number }, weightOf?: (row: Expr, read: (p: string, v: Value) => (i: Expr) => Expr) => Expr, zero = false): void {
  const d = Number(out.shape[1]);
  perThread(pb, site.node, weightOf ? 'grouped_copy_weighted' : 'grouped_copy', "identity experts: each expert's rows copied", elements(out.shape), pb.schedule.elementwise, (launch, t) => {
    const k = launch.k;
    const [x, off, counts] = [launch.read('xs', xs), launch.read('offsets', placement.offsets), launch.read('counts', placement.counts)];
    const o = launch.write('out', out);
    const p = k.let('p', div(t, d));
    const real = k.var('real', bool(false));
    k.for('e', range.first, range.first + range.count, (e, b) => b.if(and(le(off(e), p), lt(p, add(off(e), counts(e)))), () => real.set(bool(true))));
    const value = weightOf ? mul(weightOf(p, (param, v) => launch.read(param, v)), x(t)) : x(t);
    if (zero) k.store(o, t, select(real.get, value, 0));
    else k.if(real.get, (b) => b.store(o, t, value));
  });
}

/** Templates for the graph's fused kernels, by kernel name. */
export const expertKernels: Readonly<Record<string, FusedTemplate>> = {
  grouped_glu: fusedTemplate(gatedOrPlain),
  grouped_act: fusedTemplate(gatedOrPlain),
  down_combine: fusedTemplate(downCombine),
};

/** Standalone products: dense matmul; grouped matmul and copy with the IR's zero rows elsewhere. */
export const matmulOps: Partial<Record<Site['op'], OpKernel>> = {
  matmul: opKernel('x·W: each lane one output column, a tile of rows', (site, [a, w], pb) => {
    const out = pb.output(site);
    const [K, N] = [Number(a!.shape[a!.shape.length - 1]), Number(site.type.shape[site.type.shape.length - 1])];
    emitMatmul(pb, { site, kernel: 'matmul', summary: 'x·W', a: a!, rows: site.type.shape[0]!, K, N, weights: [w!], epilogue: (acc) => acc[0]!, out });
    return out;
  }),
  grouped_matmul: {
    summary: "x·W over each expert's rows, zero elsewhere (as the IR defines it)",
    supports: placed,
    emit: (site, [xs, , w, bias], pb) => {
      const placement = pb.placements.get(site.src![1]!)!;
      const out = pb.output(site);
      zeroFill(pb, site, out);
      const range = site.attrs as OpAttrs['grouped_matmul'];
      emitMatmul(pb, {
        site,
        kernel: 'grouped_matmul',
        summary: "x·W over each expert's rows",
        a: xs!,
        rows: site.type.shape[0]!,
        K: Number(xs!.shape[1]),
        N: Number(site.type.shape[1]),
        weights: [w!],
        biases: [bias],
        epilogue: (acc) => acc[0]!,
        out,
        grouped: { placement, ...range },
      });
      return out;
    },
  },
  grouped_copy: {
    summary: "identity experts: each expert's rows copied, zero elsewhere",
    supports: placed,
    emit: (site, [xs], pb) => {
      const out = pb.output(site);
      groupedCopy(pb, site, xs!, out, pb.placements.get(site.src![1]!)!, site.attrs as OpAttrs['grouped_copy'], undefined, true);
      return out;
    },
  },
};

/** Grouped ops read the placement their offsets operand's permute made. */
function placed(site: Site): true | string {
  const offsets = site.src?.[1];
  return offsets && site.graph.nodes.some((n) => n.op === 'permute' && n.src[1] === offsets) ? true : 'its offsets have no permute in the graph';
}

/** Zeros over a whole tensor (the rows a grouped product does not own). */
function zeroFill(pb: ProgramBuilder, site: Site, out: TensorValue): void {
  perThread(pb, site.node, 'zero', 'zeros', elements(out.shape), pb.schedule.elementwise, (launch, t) => launch.k.store(launch.write('out', out), t, f32(0)));
}
