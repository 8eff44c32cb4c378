import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UserError } from '../src/diagnostics/user-error.js';
import { formatSource } from '../src/format/format.js';
import { planHfImport } from '../src/interop/hf/import.js';
import { writeSafetensorsStreaming } from '../src/interop/safetensors-stream.js';
import { readSafetensors, writeSafetensors } from '../src/runtime/safetensors.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { compileText, randomInput, relativeL2, run } from './support/model.js';
import { root } from './helpers.js';
import { add, addExperts, tinyCheckpoint, tinySwitch, TINY, addOutside, ATTENTION, Fixture, gatedMlp, LLAMA, linear, MIXTRAL, rmsnorm, rows, scaled, sigmoid, softmax, topk } from './support/interop-hf.js';

/**
 * `moec import hf` for every family: a tiny synthetic checkpoint in the family's Hugging Face
 * layout is imported, run on moec's CPU reference and compared with an independent
 * implementation of the family's FFN/MoE stack (test/support/interop-hf.ts).
 */
const { H, I, E, EPS } = TINY;
const work = mkdtempSync(join(tmpdir(), 'moec-hf-'));


function imported(dir: string, opts: { semantics?: 'hf' | 'reference'; stack?: 'encoder' | 'decoder' } = {}) {
  const plan = planHfImport(dir, { semantics: opts.semantics ?? 'hf', stack: opts.stack ?? 'encoder' });
  const out = join(dir, `${opts.semantics ?? 'hf'}-${opts.stack ?? 'encoder'}.safetensors`);
  try {
    writeSafetensorsStreaming(out, plan.tensors, { model: plan.stack.name });
  } finally {
    plan.checkpoint.close();
  }
  const { graph } = compileText(plan.text);
  const weights = new Map<string, Tensor>([...readSafetensors(readFileSync(out))].map(([n, t]) => [n, t.tensor]));
  return { plan, graph, weights, out };
}

/** moec's output on `tokens` random rows against the family's own implementation `ffn` (one layer's update of one row). */
function agree(dir: string, layers: number, ffn: (layer: number, x: number[]) => number[], opts: Parameters<typeof imported>[1] = {}) {
  const { plan, graph, weights } = imported(dir, opts);
  const x = randomInput(9, H, 3);
  const ours = run(graph, weights, { x });
  const theirs = rows(x.data as Float32Array, H).map((row) => {
    let h = row;
    for (let l = 0; l < layers; l++) h = add(h, ffn(l, h));
    return h;
  });
  expect(relativeL2(ours, Float32Array.from(theirs.flat()))).toBeLessThan(1e-5);
  return { plan, ours };
}

const expertOut = (f: Fixture, prefix: string, proj: [string, string, string], e: number, x: number[], ffn = I) =>
  gatedMlp(f, `${prefix}experts.${e}.${proj[0]}.weight`, `${prefix}experts.${e}.${proj[1]}.weight`, `${prefix}experts.${e}.${proj[2]}.weight`, x, ffn);

/** softmax, top-k, optionally renormalised: Mixtral, OLMoE, Qwen. */
function softmaxRouted(f: Fixture, prefix: string, proj: [string, string, string], x: number[], k: number, normalize: boolean) {
  const p = softmax(linear(f.get(`${prefix}gate.weight`), x, E));
  const chosen = topk(p, k);
  const sum = chosen.reduce((a, e) => a + p[e]!, 0);
  return chosen.reduce((acc, e) => add(acc, scaled(expertOut(f, prefix, proj, e, x), normalize ? p[e]! / sum : p[e]!)), Array<number>(H).fill(0));
}


