import type { BodyOp, OpAttrs, OpCall } from '../../ir/ops.js';
import { size, stackedSlice as slice, type Tensor } from '../tensor.js';
import { combineRows, countPerExpert, gatherRows, inversePermutation, paddedOffsets, permutation } from './dispatch.js';
import { ffnRows } from './experts.js';
import { activate, addRowBias, matmul } from './math.js';
import { moeRows } from './moe.js';
import { layernorm, rmsnorm } from './norms.js';
import { routerParamCount } from '../../ir/routing.js';
import { hashExperts, route, type RouteValue } from './router.js';
import { capacityKeep, expertChoice, keptGroups, normalizeOver, rankDesc, requestGroups, softmaxOver, topP } from './selection.js';
import { evalDim } from '../../ir/types.js';
import { unpackQuantized } from '../init-weights.js';

export type Value = Tensor | RouteValue;

export interface KernelContext {
  tokens: number;
}

/** One reference kernel per op: attributes, operand values and the result shape in, a value out. */
type Kernel<O extends BodyOp> = (attrs: OpAttrs[O], args: Value[], shape: number[], ctx: KernelContext) => Value;

const t = (v: Value) => v as Tensor;
const fl = (v: Value) => t(v).data as Float32Array;
const ints = (v: Value) => t(v).data as Int32Array;
const rt = (v: Value) => v as RouteValue;
const out = (shape: number[], data: Float32Array | Int32Array): Tensor => ({ dtype: data instanceof Int32Array ? 'i32' : 'f32', shape, data });
const lastDim = (v: Value) => t(v).shape[t(v).shape.length - 1]!;
const rowsOf = (shape: number[]) => size(shape.slice(0, -1));

/** Rows of a [R, E] tensor as index lists of the entries that are not -inf (the live ones). */
function liveRow(v: Float32Array, r: number, E: number): number[] {
  const list: number[] = [];
  for (let e = 0; e < E; e++) if (v[r * E + e] !== -Infinity) list.push(e);
  return list;
}

/** Indices of row r's slots whose id is not -1. */
function slotsOf(ids: Int32Array, r: number, k: number): number[] {
  return Array.from({ length: k }, (_, s) => r * k + s).filter((i) => ids[i]! >= 0);
}

