import type { RouterStage } from '../../stages/table.js';
import type { MoeStack } from './stack.js';

/**
 * The config.json fields that make a family's Hugging Face code compute a stack, or undefined
 * when the family cannot express it. These only propose: export.ts reads every proposal back
 * with the family's importer and keeps it only if it gives the same model.
 */
type Writer = (s: MoeStack, stages: readonly RouterStage[], stack: 'encoder' | 'decoder') => Record<string, unknown> | undefined;

const ops = (stages: readonly RouterStage[]) => stages.map((s) => s.op).join(' ');
const stage = <O extends RouterStage['op']>(stages: readonly RouterStage[], op: O) => stages.find((s): s is Extract<RouterStage, { op: O }> => s.op === op);
const k = (stages: readonly RouterStage[]) => stage(stages, 'topk')?.k;
const TORCH = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' } as const;
const ACT = { swiglu: 'silu', geglu: 'gelu', geglu_tanh: 'gelu_pytorch_tanh' } as Record<string, string>;

function base(s: MoeStack, architecture: string, modelType: string): Record<string, unknown> {
  return { architectures: [architecture], model_type: modelType, hidden_size: s.hidden, num_hidden_layers: s.layers.length, rms_norm_eps: s.eps, hidden_act: ACT[s.kind], torch_dtype: TORCH[s.weights as keyof typeof TORCH] };
}

const softmaxTopk = (stages: readonly RouterStage[]) => /^softmax topk( normalize)?$/.test(ops(stages));
const allMoe = (s: MoeStack) => s.layers.every((l) => l === 'moe');

export const CONFIG_WRITERS: Readonly<Record<string, Writer>> = {
  mixtral: (s, st) =>
    s.moe && allMoe(s) && ops(st) === 'softmax topk normalize' ? { ...base(s, 'MixtralForCausalLM', 'mixtral'), intermediate_size: s.moe.ffn, num_local_experts: s.moe.experts, num_experts_per_tok: k(st) } : undefined,
  olmoe: (s, st) =>
    s.moe && allMoe(s) && softmaxTopk(st) ? { ...base(s, 'OlmoeForCausalLM', 'olmoe'), intermediate_size: s.moe.ffn, num_experts: s.moe.experts, num_experts_per_tok: k(st), norm_topk_prob: st.length === 3 } : undefined,
  qwen3_moe: (s, st) => (s.moe && !s.moe.shared && softmaxTopk(st) ? { ...base(s, 'Qwen3MoeForCausalLM', 'qwen3_moe'), ...qwenLayers(s, st) } : undefined),
  qwen2_moe: (s, st) =>
    s.moe?.shared?.gate && softmaxTopk(st) ? { ...base(s, 'Qwen2MoeForCausalLM', 'qwen2_moe'), ...qwenLayers(s, st), shared_expert_intermediate_size: s.moe.shared.ffn } : undefined,
  deepseek_v3: (s, st) => deepseek(s, st, 3),
  deepseek_v2: (s, st) => deepseek(s, st, 2),
  arctic: (s, st) => {
    const parallel = s.layers.every((l) => l === 'parallel') && s.denseFfn === s.hidden;
    if (!s.moe || !(parallel || allMoe(s)) || !softmaxTopk(st) || (st.length === 3) !== k(st)! > 1) return undefined;
    return { ...base(s, 'ArcticForCausalLM', 'arctic'), intermediate_size: s.moe.ffn, num_local_experts: s.moe.experts, num_experts_per_tok: k(st), moe_layer_frequency: 1, use_residual: parallel, parallel_attn_mlp_res: parallel };
  },
  // gpt-oss: biased router logits, top-k, softmax over the k; biased experts with the clamped SwiGLU (beta is always 1).
  gpt_oss: (s, st) => {
    const e = s.expert;
    if (!s.moe || !allMoe(s) || s.kind !== 'swiglu' || ops(st) !== 'topk softmax' || !s.moe.gateBias || !e?.bias || e.beta !== 1 || e.limit === undefined) return undefined;
    const { hidden_act: _, ...rest } = base(s, 'GptOssForCausalLM', 'gpt_oss');
    return { ...rest, intermediate_size: s.moe.ffn, num_local_experts: s.moe.experts, num_experts_per_tok: k(st), swiglu_alpha: e.alpha ?? 1, swiglu_limit: e.limit };
  },
  // One stack of the encoder-decoder (the encoder unless asked); with --base the other comes from the original.
  switch_transformers: (s, st, which) => {
    const capacity = stage(st, 'capacity');
    const kinds = s.layers;
    const step = kinds.map((_, i) => i + 1).find((n) => kinds.every((k, i) => (k === 'moe') === (n === 1 || i % n === 1)));
    const plain = { relu: 'relu', gelu: 'gelu', gelu_tanh: 'gelu_new', silu: 'silu' }[s.kind as string];
    if (!s.moe || !plain || step === undefined || ops(st) !== 'softmax topk capacity' || k(st) !== 1 || capacity?.limit === undefined || capacity.drop !== 'overflow') return undefined;
    return {
      architectures: ['SwitchTransformersForConditionalGeneration'],
      model_type: 'switch_transformers',
      d_model: s.hidden,
      d_ff: s.moe.ffn,
      ...(which === 'decoder' ? { num_decoder_layers: kinds.length, decoder_sparse_step: step } : { num_layers: kinds.length, encoder_sparse_step: step }),
      num_experts: s.moe.experts,
      expert_capacity: capacity.limit,
      router_bias: s.moe.gateBias,
      router_dtype: 'float32',
      dense_act_fn: plain,
      is_gated_act: false,
      layer_norm_epsilon: s.eps,
      torch_dtype: TORCH[s.weights as keyof typeof TORCH],
    };
  },
};