describe('moec import hf agrees with each family\'s implementation', () => {
  it('Mixtral, from three shards', () => {
    const f = new Fixture(1);
    const layers = 2;
    for (let i = 0; i < layers; i++) {
      f.add(`model.layers.${i}.post_attention_layernorm.weight`, [H], 0.1, 1);
      f.add(`model.layers.${i}.block_sparse_moe.gate.weight`, [E, H]);
      addExperts(f, `model.layers.${i}.block_sparse_moe.`, MIXTRAL);
    }
    addOutside(f, layers);
    const dir = join(work, 'mixtral');
    f.write(dir, { model_type: 'mixtral', architectures: ['MixtralForCausalLM'], hidden_size: H, intermediate_size: I, num_hidden_layers: layers, num_local_experts: E, num_experts_per_tok: 2, rms_norm_eps: EPS, hidden_act: 'silu', router_jitter_noise: 0, router_aux_loss_coef: 0.02, output_router_logits: false, sliding_window: null, ...ATTENTION }, 3);
    const { plan } = agree(dir, layers, (l, x) => {
      const p = `model.layers.${l}.`;
      return softmaxRouted(f, `${p}block_sparse_moe.`, MIXTRAL, rmsnorm(x, f.get(`${p}post_attention_layernorm.weight`), EPS), 2, true);
    });
    expect(plan.leftOut).toBe(1 + layers);
  });

  it('OLMoE without renormalisation', () => {
    const f = new Fixture(2);
    const layers = 2;
    for (let i = 0; i < layers; i++) {
      f.add(`model.layers.${i}.post_attention_layernorm.weight`, [H], 0.1, 1);
      f.add(`model.layers.${i}.mlp.gate.weight`, [E, H]);
      addExperts(f, `model.layers.${i}.mlp.`, LLAMA);
    }
    const dir = join(work, 'olmoe');
    f.write(dir, { model_type: 'olmoe', hidden_size: H, intermediate_size: I, num_hidden_layers: layers, num_experts: E, num_experts_per_tok: 3, norm_topk_prob: false, rms_norm_eps: EPS, clip_qkv: null, ...ATTENTION });
    agree(dir, layers, (l, x) => softmaxRouted(f, `model.layers.${l}.mlp.`, LLAMA, rmsnorm(x, f.get(`model.layers.${l}.post_attention_layernorm.weight`), EPS), 3, false));
  });

  it('Qwen2-MoE: a sigmoid-gated shared expert, a dense layer from mlp_only_layers, sparse every second layer', () => {
    const f = new Fixture(3);
    const layers = 4;
    const kinds = [0, 1, 2, 3].map((i) => (i !== 3 && (i + 1) % 2 === 0 ? 'moe' : 'dense'));
    const S = 10;
    kinds.forEach((k, i) => {
      const p = `model.layers.${i}.`;
      f.add(`${p}post_attention_layernorm.weight`, [H], 0.1, 1);
      if (k === 'dense') {
        f.add(`${p}mlp.gate_proj.weight`, [12, H]);
        f.add(`${p}mlp.up_proj.weight`, [12, H]);
        f.add(`${p}mlp.down_proj.weight`, [H, 12]);
        return;
      }
      f.add(`${p}mlp.gate.weight`, [E, H]);
      addExperts(f, `${p}mlp.`, LLAMA);
      for (const [n, s] of [['gate_proj', [S, H]], ['up_proj', [S, H]], ['down_proj', [H, S]]] as const) f.add(`${p}mlp.shared_expert.${n}.weight`, [...s]);
      f.add(`${p}mlp.shared_expert_gate.weight`, [1, H]);
    });
    const dir = join(work, 'qwen2');
    f.write(dir, { model_type: 'qwen2_moe', hidden_size: H, intermediate_size: 12, moe_intermediate_size: I, shared_expert_intermediate_size: S, num_hidden_layers: layers, num_experts: E, num_experts_per_tok: 2, norm_topk_prob: true, decoder_sparse_step: 2, mlp_only_layers: [3], rms_norm_eps: EPS, use_sliding_window: false, max_window_layers: 2, qkv_bias: true, ...ATTENTION });
    const { plan } = agree(dir, layers, (l, x) => {
      const p = `model.layers.${l}.`;
      const h = rmsnorm(x, f.get(`${p}post_attention_layernorm.weight`), EPS);
      if (kinds[l] === 'dense') return gatedMlp(f, `${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`, `${p}mlp.down_proj.weight`, h, 12);
      const shared = gatedMlp(f, `${p}mlp.shared_expert.gate_proj.weight`, `${p}mlp.shared_expert.up_proj.weight`, `${p}mlp.shared_expert.down_proj.weight`, h, S);
      const g = sigmoid(linear(f.get(`${p}mlp.shared_expert_gate.weight`), h, 1)[0]!);
      return add(softmaxRouted(f, `${p}mlp.`, LLAMA, h, 2, true), scaled(shared, g));
    });
    expect(plan.text).toContain('layers 1..2 {\n    x = x + moe(rmsnorm(x, eps = 0.00001))\n  }');
  });

  it('Qwen3-MoE in the stacked layout (transformers 5: fused gate_up_proj) gives the same weights as per-expert tensors', () => {
    const perExpert = new Fixture(4);
    const layers = 2;
    const config = { model_type: 'qwen3_moe', hidden_size: H, intermediate_size: 12, moe_intermediate_size: I, num_hidden_layers: layers, num_experts: E, num_experts_per_tok: 2, norm_topk_prob: true, decoder_sparse_step: 1, mlp_only_layers: [], rms_norm_eps: EPS, head_dim: 4, ...ATTENTION };
    const stacked = new Fixture(4);
    for (let i = 0; i < layers; i++) {
      const p = `model.layers.${i}.mlp.`;
      stacked.tensors.set(`model.layers.${i}.post_attention_layernorm.weight`, { shape: [H], data: perExpert.add(`model.layers.${i}.post_attention_layernorm.weight`, [H], 0.1, 1) });
      stacked.tensors.set(`${p}gate.weight`, { shape: [E, H], data: perExpert.add(`${p}gate.weight`, [E, H]) });
      addExperts(perExpert, p, LLAMA);
      const gateUp = new Float32Array(E * 2 * I * H);
      const down = new Float32Array(E * H * I);
      for (let e = 0; e < E; e++) {
        gateUp.set(perExpert.get(`${p}experts.${e}.gate_proj.weight`), e * 2 * I * H);
        gateUp.set(perExpert.get(`${p}experts.${e}.up_proj.weight`), e * 2 * I * H + I * H);
        down.set(perExpert.get(`${p}experts.${e}.down_proj.weight`), e * H * I);
      }
      stacked.tensors.set(`${p}experts.gate_up_proj`, { shape: [E, 2 * I, H], data: gateUp });
      stacked.tensors.set(`${p}experts.down_proj`, { shape: [E, H, I], data: down });
    }
    perExpert.write(join(work, 'qwen3'), config);
    stacked.write(join(work, 'qwen3-stacked'), config);
    agree(join(work, 'qwen3'), layers, (l, x) => softmaxRouted(perExpert, `model.layers.${l}.mlp.`, LLAMA, rmsnorm(x, perExpert.get(`model.layers.${l}.post_attention_layernorm.weight`), EPS), 2, true));
    const a = readFileSync(imported(join(work, 'qwen3')).out);
    const b = readFileSync(imported(join(work, 'qwen3-stacked')).out);
    expect(Buffer.compare(a, b)).toBe(0);
  });

  /** DeepSeek: a dense first layer, then MoE layers with two shared experts (one MLP twice as wide). */
  function deepseekFixture(version: 2 | 3, seed: number) {
    const f = new Fixture(seed);
    const layers = 3;
    for (let i = 0; i < layers; i++) {
      const p = `model.layers.${i}.`;
      f.add(`${p}post_attention_layernorm.weight`, [H], 0.1, 1);
      if (i === 0) {
        for (const [n, s] of [['gate_proj', [12, H]], ['up_proj', [12, H]], ['down_proj', [H, 12]]] as const) f.add(`${p}mlp.${n}.weight`, [...s]);
        continue;
      }
      f.add(`${p}mlp.gate.weight`, [E, H], 1);
      // A strongly negative correction bias: often fewer than k kept experts have a positive key.
      if (version === 3) f.add(`${p}mlp.gate.e_score_correction_bias`, [E], 0.3, -0.7);
      addExperts(f, `${p}mlp.`, LLAMA);
      for (const [n, s] of [['gate_proj', [2 * I, H]], ['up_proj', [2 * I, H]], ['down_proj', [H, 2 * I]]] as const) f.add(`${p}mlp.shared_experts.${n}.weight`, [...s]);
    }
    const config = {
      model_type: `deepseek_v${version}`, hidden_size: H, intermediate_size: 12, moe_intermediate_size: I, num_hidden_layers: layers, n_routed_experts: E, n_shared_experts: 2,
      num_experts_per_tok: 3, first_k_dense_replace: 1, moe_layer_freq: 1, n_group: 4, topk_group: 2, routed_scaling_factor: version === 2 ? 16 : 2.5,
      topk_method: version === 2 ? 'group_limited_greedy' : 'noaux_tc', scoring_func: version === 2 ? 'softmax' : 'sigmoid', norm_topk_prob: version === 3,
      rms_norm_eps: EPS, aux_loss_alpha: 0.001, seq_aux: true, ep_size: 1, q_lora_rank: null, kv_lora_rank: 4, qk_nope_head_dim: 2, qk_rope_head_dim: 2, v_head_dim: 2,
      ...(version === 3 ? { num_nextn_predict_layers: 1 } : {}), ...ATTENTION,
    };
    return { f, layers, config };
  }

  /** The group-limited router of DeepSeek's Hugging Face code (`zero`) or DeepSeek's inference code (`exclude`). */
  function deepseekLayer(f: Fixture, version: 2 | 3, dropped: 'zero' | 'exclude') {
    return (l: number, x: number[]) => {
      const p = `model.layers.${l}.`;
      const h = rmsnorm(x, f.get(`${p}post_attention_layernorm.weight`), EPS);
      if (l === 0) return gatedMlp(f, `${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`, `${p}mlp.down_proj.weight`, h, 12);
      const logits = linear(f.get(`${p}mlp.gate.weight`), h, E);
      const s = version === 2 ? softmax(logits) : logits.map(sigmoid);
      const key = version === 2 ? s : s.map((v, e) => v + f.get(`${p}mlp.gate.e_score_correction_bias`)[e]!);
      const groupScore = [0, 1, 2, 3].map((g) => {
        const members = key.slice(g * 2, g * 2 + 2).sort((a, b) => b - a);
        return version === 2 ? members[0]! : members[0]! + members[1]!;
      });
      const kept = new Set(topk(groupScore, 2));
      const masked = key.map((v, e) => (kept.has(Math.floor(e / 2)) ? v : dropped === 'zero' ? 0 : -Infinity));
      const chosen = topk(masked, 3);
      let w = chosen.map((e) => s[e]!);
      if (version === 3) {
        const sum = w.reduce((a, b) => a + b, 0) + 1e-20;
        w = w.map((v) => (v / sum) * 2.5);
      } else w = w.map((v) => v * 16);
      const routed = chosen.reduce((acc, e, j) => add(acc, scaled(expertOut(f, `${p}mlp.`, LLAMA, e, h), w[j]!)), Array<number>(H).fill(0));
      return add(routed, gatedMlp(f, `${p}mlp.shared_experts.gate_proj.weight`, `${p}mlp.shared_experts.up_proj.weight`, `${p}mlp.shared_experts.down_proj.weight`, h, 2 * I));
    };
  }

  it('DeepSeek-V2: softmax, group-limited greedy by max, scaled by 16, not renormalised', () => {
    const { f, layers, config } = deepseekFixture(2, 5);
    const dir = join(work, 'deepseek-v2');
    f.write(dir, config);
    agree(dir, layers, deepseekLayer(f, 2, 'zero'));
  });

  it('DeepSeek-V3: Hugging Face scores dropped groups 0, DeepSeek excludes them; --semantics picks, and the two differ here', () => {
    const { f, layers, config } = deepseekFixture(3, 6);
    const dir = join(work, 'deepseek-v3');
    f.write(dir, config);
    const hf = agree(dir, layers, deepseekLayer(f, 3, 'zero'));
    const ref = agree(dir, layers, deepseekLayer(f, 3, 'exclude'), { semantics: 'reference' });
    expect(relativeL2(hf.ours, ref.ours)).toBeGreaterThan(1e-3);
    expect(hf.plan.text).toContain('dropped = zero');
    expect(ref.plan.text).not.toContain('dropped');
    expect(hf.plan.text).toContain('multi-token-prediction');
  });

  it('Arctic: a dense residual MLP in parallel with the MoE, each on its own norm', () => {
    const f = new Fixture(7);
    const layers = 2;
    for (let i = 0; i < layers; i++) {
      const p = `model.layers.${i}.`;
      f.add(`${p}post_attention_layernorm.weight`, [H], 0.1, 1);
      f.add(`${p}residual_layernorm.weight`, [H], 0.1, 1);
      f.add(`${p}block_sparse_moe.gate.weight`, [E, H]);
      addExperts(f, `${p}block_sparse_moe.`, MIXTRAL);
      for (const n of ['w1', 'w3', 'w2']) f.add(`${p}residual_mlp.${n}.weight`, [H, H]);
    }
    const dir = join(work, 'arctic');
    f.write(dir, { model_type: 'arctic', hidden_size: H, intermediate_size: I, num_hidden_layers: layers, num_local_experts: E, num_experts_per_tok: 2, moe_layer_frequency: 1, use_residual: true, parallel_attn_mlp_res: true, rms_norm_eps: EPS, hidden_act: 'silu', moe_train_capacity_factor: 1, moe_eval_capacity_factor: 1, moe_min_capacity: 0, moe_token_dropping: true, enable_expert_tensor_parallelism: false, quantization: null, ...ATTENTION });
    agree(dir, layers, (l, x) => {
      const p = `model.layers.${l}.`;
      const dense = gatedMlp(f, `${p}residual_mlp.w1.weight`, `${p}residual_mlp.w3.weight`, `${p}residual_mlp.w2.weight`, rmsnorm(x, f.get(`${p}residual_layernorm.weight`), EPS), H);
      return add(dense, softmaxRouted(f, `${p}block_sparse_moe.`, MIXTRAL, rmsnorm(x, f.get(`${p}post_attention_layernorm.weight`), EPS), 2, true));
    });
  });

  it('Switch Transformers: top-1 weighted by its probability, a fixed expert_capacity per sequence, sparse every second block', () => {
    const { f, config, layers, F, capacity } = tinySwitch(8);
    const dir = join(work, 'switch');
    f.write(dir, config);
    const relu = (wi: string, wo: string, x: number[]) => linear(f.get(wo), linear(f.get(wi), x, F).map((v) => Math.max(v, 0)), H);
    // Two sequences of 5 and 4 tokens (requests): capacity counts each sequence's tokens in order.
    const requests = Int32Array.from([0, 0, 0, 0, 0, 1, 1, 1, 1]);
    for (const [stack, sub] of [['encoder', 1], ['decoder', 2]] as const) {
      const { graph, weights, plan } = imported(dir, { stack });
      expect(plan.text).toContain(`capacity(limit = ${capacity})`);
      const x = randomInput(9, H, 4);
      const ours = run(graph, weights, { x, requests });
      let h = rows(x.data as Float32Array, H);
      let dropped = 0;
      for (let l = 0; l < layers; l++) {
        const p = `${stack}.block.${l}.layer.${sub}.`;
        const normed = h.map((r) => rmsnorm(r, f.get(`${p}layer_norm.weight`), EPS));
        const load = new Map<string, number>();
        h = h.map((r, t) => {
          if (l % 2 === 0) return add(r, relu(`${p}mlp.wi.weight`, `${p}mlp.wo.weight`, normed[t]!));
          const prob = softmax(linear(f.get(`${p}mlp.router.classifier.weight`), normed[t]!, E));
          const e = topk(prob, 1)[0]!;
          const slot = `${requests[t]}:${e}`;
          load.set(slot, (load.get(slot) ?? 0) + 1);
          if (load.get(slot)! > capacity) return (dropped++, r);
          return add(r, scaled(relu(`${p}mlp.experts.expert_${e}.wi.weight`, `${p}mlp.experts.expert_${e}.wo.weight`, normed[t]!), prob[e]!));
        });
      }
      expect(relativeL2(ours, Float32Array.from(h.flat())), stack).toBeLessThan(1e-5);
      expect(dropped, `${stack}: the capacity drops tokens`).toBeGreaterThan(0);
    }
  });
});

