import type { StoredDType } from '../../runtime/safetensors.js';

/**
 * What an imported checkpoint's FFN/MoE stack is, independent of the family it came from:
 * the .moe text (moe-text.ts) and the weight names (weights.ts) are both derived from it, so
 * the two cannot disagree.
 */
export type FfnKind = 'swiglu' | 'geglu' | 'geglu_tanh' | 'relu' | 'gelu' | 'gelu_tanh' | 'silu';

/** What a layer adds to the residual: a dense FFN, the MoE block, or both in parallel (Arctic). */
export type LayerKind = 'dense' | 'moe' | 'parallel';

export interface MoeSpec {
  experts: number;
  ffn: number;
  /** The router pipeline after `linear(hidden -> experts)`, in .moe syntax. */
  stages: string;
  /** The gate has a bias (`linear(..., bias = true)`). */
  gateBias: boolean;
  /** A learned selection bias (`select_bias`, DeepSeek-V3's e_score_correction_bias). */
  selectBias: boolean;
  shared?: { ffn: number; gate: boolean };
  /** Routers that couple tokens declare their scope (Switch's capacity is per sequence). */
  scope?: 'request';
}

/** Options of the routed experts beyond their kind (gpt-oss: biases and the clamped SwiGLU; docs/language.md). */
export interface ExpertOptions {
  bias?: boolean;
  alpha?: number;
  beta?: number;
  limit?: number;
}

export interface MoeStack {
  /** The model's name in the .moe file. */
  name: string;
  /** Comment lines for the top of the .moe file: the source and what was left out. */
  notes: string[];
  hidden: number;
  /** Norm epsilon of every rmsnorm. */
  eps: number;
  /** The checkpoint's weight dtype: expert matrices keep it; routers and norms are f32. */
  weights: StoredDType;
  kind: FfnKind;
  /** The routed experts' options (none: plain `kind`). */
  expert?: ExpertOptions;
  /** The dense FFN's hidden size (dense and parallel layers). */
  denseFfn?: number;
  moe?: MoeSpec;
  layers: LayerKind[];
}

/** The names a layer's weights are found under (docs/weights.md): the block, its router and experts, the dense expert. */
export interface Sites {
  block: string;
  gate: string;
  routed: string;
  shared: string;
  dense: string;
}

/** The names an imported model uses. */
export const SITE: Sites = { block: 'moe', dense: 'dense', routed: 'routed', shared: 'common', gate: 'gate' };
