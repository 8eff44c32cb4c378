import { ATTENTION, Fixture, rmsnorm, sigmoid, softmax, topk, TINY } from './interop-hf.js';

/**
 * A tiny gpt-oss checkpoint in Hugging Face's layout and an independent f64 implementation of
 * its MLP, written from transformers' GptOssTopKRouter and GptOssExperts: router logits
 * `x Wᵀ + b`, top-k of the logits, softmax over those k; per expert `gate_up = x · gate_up_proj[e]
 * + gate_up_proj_bias[e]` ([H, 2I], already [in, out]), gate = its even columns, up = its odd
 * ones, gate clamped to at most `limit`, up to [-limit, limit], `glu = gate · σ(alpha · gate)`,
 * `out = ((up + 1) · glu) · down_proj[e] + down_proj_bias[e]`.
 */
export const GPT_OSS = { layers: 2, E: 8, I: 6, k: 3, limit: 0.6, alpha: 1.5 };

/** Sizes of a tiny checkpoint: hidden and expert widths (MXFP4 needs multiples of 32). */
export interface Sizes {
  H: number;
  I: number;
}
const SMALL: Sizes = { H: TINY.H, I: GPT_OSS.I };

export function tinyGptOss(seed: number, { H, I }: Sizes = SMALL): { f: Fixture; config: Record<string, unknown> } {
  const { EPS } = TINY;
  const { layers, E, k, limit, alpha } = GPT_OSS;
  const f = new Fixture(seed);
  f.add('model.embed_tokens.weight', [16, H]);
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    f.add(`${p}self_attn.sinks`, [2]);
    f.add(`${p}post_attention_layernorm.weight`, [H], 0.1, 1);
    f.add(`${p}mlp.router.weight`, [E, H], 1);
    f.add(`${p}mlp.router.bias`, [E], 0.5);
    f.add(`${p}mlp.experts.gate_up_proj`, [E, H, 2 * I]);
    f.add(`${p}mlp.experts.gate_up_proj_bias`, [E, 2 * I], 0.3);
    f.add(`${p}mlp.experts.down_proj`, [E, I, H]);
    f.add(`${p}mlp.experts.down_proj_bias`, [E, H], 0.3);
  }
  const config = {
    model_type: 'gpt_oss', architectures: ['GptOssForCausalLM'], hidden_size: H, intermediate_size: I, num_hidden_layers: layers, num_local_experts: E, num_experts_per_tok: k,
    experts_per_token: k, rms_norm_eps: EPS, swiglu_limit: limit, swiglu_alpha: alpha, hidden_act: 'silu', head_dim: 4, sliding_window: 128, attention_bias: true,
    layer_types: Array.from({ length: layers }, (_, i) => (i % 2 ? 'full_attention' : 'sliding_attention')), initial_context_length: 4096, router_aux_loss_coef: 0.9,
    output_router_logits: false, initializer_range: 0.02, ...ATTENTION,
  };
  return { f, config };
}

/** Clamped values seen by the last `gptOssLayer` calls: the test checks both clamps were exercised. */
export const clamped = { gate: 0, up: 0 };

/** One layer's update `mlp(post_attention_layernorm(x))` of one row. */
export function gptOssLayer(f: Fixture, layer: number, x: readonly number[], { H, I }: Sizes = SMALL, limit = GPT_OSS.limit, alpha = GPT_OSS.alpha): number[] {
  const { EPS } = TINY;
  const { E, k } = GPT_OSS;
  const p = `model.layers.${layer}.`;
  const h = rmsnorm(x, f.get(`${p}post_attention_layernorm.weight`), EPS);
  const [Wr, br] = [f.get(`${p}mlp.router.weight`), f.get(`${p}mlp.router.bias`)];
  const logits = Array.from({ length: E }, (_, e) => h.reduce((a, v, i) => a + Wr[e * H + i]! * v, br[e]!));
  const chosen = topk(logits, k);
  const weights = softmax(chosen.map((e) => logits[e]!));
  const [gu, gub, down, downb] = ['gate_up_proj', 'gate_up_proj_bias', 'down_proj', 'down_proj_bias'].map((n) => f.get(`${p}mlp.experts.${n}`));
  const y = Array<number>(H).fill(0);
  chosen.forEach((e, j) => {
    const gateUp = Array.from({ length: 2 * I }, (_, c) => h.reduce((a, v, i) => a + v * gu![(e * H + i) * 2 * I + c]!, gub![e * 2 * I + c]!));
    const glu = Array.from({ length: I }, (_, c) => {
      const [g0, u0] = [gateUp[2 * c]!, gateUp[2 * c + 1]!];
      const g = Math.min(g0, limit);
      const u = Math.max(-limit, Math.min(limit, u0));
      clamped.gate += g !== g0 ? 1 : 0;
      clamped.up += u !== u0 ? 1 : 0;
      return (u + 1) * g * sigmoid(g * alpha);
    });
    for (let o = 0; o < H; o++) y[o]! += weights[j]! * glu.reduce((a, v, c) => a + v * down![(e * I + c) * H + o]!, downb![e * H + o]!);
  });
  return y;
}

/** FP4 (E2M1) by code, as the MXFP4 format defines it: sign bit 3, then 2 exponent bits and 1 mantissa bit. */
const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

/**
 * The released gpt-oss layout: each layer's gate_up_proj and down_proj as MXFP4 `_blocks`
 * `[E, out, in / 32, 16]` (two codes a byte, low nibble first) and `_scales` `[E, out, in / 32]`
 * (E8M0, 2^(s - 127)). Random codes and scales; the fixture's tensors become the values they
 * encode (transposed back to `[E, in, out]`), so gptOssLayer computes with exactly them.
 */
export function quantizeMxfp4(f: Fixture, layers: number, seed: number): Map<string, { shape: number[]; bytes: Uint8Array }> {
  let state = seed >>> 0 || 1;
  const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0), state >>> 8);
  const packed = new Map<string, { shape: number[]; bytes: Uint8Array }>();
  for (let l = 0; l < layers; l++) {
    for (const proj of ['gate_up_proj', 'down_proj']) {
      const name = `model.layers.${l}.mlp.experts.${proj}`;
      const { shape } = f.tensors.get(name)!;
      const [E, inn, out] = shape as [number, number, number];
      const groups = inn / 32;
      const blocks = Uint8Array.from({ length: E * out * groups * 16 }, () => next() & 255);
      const scales = Uint8Array.from({ length: E * out * groups }, () => 120 + (next() % 8));
      const values = new Float32Array(E * inn * out);
      for (let e = 0; e < E; e++)
        for (let o = 0; o < out; o++)
          for (let i = 0; i < inn; i++) {
            const at = (e * out + o) * groups + Math.floor(i / 32);
            const byte = blocks[at * 16 + Math.floor((i % 32) / 2)]!;
            values[(e * inn + i) * out + o] = E2M1[i % 2 ? byte >> 4 : byte & 15]! * 2 ** (scales[at]! - 127);
          }
      f.tensors.set(name, { shape, data: values });
      packed.set(`${name}_blocks`, { shape: [E, out, groups, 16], bytes: blocks });
      packed.set(`${name}_scales`, { shape: [E, out, groups], bytes: scales });
    }
  }
  return packed;
}
