import { COMMON_IGNORED, type ConfigReader } from './config.js';
import { readQuantization, type Quantization } from '../dequantize.js';
import { checkLayers, gatedKind, PROJ, weightDtype, type Family, type FamilyImport, type ImportOptions } from './family.js';
import type { LayerKind, MoeSpec, MoeStack } from './stack.js';
import type { HfLayout, Role } from './weights.js';
import { number } from './moe-text.js';

/**
 * The decoder-only families: each layer is `x = x + ffn(post_attention_layernorm(x))` once
 * attention is left out, with `ffn` a dense gated MLP or the family's MoE block. Each reading
 * follows the family's Hugging Face modeling code (and, with `--semantics reference`, the
 * family's own inference code where the two differ).
 */
const OUTSIDE = 'Attention, embeddings and the final norm are outside the language: only the FFN/MoE stack, its norms and residuals are here.';

interface Names {
  /** The MoE module's name in a layer: `mlp` or Mixtral's `block_sparse_moe`. */
  moe: string;
  proj: Record<Role, string>;
  shared?: string;
  sharedGate?: string;
  /** Arctic's parallel dense MLP and its norm. */
  residual?: { mlp: string; norm: string };
  /** Where a dense layer's MLP lives (default `mlp`). */
  dense?: string;
}

function layout(n: Names): HfLayout {
  const at = (i: number) => `model.layers.${i}.`;
  const moe = (i: number) => `${at(i)}${n.moe}.`;
  return {
    norm: (i) => `${at(i)}post_attention_layernorm.weight`,
    ...(n.residual ? { denseNorm: (i: number) => `${at(i)}${n.residual!.norm}.weight` } : {}),
    dense: (i, role) => `${at(i)}${n.residual?.mlp ?? n.dense ?? 'mlp'}.${n.proj[role]}.weight`,
    router: (i) => `${moe(i)}gate.weight`,
    selectBias: (i) => `${moe(i)}gate.e_score_correction_bias`,
    expert: (i, e, role) => `${moe(i)}experts.${e}.${n.proj[role]}.weight`,
    stacked: { gateUp: (i) => `${moe(i)}experts.gate_up_proj`, down: (i) => `${moe(i)}experts.down_proj` },
    ...(n.shared ? { shared: (i: number, role: Role) => `${moe(i)}${n.shared}.${PROJ.llama[role]}.weight` } : {}),
    ...(n.sharedGate ? { sharedGate: (i: number) => `${moe(i)}${n.sharedGate}.weight` } : {}),
  };
}

/**
 * What every decoder family reads the same way. `quantized`: the quantisations the family's
 * releases use, read dequantised (src/interop/dequantize.ts). Block FP8 (`quant_method =
 * "fp8"`, `weight` F8_E4M3 with `weight_scale_inv` per block: transformers' fine-grained FP8,
 * DeepSeek-V3's and Qwen3's FP8 releases) names no family, so every Llama-style family reads it.
 */
function common(c: ConfigReader, opts: ImportOptions, note: string, quantized: Quantization['method'][] = ['fp8']) {
  c.ignore(COMMON_IGNORED);
  c.expect('mlp_bias', false, 'moec experts have no biases');
  const hidden = c.int('hidden_size');
  const layers = c.layers('num_hidden_layers');
  const eps = c.number('rms_norm_eps', 1e-6);
  const quantization = quantized.length ? readQuantization(c, quantized) : undefined;
  const notes = [note, OUTSIDE];
  if (quantization?.method === 'fp8') notes.push('Its FP8 weights (block scales weight_scale_inv) are dequantised to f32: each value fp8 · scale rounded once to f32.');
  const base = { name: opts.name, hidden, eps, weights: quantization?.method === 'fp8' ? ('F32' as const) : weightDtype(c), kind: gatedKind(c) };
  return { base, layers, notes, ...(quantization ? { quantization } : {}) };
}

function softmaxTopk(k: number, normalize: boolean): string {
  return `softmax | topk(${k})${normalize ? ' | normalize' : ''}`;
}

function finish(c: ConfigReader, family: string, stack: MoeStack, names: Names, quantization?: Quantization): FamilyImport {
  c.finish(family);
  return { stack, layout: layout(names), ...(quantization ? { quantization } : {}) };
}

