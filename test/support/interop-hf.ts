import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planHfImport } from '../../src/interop/hf/import.js';
import { writeSafetensorsStreaming } from '../../src/interop/safetensors-stream.js';
import { readSafetensors } from '../../src/runtime/safetensors.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { compileText } from './model.js';
import { normalStream } from '../../src/runtime/init-weights.js';
import { writeSafetensors, type StoredDType } from '../../src/runtime/safetensors.js';

/**
 * Tiny synthetic Hugging Face checkpoints, and an independent implementation of each family's
 * FFN/MoE stack written from the families' modeling code (PyTorch layouts, [out, in] linears,
 * f64 arithmetic), against which `moec import hf` is tested. Nothing here uses moec's router
 * or executor.
 */
export type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

export class Fixture {
  readonly tensors: Tensors = new Map();
  private readonly rng: () => number;

  constructor(seed: number) {
    this.rng = normalStream(seed, 'hf-fixture');
  }

  /** A normal draw scaled by `scale`, plus `shift` (norm gains near 1). */
  add(name: string, shape: number[], scale = 0.4, shift = 0): Float32Array {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => shift + scale * this.rng());
    this.tensors.set(name, { shape, data });
    return data;
  }

  get(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`fixture has no ${name}`);
    return t.data;
  }

  /** Write config.json and the tensors, in `shards` files with an index when more than one. */
  write(dir: string, config: Record<string, unknown>, shards = 1, dtype: StoredDType = 'F32'): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    const names = [...this.tensors.keys()];
    const file = (s: number) => (shards === 1 ? 'model.safetensors' : `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`);
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const mine = names.filter((_, i) => i % shards === s);
      const map = new Map(mine.map((n) => [n, { tensor: { dtype: 'f32' as const, ...this.tensors.get(n)! }, as: dtype }]));
      writeFileSync(join(dir, file(s)), writeSafetensors(map));
      for (const n of mine) weightMap[n] = file(s);
    }
    if (shards > 1) writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  }
}

/** `moec import hf` of a checkpoint directory (default semantics): the plan, the model's graph, and the weights file it wrote (as read back, and as tensors). */
export function importCheckpoint(dir: string) {
  const plan = planHfImport(dir, { semantics: 'hf', stack: 'encoder' });
  const out = join(dir, 'imported.safetensors');
  try {
    writeSafetensorsStreaming(out, plan.tensors, { model: plan.stack.name });
  } finally {
    plan.checkpoint.close();
  }
  const stored = readSafetensors(readFileSync(out));
  return { plan, graph: compileText(plan.text).graph, weights: new Map<string, Tensor>([...stored].map(([n, t]) => [n, t.tensor])), stored, out };
}

// ---- the independent implementation ------------------------------------------------------

/** y = W x for a PyTorch linear weight W [out, in] (offset: the expert's slice of a stack). */
export function linear(W: Float32Array, x: readonly number[], out: number, offset = 0): number[] {
  const inn = x.length;
  return Array.from({ length: out }, (_, o) => x.reduce((acc, v, i) => acc + W[offset + o * inn + i]! * v, 0));
}

export function rmsnorm(x: readonly number[], w: Float32Array, eps: number): number[] {
  const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
  return x.map((v, i) => (v / Math.sqrt(ms + eps)) * w[i]!);
}

export const silu = (v: number) => v / (1 + Math.exp(-v));
export const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** down(silu(gate x) * up x), Linear weights [out, in]. */
export function gatedMlp(t: Fixture, gate: string, up: string, down: string, x: readonly number[], ffn: number): number[] {
  const g = linear(t.get(gate), x, ffn);
  const u = linear(t.get(up), x, ffn);
  return linear(t.get(down), g.map((v, i) => silu(v) * u[i]!), x.length);
}

