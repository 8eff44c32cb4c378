import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { E4M3_VALUES, writeSafetensors, type TensorToWrite } from '../src/runtime/safetensors.js';
import { compileText } from './support/model.js';
import { importCheckpoint, tinyCheckpoint, TINY } from './support/interop-hf.js';

/**
 * Block FP8 releases (DeepSeek-V3's, Qwen3's): every MLP matrix stored as F8_E4M3 with one
 * F32 `weight_scale_inv` per block (4 × 4 here, so the 6-row matrices end in partial blocks).
 * moec imports them as f32: fp8 · scale, rounded once, computed here independently.
 */
const work = mkdtempSync(join(tmpdir(), 'moec-fp8-'));
const BLOCK = 4;

/** A family's tiny checkpoint with every MLP matrix as FP8 codes and block scales, and the values they stand for. */
function fp8Checkpoint(family: string, seed: number) {
  const { f, config } = tinyCheckpoint(family, seed);
  let state = seed;
  const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0), state >>> 8);
  const finite = [...E4M3_VALUES.keys()].filter((b) => !Number.isNaN(E4M3_VALUES[b]!));
  const quantized = new Map<string, TensorToWrite>();
  const plain = new Map<string, TensorToWrite>();
  const want = new Map<string, Float32Array>();
  for (const [name, t] of f.tensors) {
    const f32 = (data: Float32Array): TensorToWrite => ({ tensor: { dtype: 'f32', shape: t.shape, data }, as: 'F32' });
    if (!/\.(gate_proj|up_proj|down_proj|w1|w2|w3)\.weight$/.test(name)) {
      quantized.set(name, f32(t.data));
      plain.set(name, f32(t.data));
      continue;
    }
    const [out, inn] = t.shape as [number, number];
    const codes = Float32Array.from({ length: out * inn }, () => E4M3_VALUES[finite[next() % finite.length]!]!);
    const blocks = [Math.ceil(out / BLOCK), Math.ceil(inn / BLOCK)];
    const scales = Float32Array.from({ length: blocks[0]! * blocks[1]! }, () => Math.fround(1e-3 * (1 + (next() % 1000) / 7)));
    quantized.set(name, { tensor: { dtype: 'f32', shape: t.shape, data: codes }, as: 'F8_E4M3' });
    quantized.set(`${name}_scale_inv`, { tensor: { dtype: 'f32', shape: blocks, data: scales }, as: 'F32' });
    want.set(name, Float32Array.from(codes, (v, n) => v * scales[Math.floor(Math.floor(n / inn) / BLOCK) * blocks[1]! + Math.floor((n % inn) / BLOCK)]!));
    plain.set(name, f32(want.get(name)!));
  }
  const write = (sub: string, tensors: Map<string, TensorToWrite>, extra: Record<string, unknown>) => {
    const dir = join(work, `${family}-${seed}-${sub}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, ...extra }));
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
    return dir;
  };
  const quantization_config = { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [BLOCK, BLOCK] };
  return { quantized: write('fp8', quantized, { torch_dtype: 'bfloat16', quantization_config }), plain: write('f32', plain, { torch_dtype: 'float32' }), want };
}

describe('moec import hf: block FP8 in every family that reads it (Qwen3 and DeepSeek-V3 releases, transformers fine-grained FP8)', () => {
  it.each(['mixtral', 'olmoe', 'qwen2_moe', 'qwen3_moe', 'deepseek_v2', 'deepseek_v3'])('%s: the same model and f32 weights as a checkpoint holding the dequantised values', (family) => {
    const dirs = fp8Checkpoint(family, 43);
    const [fp8, f32] = [importCheckpoint(dirs.quantized), importCheckpoint(dirs.plain)];
    expect(fp8.plan.text).toContain('FP8 weights (block scales weight_scale_inv) are dequantised to f32');
    const body = (text: string) => text.split('\n').filter((l) => !l.startsWith('//')).join('\n');
    expect(body(fp8.plan.text)).toBe(body(f32.plan.text));
    expect([...fp8.stored.keys()].sort()).toEqual([...f32.stored.keys()].sort());
    for (const [name, t] of f32.stored) expect([fp8.stored.get(name)!.stored, fp8.stored.get(name)!.tensor.data], name).toEqual([t.stored, t.tensor.data]);
  });

  it("arctic: block FP8 is not a quantisation its releases use, and its quantization_config is refused by name", () => {
    const dirs = fp8Checkpoint('arctic', 44);
    expect(() => importCheckpoint(dirs.quantized)).toThrow(/quantization_config/);
  });
});

describe('moec import hf: FP8 (DeepSeek-V3 release)', () => {
  it('dequantises every F8_E4M3 matrix with its block scales to f32, rounded once', () => {
    const { quantized: dir, want } = fp8Checkpoint('deepseek_v3', 41);
    const { plan, stored } = importCheckpoint(dir);
    expect(plan.text).toContain('FP8 weights (block scales weight_scale_inv) are dequantised to f32');
    expect(plan.text).not.toMatch(/^\s*weights /m);
    compileText(plan.text);
    // The scales count as read: only the tensors outside the language are left out.
    expect(plan.leftOut).toBe(1 + 3);
    const { H, I } = TINY;
    const check = (moec: string, hf: (e: number) => string, rows: number, cols: number, count: number) => {
      const t = stored.get(moec)!;
      expect(t.stored).toBe('F32');
      const expected = new Float32Array(count * rows * cols);
      for (let e = 0; e < count; e++) {
        const w = want.get(hf(e))!;
        // PyTorch [out, in] -> moec [in, out].
        for (let o = 0; o < rows; o++) for (let i = 0; i < cols; i++) expected[e * rows * cols + i * rows + o] = w[o * cols + i]!;
      }
      expect(t.tensor.data).toEqual(expected);
    };
    check('layers.1.moe.experts.routed.w_gate', (e) => `model.layers.1.mlp.experts.${e}.gate_proj.weight`, I, H, 8);
    check('layers.2.moe.experts.routed.w_down', (e) => `model.layers.2.mlp.experts.${e}.down_proj.weight`, H, I, 8);
    check('layers.0.dense.w_up', () => 'model.layers.0.mlp.up_proj.weight', 12, H, 1);
  });
});