export const mixtral: Family = {
  modelTypes: ['mixtral'],
  read(c, opts) {
    const { base, layers, notes, quantization } = common(c, opts, 'Mixtral (transformers MixtralSparseMoeBlock): softmax, top-k, always renormalised.');
    const moe: MoeSpec = { experts: c.int('num_local_experts'), ffn: c.int('intermediate_size'), stages: softmaxTopk(c.int('num_experts_per_tok'), true), gateBias: false, selectBias: false };
    return finish(c, 'mixtral', { ...base, notes, moe, layers: Array<LayerKind>(layers).fill('moe') }, { moe: 'block_sparse_moe', proj: PROJ.mixtral }, quantization);
  },
};

export const olmoe: Family = {
  modelTypes: ['olmoe'],
  read(c, opts) {
    const { base, layers, notes, quantization } = common(c, opts, 'OLMoE (transformers OlmoeSparseMoeBlock): softmax, top-k, renormalised when norm_topk_prob.');
    const moe: MoeSpec = { experts: c.int('num_experts'), ffn: c.int('intermediate_size'), stages: softmaxTopk(c.int('num_experts_per_tok'), c.bool('norm_topk_prob', false)), gateBias: false, selectBias: false };
    return finish(c, 'olmoe', { ...base, notes, moe, layers: Array<LayerKind>(layers).fill('moe') }, { moe: 'mlp', proj: PROJ.llama }, quantization);
  },
};

/** Qwen2-MoE and Qwen3-MoE: sparse every `decoder_sparse_step`-th layer except `mlp_only_layers`. */
function qwen(family: 'qwen2_moe' | 'qwen3_moe'): Family {
  return {
    modelTypes: [family],
    read(c, opts) {
      const shared = family === 'qwen2_moe';
      const { base, layers, notes, quantization } = common(c, opts, `${shared ? 'Qwen2-MoE' : 'Qwen3-MoE'} (transformers ${shared ? 'Qwen2MoeSparseMoeBlock' : 'Qwen3MoeSparseMoeBlock'}): softmax, top-k, renormalised when norm_topk_prob${shared ? '; a shared expert gated by sigmoid(x · w)' : ''}.`);
      const experts = c.int('num_experts', 0, 0);
      const step = c.int('decoder_sparse_step', 1);
      const only = c.ints('mlp_only_layers', []);
      checkLayers(c, 'mlp_only_layers', layers, only);
      const kinds = Array.from({ length: layers }, (_, i): LayerKind => (!only.includes(i) && experts > 0 && (i + 1) % step === 0 ? 'moe' : 'dense'));
      const moe: MoeSpec = {
        experts: Math.max(experts, 1),
        ffn: c.int('moe_intermediate_size'),
        stages: softmaxTopk(c.int('num_experts_per_tok'), c.bool('norm_topk_prob', false)),
        gateBias: false,
        selectBias: false,
        ...(shared ? { shared: { ffn: c.int('shared_expert_intermediate_size'), gate: true } } : {}),
      };
      const denseFfn = c.int('intermediate_size');
      const stack: MoeStack = { ...base, notes, layers: kinds, ...(kinds.includes('dense') ? { denseFfn } : {}), ...(kinds.includes('moe') ? { moe } : {}) };
      return finish(c, family, stack, { moe: 'mlp', proj: PROJ.llama, ...(shared ? { shared: 'shared_expert', sharedGate: 'shared_expert_gate' } : {}) }, quantization);
    },
  };
}
export const qwen2Moe = qwen('qwen2_moe');
export const qwen3Moe = qwen('qwen3_moe');

/**
 * DeepSeek-V2 and V3. The first `first_k_dense_replace` layers are dense, then every
 * `moe_layer_freq`-th layer is sparse. The group limit's dropped groups are scored 0 (Hugging
 * Face) or excluded (`--semantics reference`: DeepSeek's inference code); docs/language.md.
 */