export function softmax(v: readonly number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** The k largest entries' indices, largest first; ties to the lower index. */
export function topk(v: readonly number[], k: number): number[] {
  return v.map((_, i) => i).sort((a, b) => v[b]! - v[a]! || a - b).slice(0, k);
}

export const add = (a: readonly number[], b: readonly number[]) => a.map((v, i) => v + b[i]!);
export const scaled = (a: readonly number[], s: number) => a.map((v) => v * s);
export const rows = (x: Float32Array, width: number) => Array.from({ length: x.length / width }, (_, r) => Array.from(x.subarray(r * width, (r + 1) * width)));

// ---- tiny checkpoints of each family ---------------------------------------------------

export const TINY = { H: 8, I: 6, E: 8, EPS: 1e-5 };
const { H, I, E, EPS } = TINY;

/** Fields a real config has that do not touch the FFN stack. */
export const ATTENTION = { num_attention_heads: 2, num_key_value_heads: 2, vocab_size: 16, max_position_embeddings: 64, rope_theta: 10000, tie_word_embeddings: false, torch_dtype: 'float32' };

export const LLAMA: [string, string, string] = ['gate_proj', 'up_proj', 'down_proj'];
export const MIXTRAL: [string, string, string] = ['w1', 'w3', 'w2'];

/** Per-expert Linear weights `{prefix}experts.{e}.{proj}.weight`. */
export function addExperts(f: Fixture, prefix: string, proj: [string, string, string], count = E, ffn = I): void {
  for (let e = 0; e < count; e++) {
    f.add(`${prefix}experts.${e}.${proj[0]}.weight`, [ffn, H]);
    f.add(`${prefix}experts.${e}.${proj[1]}.weight`, [ffn, H]);
    f.add(`${prefix}experts.${e}.${proj[2]}.weight`, [H, ffn]);
  }
}

/** A gated MLP `{prefix}{gate,up,down}` of hidden size `ffn`. */
export function addMlp(f: Fixture, prefix: string, proj: [string, string, string], ffn: number): void {
  f.add(`${prefix}${proj[0]}.weight`, [ffn, H]);
  f.add(`${prefix}${proj[1]}.weight`, [ffn, H]);
  f.add(`${prefix}${proj[2]}.weight`, [H, ffn]);
}

/** Attention and embedding tensors a real checkpoint has: imported nowhere, counted as left out. */
export function addOutside(f: Fixture, layers: number): void {
  f.add('model.embed_tokens.weight', [16, H]);
  for (let i = 0; i < layers; i++) f.add(`model.layers.${i}.self_attn.q_proj.weight`, [H, H]);
}

/** A complete tiny checkpoint of a decoder family: its tensors and config.json. */
export function tinyCheckpoint(family: string, seed: number): { f: Fixture; config: Record<string, unknown> } {
  const f = new Fixture(seed);
  const layers = 3;
  const norm = (i: number, name = 'post_attention_layernorm') => f.add(`model.layers.${i}.${name}.weight`, [H], 0.1, 1);
  const common = { hidden_size: H, num_hidden_layers: layers, rms_norm_eps: EPS, ...ATTENTION };
  addOutside(f, layers);
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    norm(i);
    const dense = (family === 'deepseek_v3' || family === 'deepseek_v2') && i === 0 ? 'mlp.' : family === 'qwen2_moe' && i === 2 ? 'mlp.' : undefined;
    if (dense) {
      addMlp(f, `${p}${dense}`, LLAMA, 12);
      continue;
    }
    const moe = family === 'mixtral' || family === 'arctic' ? `${p}block_sparse_moe.` : `${p}mlp.`;
    f.add(`${moe}gate.weight`, [E, H], 1);
    if (family === 'deepseek_v3') f.add(`${moe}gate.e_score_correction_bias`, [E], 0.3, -0.7);
    addExperts(f, moe, family === 'mixtral' || family === 'arctic' ? MIXTRAL : LLAMA);
    if (family === 'qwen2_moe') (addMlp(f, `${moe}shared_expert.`, LLAMA, 10), f.add(`${moe}shared_expert_gate.weight`, [1, H]));
    if (family.startsWith('deepseek')) addMlp(f, `${moe}shared_experts.`, LLAMA, 2 * I);
    if (family === 'arctic') (norm(i, 'residual_layernorm'), addMlp(f, `${p}residual_mlp.`, MIXTRAL, H));
  }
  const deepseek = (v: 2 | 3) => ({
    model_type: `deepseek_v${v}`, intermediate_size: 12, moe_intermediate_size: I, n_routed_experts: E, n_shared_experts: 2, num_experts_per_tok: 3, first_k_dense_replace: 1,
    moe_layer_freq: 1, n_group: 4, topk_group: 2, routed_scaling_factor: v === 2 ? 16 : 2.5, topk_method: v === 2 ? 'group_limited_greedy' : 'noaux_tc',
    scoring_func: v === 2 ? 'softmax' : 'sigmoid', norm_topk_prob: v === 3, ep_size: 1, kv_lora_rank: 4, qk_nope_head_dim: 2, qk_rope_head_dim: 2, v_head_dim: 2,
  });
  const configs: Record<string, Record<string, unknown>> = {
    mixtral: { model_type: 'mixtral', intermediate_size: I, num_local_experts: E, num_experts_per_tok: 2, hidden_act: 'silu' },
    olmoe: { model_type: 'olmoe', intermediate_size: I, num_experts: E, num_experts_per_tok: 3, norm_topk_prob: false },
    qwen3_moe: { model_type: 'qwen3_moe', intermediate_size: 12, moe_intermediate_size: I, num_experts: E, num_experts_per_tok: 2, norm_topk_prob: true },
    qwen2_moe: { model_type: 'qwen2_moe', intermediate_size: 12, moe_intermediate_size: I, shared_expert_intermediate_size: 10, num_experts: E, num_experts_per_tok: 2, norm_topk_prob: false, mlp_only_layers: [2] },
    deepseek_v2: deepseek(2),
    deepseek_v3: deepseek(3),
    arctic: { model_type: 'arctic', intermediate_size: I, num_local_experts: E, num_experts_per_tok: 2, moe_layer_frequency: 1, use_residual: true, parallel_attn_mlp_res: true },
  };
  return { f, config: { ...common, ...configs[family]! } };
}

