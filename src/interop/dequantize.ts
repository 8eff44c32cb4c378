import type { StoredDType } from '../runtime/safetensors.js';
import type { Checkpoint } from './checkpoint.js';
import { ConfigReader, InteropError } from './hf/config.js';

/**
 * Quantised checkpoints read dequantised, so that import writes ordinary weights:
 *
 * - `mxfp4` (gpt-oss's release): `X_blocks` U8 `[E, out, in / 32, 16]` holds two FP4 (E2M1)
 *   codes a byte, low nibble first, and `X_scales` U8 `[E, out, in / 32]` one E8M0 exponent per
 *   32 values: value = FP4 · 2^(scale - 127), transposed to `X` `[E, in, out]` as transformers'
 *   `convert_moe_packed_tensors` does. Every such value is exact in bf16 (at most 2 significant
 *   bits; an exponent bf16 cannot hold is an error), so the weights are written in the model's
 *   dtype with no rounding.
 * - `fp8` (DeepSeek-V3's release): `X.weight` F8_E4M3 `[out, in]` and `X.weight_scale_inv` F32,
 *   one per 128 × 128 block: value = fp8 · scale. The product of a 4-bit and a 24-bit
 *   significand needs up to 28 bits, so it is not always an f32: moec writes f32, the product
 *   rounded once to nearest (what DeepSeek's own `weight_dequant` computes before it rounds
 *   again to bf16; moec does not round to bf16, which would lose up to 16 more bits).
 */
export type Quantization = { method: 'mxfp4' } | { method: 'fp8'; block: [number, number] };