function deepseek(version: 2 | 3): Family {
  const family = `deepseek_v${version}`;
  return {
    modelTypes: [family],
    read(c, opts) {
      const ref = opts.semantics === 'reference';
      const { base, layers, notes, quantization } = common(c, opts, `DeepSeek-V${version} (${ref ? "DeepSeek's inference code" : `transformers DeepseekV${version}${version === 2 ? 'Moe' : 'MoE'}`}).`);
      const experts = c.int('n_routed_experts');
      const k = c.int('num_experts_per_tok');
      const scale = c.number('routed_scaling_factor', 1);
      const normTopk = c.bool('norm_topk_prob', version === 3);
      const method = c.choice('topk_method', version === 2 ? ['greedy', 'group_limited_greedy'] : ['noaux_tc'], version === 2 ? 'greedy' : 'noaux_tc');
      c.expect('scoring_func', version === 2 ? 'softmax' : 'sigmoid', `DeepSeek-V${version} scores with ${version === 2 ? 'softmax' : 'sigmoid'}`);
      c.expect('ep_size', 1, 'expert parallelism does not change the arithmetic, but moec reads single-device checkpoints');
      const grouped = method !== 'greedy';
      const groups = grouped ? c.int('n_group') : c.int('n_group', 1);
      const keep = grouped ? c.int('topk_group') : c.int('topk_group', 1);
      const stages = [version === 2 ? 'softmax' : 'sigmoid | select_bias'];
      if (grouped && keep < groups) stages.push(`group_limit(groups = ${groups}, keep = ${keep}, score = ${version === 2 ? 'max' : 'top2'}${ref ? '' : ', dropped = zero'})`);
      stages.push(`topk(${k})`);
      // V3 (both codes): renormalise when norm_topk_prob, then scale. V2: transformers always
      // scales and ignores norm_topk_prob; DeepSeek's code renormalises instead of scaling when
      // norm_topk_prob and k > 1.
      const normalize = version === 3 ? normTopk : ref && normTopk && k > 1;
      if (normalize) stages.push('normalize');
      if (scale !== 1 && (version === 3 || !normalize)) stages.push(`scale(${number(scale)})`);
      if (version === 2 && normTopk && !ref) notes.push('norm_topk_prob = true is ignored, as transformers ignores it; --semantics reference renormalises instead of scaling, as DeepSeek-V2\'s own code does.');
      const mtp = c.int('num_nextn_predict_layers', 0, 0);
      if (mtp) notes.push(`The ${mtp} multi-token-prediction layer${mtp > 1 ? 's' : ''} (num_nextn_predict_layers) ${mtp > 1 ? 'are' : 'is'} left out.`);
      const firstDense = c.int('first_k_dense_replace', 0, 0);
      const freq = c.int('moe_layer_freq', 1);
      const kinds = Array.from({ length: layers }, (_, i): LayerKind => (i >= firstDense && i % freq === 0 ? 'moe' : 'dense'));
      const sharedCount = c.int('n_shared_experts', 0, 0);
      const ffn = c.int('moe_intermediate_size');
      const moe: MoeSpec = { experts, ffn, stages: stages.join(' | '), gateBias: false, selectBias: version === 3, ...(sharedCount ? { shared: { ffn: ffn * sharedCount, gate: false } } : {}) };
      const denseFfn = c.int('intermediate_size');
      const stack: MoeStack = { ...base, notes, layers: kinds, moe, ...(kinds.includes('dense') ? { denseFfn } : {}) };
      return finish(c, family, stack, { moe: 'mlp', proj: PROJ.llama, ...(sharedCount ? { shared: 'shared_experts' } : {}) }, quantization);
    },
  };
}
export const deepseekV2 = deepseek(2);
export const deepseekV3 = deepseek(3);

/**
 * Snowflake Arctic: each layer adds a dense residual MLP (hidden -> hidden -> hidden) on
 * residual_layernorm(x) and the MoE on post_attention_layernorm(x), in parallel.
 */
