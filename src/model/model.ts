/**
 * The resolved model: what a .moe file means, with every name resolved, every dim evaluated
 * and every layer expanded. It is the contract between the front end and the IR builder:
 * plain data (JSON-serialisable), no AST nodes, no spans except `at` for back-references.
 *
 * Numbers are evaluated: dims are positive integers, constants any finite number.
 */
import type { Span } from '../diagnostics/source.js';
import type { FfnShape } from './expert-structure.js';
import type { RouterStage } from '../stages/table.js';

export type ComputeDType = 'f32' | 'f16' | 'bf16';
export type StorageDType = ComputeDType | 'int8' | 'int4';
export type Activation = 'silu' | 'gelu' | 'gelu_tanh' | 'relu';

/**
 * A feed-forward expert: its shape (src/model/expert-structure.ts: gated or plain, low-rank,
 * latent) under a declaration name.
 */
export interface FfnExpert extends FfnShape {
  kind: 'ffn';
  name: string;
}
/** Returns its input unchanged (a zero-FLOP "skip" expert). */
export interface IdentityExpert {
  kind: 'identity';
  name: string;
  width?: number;
}
/** Contributes nothing: a token routed to it uses fewer real experts (AdaMoE). */
export interface NullExpert {
  kind: 'null';
  name: string;
}
export type Expert = FfnExpert | IdentityExpert | NullExpert;

/** A router's first stage: where its entries come from. */
export type SourceStage = { op: 'linear'; input: number; width: number; bias: boolean } | { op: 'hash'; width: number; k: number; seed: number } | { op: 'fixed'; width: number; experts: number[] };

/** One router stage; semantics in docs/language.md, "Router stages". Stages after the source are defined in src/stages. */
export type Stage = SourceStage | RouterStage;

export interface Router {
  name: string;
  /** The number of entries it scores (router width). */
  width: number;
  stages: Stage[];
  /** True when a stage makes one token's result depend on other tokens (expert_choice, capacity). */
  couplesTokens: boolean;
}

export type Topology =
  | { kind: 'standard' }
  | { kind: 'chain'; iterations: number; residual: boolean }
  | { kind: 'union'; groupRouter: string; expertRouter: string; groups: number }
  | { kind: 'multihead'; heads: number };

/** Consecutive experts of one declaration inside a block. */
export interface ExpertSlots {
  expert: string;
  count: number;
  /** Index of the first slot in the block's expert list. */
  first: number;
}

export interface Block {
  name: string;
  /** Width of the block's input and output (the model width). */
  width: number;
  /** Width the routed experts work in (width / heads for multihead). */
  expertWidth: number;
  routers: Router[];
  /** Routed experts in router order; the router's entry i scores slot i. */
  experts: ExpertSlots[];
  expertCount: number;
  /** Always-on experts; `gate: 'sigmoid'` scales their output by sigmoid(x·w). */
  shared: { slots: ExpertSlots[]; gate: 'none' | 'sigmoid' };
  topology: Topology;
  /** Isolation scope for token-coupling routers; undefined when not declared. */
  scope?: 'request' | 'batch';
  offload?: OffloadPolicy;
}

/** A tensor expression of a layer body. Norms get their own weights per call site. */
export type LayerExpr =
  | { op: 'var'; name: string }
  | { op: 'add'; args: LayerExpr[] }
  | { op: 'block'; block: string; arg: LayerExpr }
  | { op: 'expert'; expert: string; arg: LayerExpr }
  | { op: 'rmsnorm' | 'layernorm'; eps: number; arg: LayerExpr };

export interface Layer {
  index: number;
  /** Sequential assignments; the layer's input and output is the variable `x`. */
  statements: { target: string; value: LayerExpr }[];
}

export type CachePolicy = { kind: 'lru' } | { kind: 'lfu' } | { kind: 'score'; recency: number };

export interface OffloadPolicy {
  /** Device memory budget in bytes. */
  budgetBytes?: number;
  /** Expert declarations whose every instance stays on the device. */
  resident: string[];
  cache: CachePolicy;
  prefetch: { kind: 'none' } | { kind: 'next_layer'; top: number };
  onMiss: { kind: 'wait' } | { kind: 'degrade'; dtype: StorageDType };
  /** Stored dtype per expert declaration (defaults to the model's weight dtype). */
  precision: Record<string, StorageDType>;
}

export interface ResolvedModel {
  name: string;
  /** Dims (integers) after `--set` overrides, in declaration order. */
  dims: Record<string, number>;
  consts: Record<string, number>;
  dtype: ComputeDType;
  weightDtype: StorageDType;
  /** The width of the residual stream: the size of every token vector between layers. */
  width: number;
  experts: Record<string, Expert>;
  blocks: Record<string, Block>;
  layers: Layer[];
  offload?: OffloadPolicy;
  /** Where the model is declared, for tools. */
  at: Span;
}