describe('moec import hf output', () => {
  it('is formatted, deterministic, and keeps bf16 expert weights byte for byte', () => {
    const f = new Fixture(9);
    for (let i = 0; i < 2; i++) {
      f.add(`model.layers.${i}.post_attention_layernorm.weight`, [H], 0.1, 1);
      f.add(`model.layers.${i}.mlp.gate.weight`, [E, H]);
      addExperts(f, `model.layers.${i}.mlp.`, LLAMA);
    }
    const dir = join(work, 'olmoe-bf16');
    f.write(dir, { model_type: 'olmoe', hidden_size: H, intermediate_size: I, num_hidden_layers: 2, num_experts: E, num_experts_per_tok: 2, rms_norm_eps: EPS, ...ATTENTION, torch_dtype: 'bfloat16' }, 1, 'BF16');
    const a = imported(dir);
    const b = imported(dir);
    const formatted = formatSource(a.plan.text);
    expect(formatted.ok && !formatted.changed).toBe(true);
    expect(a.plan.text).toContain('weights bf16');
    expect(readFileSync(a.out)).toEqual(readFileSync(b.out));
    const source = readSafetensors(readFileSync(join(dir, 'model.safetensors')));
    const ours = readSafetensors(readFileSync(a.out));
    const w = ours.get('layers.1.moe.experts.routed.w_up')!;
    expect(w.stored).toBe('BF16');
    // Expert 3's up_proj [I, H], transposed: element [3, j, i] of moec's [E, H, I] is [i, j] of the source.
    const up = source.get('model.layers.1.mlp.experts.3.up_proj.weight')!.tensor.data;
    for (let i = 0; i < I; i++) for (let j = 0; j < H; j++) expect(w.tensor.data[3 * H * I + j * I + i]).toBe(up[i * H + j]);
  });

  it('streams the same bytes as writeSafetensors', () => {
    const tensors = new Map([
      ['b', { tensor: { dtype: 'f32' as const, shape: [3], data: Float32Array.from([1, 2.5, -3]) }, as: 'BF16' as const }],
      ['a', { tensor: { dtype: 'f32' as const, shape: [2, 1], data: Float32Array.from([0.1, 7]) }, as: 'F32' as const }],
    ]);
    const path = join(work, 'stream.safetensors');
    writeSafetensorsStreaming(path, [...tensors].map(([name, t]) => ({ name, shape: t.tensor.shape, as: t.as, make: () => t })), { k: 'v' });
    expect(Buffer.compare(readFileSync(path), Buffer.from(writeSafetensors(tensors, { k: 'v' })))).toBe(0);
  });
});