const kernels: { [O in BodyOp]: Kernel<O> } = {
  add: (_, [a, b], shape) => {
    const [x, y] = [fl(a!), fl(b!)];
    return out(shape, x.map((v, i) => v + y[i % y.length]!));
  },
  mul: (_, [a, b], shape) => {
    const [x, y] = [fl(a!), fl(b!)];
    const d = shape[shape.length - 1]!;
    const perRow = lastDim(b!) === 1 && d !== 1;
    return out(shape, x.map((v, i) => v * y[perRow ? Math.floor(i / d) : i % y.length]!));
  },
  matmul: (_, [a, b], shape) => out(shape, matmul(fl(a!), rowsOf(shape), lastDim(a!), fl(b!), lastDim(b!))),
  act: (attrs, [a], shape) => out(shape, fl(a!).map((v) => activate(attrs, v))),
  reshape: (_, [a], shape) => out(shape, t(a!).data),
  index: ({ i }, [w], shape) => out(shape, slice(t(w!), i)),
  dequant: ({ bits }, [q, scale], shape) => {
    const values = unpackQuantized(ints(q!), bits);
    const [outDim, s] = [shape[shape.length - 1]!, fl(scale!)];
    const inDim = shape[shape.length - 2]!;
    // A loop, not Float32Array.from(values, fn), which first lists every value and aborts the
    // process (heap out of memory) at 2^27 of them: one 64-expert stack of 2048 x 1024.
    const data = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) data[i] = values[i]! * s[Math.floor(i / (inDim * outDim)) * outDim + (i % outDim)]!;
    return out(shape, data);
  },
  rmsnorm: ({ eps }, [x, g], shape) => out(shape, rmsnorm(fl(x!), rowsOf(shape), lastDim(x!), fl(g!), eps)),
  layernorm: ({ eps }, [x, g, b], shape) => out(shape, layernorm(fl(x!), rowsOf(shape), lastDim(x!), fl(g!), fl(b!), eps)),
  ffn: ({ expert, index }, [x, ...ws], shape) => out(shape, ffnRows(expert, fl(x!), rowsOf(shape), ws.map((w) => slice(t(w), index)))),
  route: (attrs, args) => {
    const x = t(args[0]!);
    const nParams = (attrs.groupRouter ? routerParamCount(attrs.groupRouter) : 0) + routerParamCount(attrs.router);
    const extra = new Map(args.slice(1 + nParams).map((v, i) => [attrs.tokenInputs[i], ints(v)]));
    const rows = x.shape[0]!;
    const perRow = (d: Int32Array | undefined) => (d && attrs.subTokens ? Int32Array.from({ length: rows }, (_, r) => d[Math.floor(r / attrs.subTokens!)]!) : d);
    const ids = perRow(extra.get('ids'));
    const requests = attrs.scope === 'request' ? perRow(extra.get('requests')) : undefined;
    const params = args.slice(1, 1 + nParams).map(fl);
    return route(attrs, rows, { x: fl(x), width: x.shape[1]!, params, ...(ids ? { ids } : {}), ...(requests ? { requests } : {}) });
  },
  moe: ({ groups }, [x, r, ...ws], shape) => out(shape, moeRows(groups, fl(x!), lastDim(x!), rt(r!), ws.map(t))),

  softmax: (_, [v, ids], shape) => {
    const data = Float32Array.from(fl(v!));
    const k = shape[shape.length - 1]!;
    for (let r = 0; r < rowsOf(shape); r++) {
      const entries = ids ? slotsOf(ints(ids), r, k).map((i) => i - r * k) : liveRow(data, r, k);
      softmaxOver(data.subarray(r * k, (r + 1) * k), entries);
    }
    return out(shape, data);
  },
  group_limit: ({ groups, keep, score, dropped }, [v], shape) => {
    const data = Float32Array.from(fl(v!));
    const E = shape[1]!;
    const gsize = E / groups;
    for (let r = 0; r < shape[0]!; r++) {
      const row = data.subarray(r * E, (r + 1) * E);
      const kept = keptGroups(groups, gsize, keep, score, (e) => row[e]!, (e) => row[e] !== -Infinity);
      for (let e = 0; e < E; e++) if (!kept.has(Math.floor(e / gsize)) && row[e] !== -Infinity) row[e] = dropped === 'zero' ? 0 : -Infinity;
    }
    return out(shape, data);
  },
  topk: ({ k }, [v], shape) => {
    const data = fl(v!);
    const E = lastDim(v!);
    const ids = new Int32Array(size(shape)).fill(-1);
    for (let r = 0; r < shape[0]!; r++) rankDesc(liveRow(data, r, E), (e) => data[r * E + e]!).slice(0, k).forEach((e, s) => (ids[r * k + s] = e));
    return out(shape, ids);
  },
  drop: ({ entries }, [ids], shape) => out(shape, ints(ids!).map((e) => (entries.includes(e) ? -1 : e))),
  top_p: ({ p, max }, [key, scores], shape) => {
    const [k, s] = [fl(key!), fl(scores!)];
    const E = lastDim(key!);
    const ids = new Int32Array(size(shape)).fill(-1);
    for (let r = 0; r < shape[0]!; r++) topP(rankDesc(liveRow(k, r, E), (e) => k[r * E + e]!), (e) => s[r * E + e]!, p, max).forEach((e, i) => (ids[r * max + i] = e));
    return out(shape, ids);
  },
  hash_select: ({ k, seed, width }, [tokens], shape) => out(shape, Int32Array.from(Array.from(ints(tokens!)).flatMap((id) => hashExperts(id, seed, k, width)))),
  fixed_select: ({ experts }, _, shape) => out(shape, Int32Array.from({ length: size(shape) }, (_, i) => experts[i % experts.length]!)),
  expert_choice: ({ capacity }, [key, requests], shape) => {
    const k = fl(key!);
    const [R, E] = [shape[0]!, shape[1]!];
    const ids = new Int32Array(R * E).fill(-1);
    for (const rows of requestGroups(R, requests && ints(requests))) {
      const chosen = expertChoice(rows, E, capacity, (r, e) => k[r * E + e]!, (r, e) => k[r * E + e] !== -Infinity);
      for (const [r, experts] of chosen) experts.forEach((e, i) => (ids[r * E + i] = e));
    }
    return out(shape, ids);
  },
  capacity: ({ factor, limit, drop, k, experts }, [ids, w, requests], shape) => {
    const [idx, weights] = [ints(ids!), fl(w!)];
    const [R, slots] = [shape[0]!, shape[1]!];
    const kept = Int32Array.from(idx);
    const rowOf = (v: Int32Array | Float32Array, r: number) => Array.from(v.subarray(r * slots, (r + 1) * slots));
    for (const rows of requestGroups(R, requests && ints(requests))) {
      const keep = capacityKeep(rows.map((r) => rowOf(idx, r)), rows.map((r) => rowOf(weights, r)), experts, k, limit !== undefined ? { limit } : { factor: factor! }, drop);
      rows.forEach((r, i) => keep[i]!.forEach((ok, slot) => ok || (kept[r * slots + slot] = -1)));
    }
    return out(shape, kept);
  },
  mask: (_, [v, live], shape) => {
    const l = fl(live!);
    return out(shape, Float32Array.from(fl(v!), (x, i) => (l[i] === -Infinity ? -Infinity : x)));
  },
  group_mask: ({ size: groupSize }, [v, gids], shape) => {
    const [data, g] = [Float32Array.from(fl(v!)), ints(gids!)];
    const [E, k] = [lastDim(v!), lastDim(gids!)];
    for (let r = 0; r < rowsOf(shape); r++) {
      const kept = new Set(g.subarray(r * k, (r + 1) * k));
      for (let e = 0; e < E; e++) if (!kept.has(Math.floor(e / groupSize))) data[r * E + e] = -Infinity;
    }
    return out(shape, data);
  },
  group_weight: ({ size: groupSize }, [ids, gids, gw], shape) => {
    const [idx, g, w] = [ints(ids!), ints(gids!), fl(gw!)];
    const [k, kg] = [lastDim(ids!), lastDim(gids!)];
    return out(shape, Float32Array.from(idx, (e, i) => {
      const r = Math.floor(i / k);
      const j = e < 0 ? -1 : g.subarray(r * kg, (r + 1) * kg).indexOf(Math.floor(e / groupSize));
      return j < 0 ? 0 : w[r * kg + j]!;
    }));
  },
  fill: ({ value }, [ids], shape) => out(shape, Float32Array.from(ints(ids!), (e) => (e >= 0 ? value : 0))),
  repeat: ({ times }, [v], shape) => out(shape, Int32Array.from({ length: shape[0]! }, (_, i) => ints(v!)[Math.floor(i / times)]!)),
  gather: (_, [v, ids], shape) => {
    const [data, idx] = [fl(v!), ints(ids!)];
    const [E, k] = [lastDim(v!), shape[1]!];
    return out(shape, Float32Array.from(idx, (e, i) => (e >= 0 ? data[Math.floor(i / k) * E + e]! : 0)));
  },
  normalize: (_, [v], shape) => {
    const data = Float32Array.from(fl(v!));
    const k = shape[shape.length - 1]!;
    const all = Array.from({ length: k }, (_, s) => s);
    for (let r = 0; r < rowsOf(shape); r++) normalizeOver(data.subarray(r * k, (r + 1) * k), all);
    return out(shape, data);
  },
  scale: ({ factor }, [v], shape) => out(shape, fl(v!).map((w) => w * factor)),
  pack_route: (_, [ids, w], shape) => ({ rows: shape[0]!, slots: shape[1]!, ids: ints(ids!), weights: fl(w!) }),
  extend_route: ({ first, count }, [r, gate], shape) => {
    const { rows, slots, ids, weights } = rt(r!);
    const k = shape[1]!;
    const out: RouteValue = { rows, slots: k, ids: new Int32Array(rows * k), weights: new Float32Array(rows * k) };
    for (let row = 0; row < rows; row++) {
      out.ids.set(ids.subarray(row * slots, (row + 1) * slots), row * k);
      out.weights.set(weights.subarray(row * slots, (row + 1) * slots), row * k);
      for (let j = 0; j < count; j++) {
        out.ids[row * k + slots + j] = first + j;
        out.weights[row * k + slots + j] = gate ? fl(gate)[row]! : 1;
      }
    }
    return out;
  },
  route_ids: (_, [r], shape) => out(shape, rt(r!).ids),
  route_weights: (_, [r], shape) => out(shape, rt(r!).weights),

  count: ({ experts }, [ids], shape) => out(shape, countPerExpert(ints(ids!), experts)),
  offsets: ({ block }, [counts], shape) => out(shape, paddedOffsets(ints(counts!), block)),
  permute: (_, [ids, off], shape) => out(shape, permutation(ints(ids!), ints(off!), lastDim(ids!), shape[0]!)),
  inverse: (_, [ids, off], shape) => out(shape, inversePermutation(ints(ids!), ints(off!), lastDim(ids!))),
  gather_rows: (_, [x, perm], shape) => out(shape, gatherRows(fl(x!), lastDim(x!), ints(perm!))),
  grouped_matmul: ({ first, count }, [xs, off, w, bias], shape) => {
    const [a, b] = [lastDim(xs!), shape[1]!];
    const offsets = ints(off!);
    const y = new Float32Array(size(shape));
    for (let j = 0; j < count; j++) {
      const [from, to] = [offsets[first + j]!, offsets[first + j + 1]!];
      if (to > from) y.set(matmul(fl(xs!).subarray(from * a, to * a), to - from, a, slice(t(w!), j), b), from * b);
      if (bias) addRowBias(y.subarray(from * b, to * b), slice(t(bias), j));
    }
    return out(shape, y);
  },
  grouped_copy: ({ first, count }, [xs, off], shape) => {
    const d = shape[1]!;
    const offsets = ints(off!);
    const y = new Float32Array(size(shape));
    y.set(fl(xs!).subarray(offsets[first]! * d, offsets[first + count]! * d), offsets[first]! * d);
    return out(shape, y);
  },
  combine: (_, [ys, ids, inv, w], shape) => out(shape, combineRows(fl(ys!), shape[1]!, ints(ids!), ints(inv!), fl(w!), lastDim(ids!))),
};

/** Run one op (a fused kernel runs its body with the same reference kernels). */
export function runKernel(call: OpCall<BodyOp | 'kernel'>, args: Value[], shape: number[], ctx: KernelContext): Value {
  if (call.op !== 'kernel') return runOp(call.op, call.attrs, args, shape, ctx);
  const values: Value[] = [...args];
  for (const n of call.attrs.body) values.push(runKernel(n, n.src.map((i) => values[i]!), n.type.shape.map((d) => evalDim(d, ctx.tokens)), ctx));
  return values[values.length - 1]!;
}

function runOp<O extends BodyOp>(op: O, attrs: OpAttrs[O], args: Value[], shape: number[], ctx: KernelContext): Value {
  const kernel: Kernel<O> = kernels[op];
  return kernel(attrs, args, shape, ctx);
}
