import type { RouterStage } from '../stages/table.js';
import type { DType, TensorType } from './types.js';

/**
 * The IR's operations and their attributes. MoE-level ops (route, moe, ffn) carry the model's
 * meaning; passes lower them onto primitives (docs/ir.md, "Primitive ops"). Every op here has
 * a CPU reference kernel (src/runtime/reference), so a graph runs at any stage of lowering.
 * Attribute types are the IR's own: the builder (from-model.ts) translates the resolved model
 * into them, so nothing below the IR depends on the front end.
 */

/** An FFN expert's shape: its weights and steps follow from it (src/model/expert-structure.ts). */
export interface FfnExpertSpec {
  kind: 'ffn';
  name: string;
  gated: boolean;
  act: FfnAct;
  input: number;
  hidden: number;
  output: number;
  /** Low-rank: every matrix [a, b] is stored as [a, rank] · [rank, b]. */
  rank?: number;
  /** Latent: entered and left by its own projections, the FFN runs `latent` wide. */
  latent?: number;
  /** Every projection adds a bias; `alpha`, `beta` and `limit` as in src/model/expert-structure.ts. */
  bias?: boolean;
  alpha?: number;
  beta?: number;
  limit?: number;
}

/** An expert of a moe group: an FFN, identity (returns its input) or null (contributes nothing). */
export type ExpertSpec = FfnExpertSpec | { kind: 'identity'; name: string } | { kind: 'null'; name: string };

export type FfnAct = 'silu' | 'gelu' | 'gelu_tanh' | 'relu';

/** A router stage after the source; each is defined once in src/stages (its table owns the type). */
export type { RouterStage };

/** Where a router's entries come from: a gate (the node's params) or a selecting source. */
export type RouterSource = { op: 'linear'; bias: boolean } | { op: 'hash'; k: number; seed: number } | { op: 'fixed'; experts: number[] };

export interface RouterSpec {
  name: string;
  width: number;
  /** Stages after the source stage (the source is the node's params or inputs). */
  stages: RouterStage[];
  /** Which params follow the input: gate weight and bias for linear; none for hash/fixed. */
  source: RouterSource;
  selectBias: boolean;
}

export interface RouteAttrs {
  router: RouterSpec;
  /** Union topologies: the group router, applied first; `router` then runs inside the chosen groups. */
  groupRouter?: RouterSpec;
  /** Router entries that are null experts: they leave the selection right after it. */
  nullEntries: number[];
  /** Selection slots per token: the most experts a token can get. */
  slots: number;
  /** Isolation scope of a token-coupling router. */
  scope?: 'request' | 'batch';
  /** Multi-head blocks route h sub-tokens per token: sub-token t belongs to token t / h. */
  subTokens?: number;
  /** The per-token inputs the route reads after its params, in operand order. */
  tokenInputs: ('ids' | 'requests')[];
}

export interface ExpertGroup {
  /** The expert declaration; one weight set of `count` stacked experts per group. */
  expert: ExpertSpec;
  count: number;
  /** Router entry of the group's first expert. */
  first: number;
}

export type UnaryFn = 'sigmoid' | 'silu' | 'gelu' | 'gelu_tanh' | 'relu' | 'identity';

type None = Record<string, never>;

export interface OpAttrs {
  input: { name: string };
  param: { name: string };
  /** Elementwise; a rank-1 second operand broadcasts over rows. */
  add: None;
  mul: None;
  matmul: None;
  /** An elementwise function fn_α(clamp(v, min, max)) + shift; silu_α(v) = v·σ(α·v); absent parameters do nothing. */
  act: { fn: UnaryFn; alpha?: number; min?: number; max?: number; shift?: number };
  reshape: None;
  /** W [n, ...] -> W[i] [...]: one expert of stacked weights (shared experts lowered one by one). */
  index: { i: number };
  /** Quantised weight q [..., in, out] (int8 values, or int4 packed two per byte along out) and scale [..., out] -> q · scale. */
  dequant: { bits: 8 | 4 };
  rmsnorm: { eps: number };
  layernorm: { eps: number };
  /** A dense FFN; src = [x, ...weights in expertWeights order]; `index` picks one of stacked experts. */
  ffn: { expert: FfnExpertSpec; index?: number };
  /** src = [x, ...group router params, ...router params, ids? requests?]; type route[T, slots]. */
  route: RouteAttrs;
  /** y = Σ w·expert(x) over a route; src = [x, route, ...weights of each group]. */
  /** `block` and `layer` name where it came from, for plans. */
  moe: { groups: ExpertGroup[]; block: string; layer: number };