export const arctic: Family = {
  modelTypes: ['arctic'],
  read(c, opts) {
    const { base, layers, notes } = common(c, opts, 'Snowflake Arctic (modeling_arctic.py): a dense residual MLP in parallel with a softmax top-k MoE, renormalised for k > 1.', []);
    // Capacity and token dropping apply in DeepSpeed training only; the inference path routes every token.
    c.ignore(['moe_train_capacity_factor', 'moe_eval_capacity_factor', 'moe_min_capacity', 'moe_token_dropping', 'enable_expert_tensor_parallelism']);
    c.expect('quantization', null, 'quantised checkpoints are not imported');
    c.expect('moe_layer_frequency', 1, 'moec imports Arctic checkpoints whose every layer is sparse');
    const residual = c.bool('use_residual', true);
    c.expect('parallel_attn_mlp_res', residual, 'the parallel residual MLP is imported with use_residual');
    const k = c.int('num_experts_per_tok');
    const moe: MoeSpec = { experts: c.int('num_local_experts'), ffn: c.int('intermediate_size'), stages: softmaxTopk(k, k > 1), gateBias: false, selectBias: false };
    const stack: MoeStack = { ...base, notes, moe, layers: Array<LayerKind>(layers).fill(residual ? 'parallel' : 'moe'), ...(residual ? { denseFfn: base.hidden } : {}) };
    return finish(c, 'arctic', stack, { moe: 'block_sparse_moe', proj: PROJ.mixtral, ...(residual ? { residual: { mlp: 'residual_mlp', norm: 'residual_layernorm' } } : {}) });
  },
};

/**
 * gpt-oss (transformers GptOssMLP): the router's logits carry a bias, the top k are chosen on
 * them and softmaxed among themselves; the experts add biases to every projection and apply
 * the clamped SwiGLU `silu_α(min(g, L)) · (clamp(u, -L, L) + 1)` (docs/language.md). Its
 * experts are stacked `[E, H, 2I]` with gate and up in alternating columns, already `[in, out]`.
 */
export const gptOss: Family = {
  modelTypes: ['gpt_oss'],
  read(c, opts) {
    const { base, layers, notes, quantization } = common(c, opts, 'gpt-oss (transformers GptOssMLP): top-k of the biased router logits, softmax over the k; experts with biases and the clamped SwiGLU.', ['mxfp4']);
    notes.push('Its alternating sliding-window and full attention layers (layer_types, sliding_window) and attention sinks are attention, outside the language.');
    // GptOssExperts never reads hidden_act; the original release's names for values read here, and its context length (positions).
    c.ignore(['hidden_act', 'initial_context_length', 'rope_ntk_alpha', 'rope_ntk_beta', 'rope_scaling_factor']);
    if (quantization) notes.push(`Its MXFP4 experts (_blocks, _scales) are dequantised exactly to ${base.weights.toLowerCase()}.`);
    const k = c.int('num_experts_per_tok');
    c.expect('experts_per_token', k, 'it must agree with num_experts_per_tok');
    const moe: MoeSpec = { experts: c.int('num_local_experts'), ffn: c.int('intermediate_size'), stages: `topk(${k}) | softmax`, gateBias: true, selectBias: false };
    const alpha = c.number('swiglu_alpha', 1.702);
    const expert = { bias: true, ...(alpha !== 1 ? { alpha } : {}), beta: 1, limit: c.number('swiglu_limit', 7) };
    if (base.kind !== 'swiglu') throw new Error('internal: gpt-oss experts are SwiGLU');
    const stack: MoeStack = { ...base, eps: c.number('rms_norm_eps', 1e-5), notes, expert, moe, layers: Array<LayerKind>(layers).fill('moe') };
    c.finish('gpt_oss');
    const mlp = (i: number) => `model.layers.${i}.mlp.`;
    return {
      stack,
      ...(quantization ? { quantization } : {}),
      layout: {
        ...layout({ moe: 'mlp', proj: PROJ.llama }),
        router: (i) => `${mlp(i)}router.weight`,
        routerBias: (i) => `${mlp(i)}router.bias`,
        stacked: {
          gateUp: (i) => `${mlp(i)}experts.gate_up_proj`,
          down: (i) => `${mlp(i)}experts.down_proj`,
          interleaved: true,
          only: true,
          bias: { gateUp: (i) => `${mlp(i)}experts.gate_up_proj_bias`, down: (i) => `${mlp(i)}experts.down_proj_bias` },
        },
      },
    };
  },
};