describe('moec import hf on the command line', () => {
  const moec = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: work });

  it('writes the .moe and the weights, which moec run accepts', () => {
    const f = new Fixture(11);
    f.add('model.layers.0.post_attention_layernorm.weight', [H], 0.1, 1);
    f.add('model.layers.0.mlp.gate.weight', [E, H]);
    addExperts(f, 'model.layers.0.mlp.', LLAMA);
    const dir = join(work, 'cli-olmoe');
    f.write(dir, { model_type: 'olmoe', hidden_size: H, intermediate_size: I, num_hidden_layers: 1, num_experts: E, num_experts_per_tok: 2, rms_norm_eps: EPS, ...ATTENTION });
    const imported = moec('import', 'hf', dir, '-o', join(work, 'cli.moe'));
    expect(imported.stderr).toMatch(/wrote .*cli\.moe and .*cli\.safetensors \(5 tensors\)/);
    expect(imported.status).toBe(0);
    const ran = moec('run', join(work, 'cli.moe'), '--weights', join(work, 'cli.safetensors'), '--random-input', '4', '-o', join(work, 'cli-y.safetensors'));
    expect(ran.stderr).toBe('');
    expect(ran.status).toBe(0);
  });

  it('a bad config exits 1 and writes nothing', () => {
    const dir = join(work, 'cli-bad');
    new Fixture(12).write(dir, { model_type: 'olmoe', hidden_size: H });
    const r = moec('import', 'hf', dir, '-o', join(work, 'cli-bad.moe'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^moec: error: .*config\.json: field 'num_hidden_layers' is missing/);
    expect(existsSync(join(work, 'cli-bad.moe')) || existsSync(join(work, 'cli-bad.safetensors'))).toBe(false);
  });

  it('--help states the default semantics', () => {
    expect(moec('import', 'hf', '--help').stdout).toMatch(/--semantics <which>[\s\S]*default: "hf"/);
  });
});