  // Router primitives (lower-routers). Rows R, router width E, k selection slots.
  /** Softmax over the last axis; with a second operand (ids), only over slots whose id is not -1. */
  softmax: None;
  /** key [R, E] -> key with -inf (0 with `dropped = zero`) at the live entries outside the `keep` best of `groups` contiguous groups. */
  group_limit: { groups: number; keep: number; score: 'max' | 'top2'; dropped?: 'zero' };
  /** key [R, E] -> ids i32[R, k]: the k largest, descending, ties to the lower index. */
  topk: { k: number };
  /** key [R, E], scores [R, E] -> ids i32[R, max]: the fewest top keys whose scores reach p (padded with -1). */
  top_p: { p: number; max: number };
  /** token ids i32[R] -> ids i32[R, k]: k distinct experts from a seeded hash. */
  hash_select: { k: number; seed: number; width: number };
  /** x [R, d] -> ids i32[R, n]: the listed experts for every row. */
  fixed_select: { experts: number[] };
  /** key [R, E] (+ requests i32[R]) -> ids i32[R, E]: each expert takes its top rows of each request. */
  expert_choice: { capacity: number };
  /** ids [R, k], w [R, k] (+ requests) -> ids with assignments over capacity (a factor, or a fixed limit) replaced by -1. */
  capacity: { factor?: number; limit?: number; drop: 'overflow' | 'score'; k: number; experts: number };
  /** v [R, E], live [R, E] -> v where live is not -inf, -inf where it is (entries out of play stay out). */
  mask: None;
  /** v [R, E], group ids i32[R, g] -> v with -inf at each entry e whose group floor(e / size) is not among the row's ids. */
  group_mask: { size: number };
  /** ids i32[R, k], group ids i32[R, g], group weights [R, g] -> [R, k]: each slot's group weight (group floor(id / size)), 0 for an empty slot. */
  group_weight: { size: number };
  /** ids [R, k] -> [R, k] of `dtype`: `value` where the id is not -1, else 0. */
  fill: { value: number; dtype: DType };
  /** i32[R] -> i32[R * times]: each element repeated (token ids and requests for sub-tokens). */
  repeat: { times: number };
  /** ids -> ids with the listed entries replaced by -1 (null experts leave the selection). */
  drop: { entries: number[] };
  /** values [R, E], ids [R, k] -> [R, k] (0 where the id is -1). */
  gather: None;
  /** w [R, k] / its row sum (rows summing to 0 unchanged). */
  normalize: None;
  scale: { factor: number };
  /** ids, weights -> route. */
  pack_route: None;
  /** route -> its ids i32[R, k] / its weights [R, k]. */
  route_ids: None;
  route_weights: None;
  /** route [R, k] (+ gate [R, 1]) -> route [R, k + count]: entries first.. always selected, weight 1 or the gate. */
  extend_route: { first: number; count: number };

  // Batched rerouting primitives (reroute). Padded rows P: every expert's run rounded up to `block`.
  /** ids [R, k] -> i32[E]: tokens per expert. */
  count: { experts: number };
  /** counts [E] -> i32[E + 1]: start of each expert's padded run. */
  offsets: { block: number };
  /** ids, offsets -> i32[P]: the row each padded slot reads (-1: padding); rows ascending within an expert. */
  permute: { block: number };
  /** ids, offsets -> i32[R, k]: where each (row, slot) landed in the permutation. */
  inverse: None;
  /** x [R, d], perm [P] -> [P, d] (zero rows for padding). */
  gather_rows: None;
  /** xs [P, a], offsets, W [count, a, b] (, bias [count, b]) -> [P, b]: experts first..first+count-1 (each run's rows plus its bias, padding rows included), zero elsewhere. */
  grouped_matmul: { first: number; count: number };
  /** xs [P, d], offsets -> the rows of experts first..first+count-1 (identity experts), zero elsewhere. */
  grouped_copy: { first: number; count: number };
  /** ys [P, d], ids, inverse, weights -> [R, d]: Σ w · ys[inverse], in increasing expert order. */
  combine: None;

  /** A fused kernel: `body` runs as one unit; body operand i < src.length is src[i]. */
  kernel: { name: string; body: KernelNode[] };
}

export type Op = keyof OpAttrs;

/**
 * Each op's level. After the pipeline only `graph`, `primitive` and `fused` ops remain (a
 * kernel's body only primitives): `verifyLowered` checks it, and docs/ir.md, "Primitive ops",
 * says what each primitive computes. Typed over every op, so a new op must pick its level.
 */
export const OP_LEVEL: { readonly [O in Op]: 'graph' | 'model' | 'primitive' | 'fused' } = {
  input: 'graph',
  param: 'graph',
  route: 'model',
  moe: 'model',
  ffn: 'model',
  kernel: 'fused',
  add: 'primitive',
  mul: 'primitive',
  matmul: 'primitive',
  act: 'primitive',
  reshape: 'primitive',
  index: 'primitive',
  dequant: 'primitive',
  rmsnorm: 'primitive',
  layernorm: 'primitive',
  softmax: 'primitive',
  mask: 'primitive',
  group_limit: 'primitive',
  group_mask: 'primitive',
  group_weight: 'primitive',
  topk: 'primitive',
  top_p: 'primitive',
  hash_select: 'primitive',
  fixed_select: 'primitive',
  expert_choice: 'primitive',
  capacity: 'primitive',
  fill: 'primitive',
  repeat: 'primitive',
  drop: 'primitive',
  gather: 'primitive',
  normalize: 'primitive',
  scale: 'primitive',
  pack_route: 'primitive',
  route_ids: 'primitive',
  route_weights: 'primitive',
  extend_route: 'primitive',
  count: 'primitive',
  offsets: 'primitive',
  permute: 'primitive',
  inverse: 'primitive',
  gather_rows: 'primitive',
  grouped_matmul: 'primitive',
  grouped_copy: 'primitive',
  combine: 'primitive',
};

/** Ops that may appear inside a fused kernel's body. */
export type BodyOp = Exclude<Op, 'kernel' | 'input' | 'param'>;

/**
 * An op with its attributes as one discriminated value: `switch (c.op)` narrows `c.attrs`.
 * Graph nodes (graph.ts) and kernel body nodes are built on it.
 */
export type OpCall<O extends Op = Op> = O extends Op ? { readonly op: O; readonly attrs: Readonly<OpAttrs[O]> } : never;

/** A node inside a kernel body: operands index kernel inputs then earlier body nodes. */
export type KernelNode<O extends BodyOp = BodyOp> = O extends BodyOp ? { readonly op: O; readonly src: readonly number[]; readonly attrs: Readonly<OpAttrs[O]>; readonly type: TensorType } : never;