/** Switch Transformers: both stacks, 4 blocks each, sparse every second block, expert_capacity 1. */
export function tinySwitch(seed: number) {
  const f = new Fixture(seed);
  const [layers, F, capacity] = [4, 10, 1];
  for (const [stack, sub] of [['encoder', 1], ['decoder', 2]] as const) {
    for (let i = 0; i < layers; i++) {
      const p = `${stack}.block.${i}.layer.${sub}.`;
      f.add(`${p}layer_norm.weight`, [H], 0.1, 1);
      if (i % 2 === 1) {
        f.add(`${p}mlp.router.classifier.weight`, [E, H], 1);
        for (let e = 0; e < E; e++) (f.add(`${p}mlp.experts.expert_${e}.wi.weight`, [F, H]), f.add(`${p}mlp.experts.expert_${e}.wo.weight`, [H, F]));
      } else (f.add(`${p}mlp.wi.weight`, [F, H]), f.add(`${p}mlp.wo.weight`, [H, F]));
    }
  }
  f.add('shared.weight', [16, H]);
  const config = {
    model_type: 'switch_transformers', d_model: H, d_ff: F, num_layers: layers, num_decoder_layers: layers, num_experts: E, expert_capacity: capacity, encoder_sparse_step: 2, decoder_sparse_step: 2,
    router_bias: false, router_dtype: 'float32', router_ignore_padding_tokens: false, router_jitter_noise: 0.01, router_z_loss_coef: 0.001, router_aux_loss_coef: 0.001,
    layer_norm_epsilon: EPS, dense_act_fn: 'relu', feed_forward_proj: 'relu', is_gated_act: false, num_sparse_encoder_layers: 2, num_sparse_decoder_layers: 2, add_router_probs: false,
    d_kv: 4, num_heads: 2, relative_attention_num_buckets: 32, relative_attention_max_distance: 128, dropout_rate: 0.1, initializer_factor: 1, vocab_size: 16, is_encoder_decoder: true,
    decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0, torch_dtype: 'float32', router_type: 'tokens_masked', num_selected_experts: 1, batch_prioritized_routing: false,
  };
  return { f, config, layers, F, capacity };
}