/** config.json's `quantization_config`, if any, as one of the methods the family allows. */
export function readQuantization(c: ConfigReader, allowed: readonly Quantization['method'][]): Quantization | undefined {
  const raw = c.raw('quantization_config');
  if (raw === undefined) return undefined;
  const fail = (what: string): never => {
    throw new InteropError(`${c.path}: field 'quantization_config' ${what}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('must be an object');
  const q = raw as Record<string, unknown>;
  const method = q['quant_method'];
  if (typeof method !== 'string' || !(allowed as readonly string[]).includes(method)) return fail(`has quant_method ${JSON.stringify(method)}; moec dequantises ${allowed.map((m) => JSON.stringify(m)).join(', ')} for this family`);
  const known: Record<string, (v: unknown) => boolean> =
    method === 'mxfp4'
      ? // Which modules stay unquantised shows in the tensors themselves.
        { quant_method: () => true, modules_to_not_convert: (v) => v === null || Array.isArray(v) }
      : // Activations are quantised only inside FP8 kernels; moec computes in f32.
        { quant_method: () => true, fmt: (v) => v === 'e4m3', activation_scheme: (v) => v === 'dynamic', weight_block_size: (v) => Array.isArray(v) && v.length === 2 && v.every((n) => Number.isSafeInteger(n) && (n as number) > 0) };
  for (const [key, value] of Object.entries(q)) {
    if (!known[key]) fail(`has '${key}', which moec does not understand`);
    if (!known[key](value)) fail(`has ${key} = ${JSON.stringify(value)}, which moec does not dequantise`);
  }
  if (method === 'mxfp4') return { method };
  return { method: 'fp8', block: (q['weight_block_size'] as [number, number] | undefined) ?? fail('needs weight_block_size') };
}

/**
 * An export's `--base` that is a quantised release: its tensors are carried dequantised (as
 * import reads them), so the config written must not claim the quantisation any more.
 */
export function dequantizeBase(cp: Checkpoint, config: Record<string, unknown>, path: string): Record<string, unknown> {
  const { quantization_config: q, ...rest } = config;
  if (q === undefined || q === null) return config;
  const quantization = readQuantization(new ConfigReader({ quantization_config: q } as never, path), ['mxfp4', 'fp8'])!;
  dequantize(cp, quantization, config['torch_dtype'] === 'float32' ? 'F32' : 'BF16');
  return rest;
}

/** Register every quantised tensor of the checkpoint as its dequantised self (`mxfp4`: in `dtype`, F32 or BF16). */
export function dequantize(cp: Checkpoint, q: Quantization, dtype: StoredDType): void {
  if (q.method === 'mxfp4') {
    for (const name of cp.names().filter((n) => n.endsWith('_blocks'))) {
      const base = name.slice(0, -'_blocks'.length);
      if (cp.has(`${base}_scales`)) mxfp4(cp, base, dtype);
    }
    return;
  }
  for (const name of cp.names().filter((n) => cp.entry(n).dtype === 'F8_E4M3')) fp8(cp, name, q.block);
}

/** FP4 (E2M1) values by code: sign, 2 exponent bits, 1 mantissa bit. */
const FP4 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

function mxfp4(cp: Checkpoint, base: string, dtype: StoredDType): void {
  const [blocks, scales] = [cp.entry(`${base}_blocks`), cp.entry(`${base}_scales`)];
  const [E, rows, groups, bytes] = blocks.shape as [number, number, number, number];
  if (blocks.dtype !== 'U8' || scales.dtype !== 'U8' || blocks.shape.length !== 4 || bytes !== 16 || scales.shape.join() !== [E, rows, groups].join()) {
    throw new InteropError(`${cp.dir}: '${base}_blocks' (${blocks.dtype} [${blocks.shape}]) and '${base}_scales' (${scales.dtype} [${scales.shape}]) are not MXFP4 blocks [E, out, in / 32, 16] and scales [E, out, in / 32] of U8`);
  }
  const inner = groups * 32;
  cp.derive({
    entry: { name: base, dtype, shape: [E, inner, rows], begin: 0, end: 0 },
    parts: [`${base}_blocks`, `${base}_scales`],
    values: () => {
      const [b, s] = [cp.readRaw(`${base}_blocks`), cp.readRaw(`${base}_scales`)];
      const out = new Float32Array(E * inner * rows);
      for (let e = 0; e < E; e++) {
        for (let r = 0; r < rows; r++) {
          for (let g = 0; g < groups; g++) {
            const at = (e * rows + r) * groups + g;
            if (s[at] === 255) throw new InteropError(`${cp.dir}: '${base}_scales' holds the E8M0 NaN (255)`);
            const scale = 2 ** (s[at]! - 127);
            for (let k = 0; k < 32; k++) {
              const byte = b[at * 16 + (k >> 1)]!;
              const v = FP4[k & 1 ? byte >> 4 : byte & 15]! * scale;
              if (!Number.isFinite(Math.fround(v))) throw new InteropError(`${cp.dir}: '${base}_scales' exponent ${s[at]! - 127} overflows ${dtype}`);
              out[(e * inner + g * 32 + k) * rows + r] = v;
            }
          }
        }
      }
      return out;
    },
  });
}

function fp8(cp: Checkpoint, name: string, [bo, bi]: [number, number]): void {
  const w = cp.entry(name);
  const scaleName = `${name}_scale_inv`;
  if (!cp.has(scaleName)) throw new InteropError(`${cp.dir}: F8_E4M3 tensor '${name}' has no '${scaleName}'`);
  const s = cp.entry(scaleName);
  const [out, inn] = w.shape as [number, number];
  const blocks = [Math.ceil(out / bo), Math.ceil(inn / bi)];
  if (w.shape.length !== 2 || s.dtype !== 'F32' || s.shape.join() !== blocks.join()) {
    throw new InteropError(`${cp.dir}: '${scaleName}' is ${s.dtype} [${s.shape}]; F8_E4M3 '${name}' [${w.shape}] needs F32 [${blocks}] (one per ${bo} × ${bi} block)`);
  }
  cp.derive({
    entry: { ...w, dtype: 'F32' },
    parts: [name, scaleName],
    values: () => {
      const [q, scale] = [cp.readStored(name).tensor.data as Float32Array, cp.readStored(scaleName).tensor.data as Float32Array];
      const v = new Float32Array(out * inn);
      for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) v[o * inn + i] = q[o * inn + i]! * scale[Math.floor(o / bo) * blocks[1]! + Math.floor(i / bi)]!;
      return v;
    },
  });
}
