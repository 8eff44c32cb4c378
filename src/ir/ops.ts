import type { Expert, FfnExpert, Stage } from '../checker/model.js';

/**
 * The IR's operations and their attributes. MoE-level ops (route, moe) carry the model's
 * meaning; passes lower them onto primitives. Every op here has a CPU reference kernel
 * (src/runtime/reference), so a graph runs at any stage of lowering.
 */
export interface RouterSpec {
  name: string;
  width: number;
  /** Stages after the source stage (the source is the node's params or inputs). */
  stages: Stage[];
  /** Which params follow the input: gate weight and bias for linear; none for hash/fixed. */
  source: { op: 'linear'; bias: boolean } | { op: 'hash'; k: number; seed: number } | { op: 'fixed'; experts: number[] };
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
}

export interface ExpertGroup {
  /** The expert declaration; one weight set of `count` stacked experts per group. */
  expert: Expert;
  count: number;
  /** Router entry of the group's first expert. */
  first: number;
}

export interface OpAttrs {
  input: { name: string };
  param: { name: string };
  add: Record<string, never>;
  mul: Record<string, never>;
  matmul: Record<string, never>;
  sigmoid: Record<string, never>;
  reshape: Record<string, never>;
  rmsnorm: { eps: number };
  layernorm: { eps: number };
  /** A dense FFN; src = [x, ...weights in expertWeights order]; `index` picks one of stacked experts. */
  ffn: { expert: FfnExpert; index?: number };
  /** src = [x, ...group router params, ...router params, ids? requests?]; type route[T, slots]. */
  route: RouteAttrs;
  /** y = Σ w·expert(x) over a route; src = [x, route, ...weights of each group]. */
  moe: { groups: ExpertGroup[] };
}

export type Op = keyof OpAttrs;

export const OP_SUMMARY: Record<Op, string> = {
  input: 'a graph input',
  param: 'a named weight tensor',
  add: 'elementwise sum',
  mul: 'elementwise product, broadcasting a trailing dim of 1',
  matmul: '[..., a] x [a, b] -> [..., b]',
  sigmoid: 'elementwise logistic function',
  reshape: 'same data, new shape',
  rmsnorm: 'x / sqrt(mean(x^2) + eps) * g',
  layernorm: '(x - mean) / sqrt(var + eps) * g + b',
  ffn: 'a dense feed-forward expert',
  route: 'a router pipeline: per-token expert ids and weights',
  moe: 'apply the routed experts and combine with the routing weights',
};