function qwenLayers(s: MoeStack, st: readonly RouterStage[]) {
  const dense = s.layers.flatMap((l, i) => (l === 'dense' ? [i] : []));
  return {
    intermediate_size: s.denseFfn ?? s.moe!.ffn,
    moe_intermediate_size: s.moe!.ffn,
    num_experts: s.moe!.experts,
    num_experts_per_tok: k(st),
    norm_topk_prob: st.length === 3,
    decoder_sparse_step: 1,
    mlp_only_layers: dense,
  };
}

function deepseek(s: MoeStack, st: readonly RouterStage[], version: 2 | 3): Record<string, unknown> | undefined {
  const m = s.moe;
  const firstMoe = s.layers.indexOf('moe');
  if (!m || m.shared?.gate || firstMoe < 0 || s.layers.some((l, i) => l !== (i < firstMoe ? 'dense' : 'moe'))) return undefined;
  const limit = stage(st, 'group_limit');
  const scale = stage(st, 'scale');
  const pattern = version === 3 ? /^sigmoid select_bias( group_limit)? topk( normalize)?( scale)?$/ : /^softmax( group_limit)? topk( scale)?$/;
  if (!pattern.test(ops(st)) || (limit && (limit.dropped !== 'zero' || limit.score !== (version === 3 ? 'top2' : 'max')))) return undefined;
  const shared = m.shared ? m.shared.ffn / m.ffn : 0;
  if (!Number.isInteger(shared)) return undefined;
  return {
    ...base(s, `DeepseekV${version}ForCausalLM`, `deepseek_v${version}`),
    intermediate_size: s.denseFfn ?? m.ffn,
    moe_intermediate_size: m.ffn,
    n_routed_experts: m.experts,
    n_shared_experts: shared,
    num_experts_per_tok: k(st),
    first_k_dense_replace: firstMoe,
    moe_layer_freq: 1,
    n_group: limit?.groups ?? 1,
    topk_group: limit?.keep ?? 1,
    topk_method: version === 3 ? 'noaux_tc' : limit ? 'group_limited_greedy' : 'greedy',
    scoring_func: version === 3 ? 'sigmoid' : 'softmax',
    norm_topk_prob: st.some((x) => x.op === 'normalize'),
    routed_scaling_factor: scale?.factor ?? 1,
  };
}
