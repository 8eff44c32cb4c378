import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../src/diagnostics/user-error.js';
import { Checkpoint } from '../src/interop/checkpoint.js';
import { dequantizeBase } from '../src/interop/dequantize.js';
import { planHfExport } from '../src/interop/hf/export.js';
import { planHfImport } from '../src/interop/hf/import.js';
import { writeHfCheckpoint } from '../src/interop/hf/write-checkpoint.js';
import { readSafetensors, writeSafetensors, type StoredDType } from '../src/runtime/safetensors.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { clamped, GPT_OSS, gptOssLayer, quantizeMxfp4, tinyGptOss } from './support/interop-gpt-oss.js';
import { add, importCheckpoint, rows, TINY } from './support/interop-hf.js';
import { compileText, randomInput, relativeL2, run } from './support/model.js';

/**
 * `moec import hf` of gpt-oss: a tiny checkpoint in transformers' layout, imported and run on
 * the CPU reference, against an independent f64 implementation of GptOssMLP
 * (test/support/interop-gpt-oss.ts), with swiglu_limit small enough that both clamps act.
 */
const work = mkdtempSync(join(tmpdir(), 'moec-gpt-oss-'));
const { H } = TINY;

const imported = importCheckpoint;

describe('moec import hf: gpt-oss', () => {
  it('agrees with GptOssMLP: biased router, top-k then softmax, biased experts with the clamped SwiGLU', () => {
    const { f, config } = tinyGptOss(5);
    const dir = join(work, 'f32');
    f.write(dir, config, 2);
    const { plan, graph, weights } = imported(dir);
    expect(plan.text).toContain('expert routed = swiglu(hidden -> expert_ffn -> hidden, bias = true, alpha = 1.5, beta = 1, limit = 0.6)');
    expect(plan.text).toContain('router gate = linear(hidden -> experts, bias = true) | topk(3) | softmax');
    // Attention sinks and embeddings are left out.
    expect(plan.leftOut).toBe(1 + GPT_OSS.layers);
    const x = randomInput(11, H, 4);
    Object.assign(clamped, { gate: 0, up: 0 });
    const theirs = rows(x.data as Float32Array, H).map((row) => {
      let h = row;
      for (let l = 0; l < GPT_OSS.layers; l++) h = add(h, gptOssLayer(f, l, h));
      return h;
    });
    expect(clamped.gate).toBeGreaterThan(0);
    expect(clamped.up).toBeGreaterThan(0);
    expect(relativeL2(run(graph, weights, { x }), Float32Array.from(theirs.flat()))).toBeLessThan(1e-5);
  });

  it('keeps a bf16 checkpoint\'s expert matrices and biases bit for bit, the interleaved halves apart', () => {
    const { f, config } = tinyGptOss(6);
    const dir = join(work, 'bf16');
    f.write(dir, { ...config, torch_dtype: 'bfloat16' }, 1, 'BF16');
    const { plan, stored } = imported(dir);
    expect(plan.text).toContain('weights bf16');
    const source = readSafetensors(readFileSync(join(dir, 'model.safetensors')));
    const bits = (t: Tensor) => new Uint32Array((t.data as Float32Array).buffer.slice(0));
    const { E, I } = GPT_OSS;
    const gateUp = bits(source.get('model.layers.1.mlp.experts.gate_up_proj')!.tensor);
    const bias = bits(source.get('model.layers.1.mlp.experts.gate_up_proj_bias')!.tensor);
    for (const [role, column] of [['gate', 0], ['up', 1]] as const) {
      const w = stored.get(`layers.1.moe.experts.routed.w_${role}`)!;
      const b = stored.get(`layers.1.moe.experts.routed.b_${role}`)!;
      expect([w.stored, b.stored]).toEqual(['BF16', 'BF16']);
      expect(w.tensor.shape).toEqual([E, H, I]);
      const want = Uint32Array.from({ length: E * H * I }, (_, n) => gateUp[Math.floor(n / I) * 2 * I + 2 * (n % I) + column]!);
      expect(bits(w.tensor)).toEqual(want);
      expect(bits(b.tensor)).toEqual(Uint32Array.from({ length: E * I }, (_, n) => bias[Math.floor(n / I) * 2 * I + 2 * (n % I) + column]!));
    }
    expect(stored.get('layers.0.moe.gate.bias')!.stored).toBe('F32');
  });

  it('export hf writes the gpt_oss layout back: import of the export gives the same model, and the expert tensors are the original bytes', () => {
    const { f, config } = tinyGptOss(8);
    const src = join(work, 'round-src');
    f.write(src, { ...config, torch_dtype: 'bfloat16' }, 1, 'BF16');
    const first = imported(src);
    const weights = join(src, 'imported.safetensors');
    const out = join(work, 'round-hf');
    const plan = planHfExport(compileText(first.plan.text).model, weights, {});
    try {
      writeHfCheckpoint(out, { config: plan.config, tensors: plan.tensors, shardBytes: 1 << 30 });
    } finally {
      plan.weights.close();
    }
    expect(plan.family).toBe('gpt_oss');
    expect(plan.config).toMatchObject({ model_type: 'gpt_oss', swiglu_alpha: 1.5, swiglu_limit: 0.6, num_experts_per_tok: 3, torch_dtype: 'bfloat16' });
    const second = imported(out);
    expect(second.plan.text.split('\n').slice(1)).toEqual(first.plan.text.split('\n').slice(1));
    const [original, exported] = [src, out].map((d) => readSafetensors(readFileSync(join(d, 'model.safetensors'))));
    for (const name of ['gate_up_proj', 'gate_up_proj_bias', 'down_proj', 'down_proj_bias'].map((n) => `model.layers.1.mlp.experts.${n}`)) {
      expect(exported!.get(name)!.stored).toBe('BF16');
      expect(exported!.get(name)!.tensor).toEqual(original!.get(name)!.tensor);
    }
  });

  it('reads the released MXFP4 experts (_blocks, _scales) dequantised exactly, in f32 and in bf16', () => {
    const sizes = { H: 32, I: 32 };
    const { f, config } = tinyGptOss(9, sizes);
    const packed = quantizeMxfp4(f, GPT_OSS.layers, 3);
    const quantization_config = { quant_method: 'mxfp4', modules_to_not_convert: ['model.layers.*.self_attn', 'model.layers.*.mlp.router', 'model.embed_tokens', 'lm_head'] };
    const write = (dir: string, dtype: StoredDType) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, quantization_config, torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float32' }));
      const tensors = new Map([...f.tensors].filter(([n]) => !packed.has(`${n}_blocks`)).map(([n, t]) => [n, { tensor: { dtype: 'f32' as const, ...t }, as: dtype }]));
      for (const [n, t] of packed) tensors.set(n, { tensor: { dtype: 'i32' as const, shape: t.shape, data: Int32Array.from(t.bytes) } as never, as: 'U8' });
      writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
    };
    write(join(work, 'mxfp4-f32'), 'F32');
    const { plan, graph, weights } = imported(join(work, 'mxfp4-f32'));
    expect(plan.text).toContain('MXFP4 experts (_blocks, _scales) are dequantised exactly to f32');
    expect(plan.leftOut).toBe(1 + GPT_OSS.layers);
    const x = randomInput(9, sizes.H, 4);
    const theirs = rows(x.data as Float32Array, sizes.H).map((row) => {
      let h = row;
      for (let l = 0; l < GPT_OSS.layers; l++) h = add(h, gptOssLayer(f, l, h, sizes));
      return h;
    });
    expect(relativeL2(run(graph, weights, { x }), Float32Array.from(theirs.flat()))).toBeLessThan(1e-5);
    // In bf16 every dequantised value is kept exactly: its bits are the f32 value's upper half.
    write(join(work, 'mxfp4-bf16'), 'BF16');
    const bf16 = imported(join(work, 'mxfp4-bf16'));
    const down = bf16.stored.get('layers.1.moe.experts.routed.w_down')!;
    expect(down.stored).toBe('BF16');
    expect(down.tensor.data).toEqual(f.get('model.layers.1.mlp.experts.down_proj'));

    // export hf --base with the MXFP4 release: the experts go out dequantised, the base's
    // _blocks and _scales are not carried, and the config no longer claims MXFP4.
    const baseDir = join(work, 'mxfp4-bf16');
    const base = Checkpoint.open(baseDir);
    const baseConfig = dequantizeBase(base, JSON.parse(readFileSync(join(baseDir, 'config.json'), 'utf8')) as Record<string, unknown>, baseDir);
    const exported = planHfExport(compileText(bf16.plan.text).model, bf16.out, { base: baseConfig });
    const out = join(work, 'mxfp4-export');
    try {
      writeHfCheckpoint(out, { config: exported.config, tensors: exported.tensors, shardBytes: 1 << 30, base });
    } finally {
      exported.weights.close();
      base.close();
    }
    expect(exported.config['quantization_config']).toBeUndefined();
    const written = readSafetensors(readFileSync(join(out, 'model.safetensors')));
    expect([...written.keys()].filter((n) => n.endsWith('_blocks') || n.endsWith('_scales'))).toEqual([]);
    expect(written.has('model.embed_tokens.weight')).toBe(true);
    expect(written.get('model.layers.0.mlp.experts.gate_up_proj')!.stored).toBe('BF16');
    const code = (text: string) => text.split('\n').filter((l) => !l.startsWith('//'));
    expect(code(imported(out).plan.text)).toEqual(code(bf16.plan.text));
  });

  it('refuses what it does not map, naming it', () => {
    const { f, config } = tinyGptOss(7);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...config, experts_per_token: 2 }, /experts_per_token.*num_experts_per_tok/],
      [{ ...config, sinks_scale: 2 }, /'sinks_scale' is not understood by moec's gpt_oss importer/],
      [{ ...config, quantization_config: { quant_method: 'fp8' } }, /quant_method "fp8"; moec dequantises "mxfp4" for this family/],
    ];
    cases.forEach(([cfg, message], i) => {
      const dir = join(work, `bad-${i}`);
      f.write(dir, cfg);
      expect(() => planHfImport(dir, { semantics: 'hf', stack: 'encoder' })).toThrow(UserError);
      expect(() => planHfImport(dir, { semantics: 'hf', stack: 'encoder' })).toThrow(message);
    });
  });
});