describe('moec import hf errors', () => {
  function mixtralDir(name: string, edit: (config: Record<string, unknown>, f: Fixture) => void = () => {}, shards = 1) {
    const f = new Fixture(10);
    f.add('model.layers.0.post_attention_layernorm.weight', [H], 0.1, 1);
    f.add('model.layers.0.block_sparse_moe.gate.weight', [E, H]);
    addExperts(f, 'model.layers.0.block_sparse_moe.', MIXTRAL);
    const config: Record<string, unknown> = { model_type: 'mixtral', hidden_size: H, intermediate_size: I, num_hidden_layers: 1, num_local_experts: E, num_experts_per_tok: 2, rms_norm_eps: EPS, ...ATTENTION };
    edit(config, f);
    const dir = join(work, `bad-${name}`);
    f.write(dir, config, shards);
    return dir;
  }
  const cases: [string, string, RegExp][] = [
    ['missing field', mixtralDir('missing', (c) => delete c['num_experts_per_tok']), /field 'num_experts_per_tok' is missing/],
    ['unknown field', mixtralDir('unknown', (c) => (c['expert_dropout_schedule'] = 3)), /field 'expert_dropout_schedule' is not understood/],
    ['a value moec cannot reproduce', mixtralDir('bias', (c) => (c['mlp_bias'] = true)), /field 'mlp_bias' is true; moec experts have no biases/],
    ['k larger than the experts', mixtralDir('k', (c) => (c['num_experts_per_tok'] = 9)), /moec rejects: E0507/],
    ['inconsistent sizes', mixtralDir('sizes', (c) => (c['intermediate_size'] = 5)), /tensor 'model\.layers\.0\.block_sparse_moe\.experts\.0\.w1\.weight' has shape \[6, 8\], but config\.json implies \[5, 8\]/],
    ['a missing tensor', mixtralDir('tensor', (_, f) => f.tensors.delete('model.layers.0.block_sparse_moe.experts.5.w2.weight')), /no tensor 'model\.layers\.0\.block_sparse_moe\.experts\.5\.w2\.weight'/],
    ['absurdly many experts', mixtralDir('many', (c) => (c['num_local_experts'] = 4_000_000)), /says 4000000 experts per layer, but the checkpoint holds only 26 tensors/],
    ['an unknown family', mixtralDir('family', (c) => (c['model_type'] = 'llama')), /model_type "llama" is not one moec imports/],
  ];
  it.each(cases)('%s', (_name, dir, message) => {
    expect(() => planHfImport(dir, { semantics: 'hf', stack: 'encoder' })).toThrow(message);
  });

  it('a --name that is not a model name is an error, and an odd path stays inside its comment', () => {
    const dir = mixtralDir('name');
    expect(() => planHfImport(dir, { semantics: 'hf', stack: 'encoder', name: '9 lives' })).toThrow(/--name '9 lives' is not a model name/);
    const odd = join(work, 'odd\nmodel');
    renameSync(dir, odd);
    const plan = planHfImport(odd, { semantics: 'hf', stack: 'encoder' });
    plan.checkpoint.close();
    expect(plan.text.split('\n')[0]).toBe(`// Imported by moec import hf from ${join(work, 'odd?model')}/config.json.`);
  });

  it('never fails internally: any field set to any JSON value is a user error or an import', () => {
    const dir = join(work, 'fuzz');
    const { f, config } = tinyCheckpoint('deepseek_v3', 30);
    f.write(dir, config);
    const keys = Object.keys(config);
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.oneof(fc.jsonValue(), fc.integer({ min: -3, max: 1 << 30 }), fc.constantFrom(0, 1, 2, 3, 8, true, false, null)), (key, value) => {
        writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, [key]: value }));
        try {
          planHfImport(dir, { semantics: 'hf', stack: 'encoder' }).checkpoint.close();
        } catch (e) {
          expect(e, `${key} = ${JSON.stringify(value)}: ${String(e)}`).toBeInstanceOf(UserError);
        }
      }),
      { numRuns: 200, seed: 3 },
    );
  });

  it('a missing shard is an error before anything is written', () => {
    const dir = mixtralDir('shard', () => {}, 2);
    rmSync(join(dir, 'model-00002-of-00002.safetensors'));
    expect(() => planHfImport(dir, { semantics: 'hf', stack: 'encoder' })).toThrow(/model-00002-of-00002\.safetensors: shard missing/);
  });

  it('a tensor that fails while writing leaves no file behind', () => {
    const path = join(work, 'partial.safetensors');
    writeFileSync(join(work, 'keep'), '');
    const boom = { name: 'x', shape: [1], as: 'F32' as const, make: () => { throw new Error('internal: boom'); } };
    expect(() => writeSafetensorsStreaming(path, [boom], {})).toThrow(/boom/);
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(work).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
