import { UserError } from '../diagnostics/user-error.js';
import type { Graph, ParamInfo } from '../ir/graph.js';
import { evalDim } from '../ir/types.js';
import type { StoredDType, TensorToWrite } from './safetensors.js';
import { STORED_DTYPE, storedShape, type ParamDType } from './stored-layout.js';
import { f32, size } from './tensor.js';

export class WeightsError extends UserError {}

/** The safetensors dtype a param is stored as (int4: two values per U8 byte). */
export function storedDtype(p: ParamInfo): StoredDType {
  const d = STORED_DTYPE[p.type.dtype as ParamDType];
  if (!d) throw new Error(`internal: param ${p.name} has dtype ${p.type.dtype}`);
  return d;
}

/** The shape a param has in a weights file: int4 packs pairs along the last dim. */
export function paramShape(p: ParamInfo): number[] {
  const shape = p.type.shape.map((d) => evalDim(d, 0));
  const stored = storedShape(p.type.dtype as ParamDType, shape);
  if (!stored) throw new WeightsError(`'${p.name}' is stored as int4, which packs two values per byte along its last dim, but that dim is ${shape[shape.length - 1]}: use an even size or int8`);
  return stored;
}

/**
 * Deterministic weights: each tensor draws from its own stream, seeded by the seed and the
 * tensor's name, so a tensor's values do not depend on which other tensors exist. Matrices
 * are N(0, 1/fan_in); norm gains are 1; biases are 0.
 */
export function initWeights(graph: Graph, seed: number): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  const scales = new Map<string, Float32Array>();
  for (const p of graph.params) {
    const shape = p.type.shape.map((d) => evalDim(d, 0));
    const t = f32(shape);
    if (p.init.kind === 'ones') t.data.fill(1);
    else if (p.init.kind === 'scale') t.data.set(scales.get(p.name.replace(/\.scale$/, ''))!);
    else if (p.init.kind === 'normal') {
      const rng = normalStream(seed, p.name);
      const std = 1 / Math.sqrt(p.init.fanIn);
      for (let i = 0; i < size(shape); i++) t.data[i] = rng() * std;
    }
    if (p.type.dtype === 'int8' || p.type.dtype === 'int4') {
      const q = quantize(t.data, shape, p.type.dtype === 'int8' ? 8 : 4);
      scales.set(p.name, q.scale);
      out.set(p.name, { tensor: { dtype: 'i32', shape: paramShape(p), data: q.stored }, as: storedDtype(p) });
    } else out.set(p.name, { tensor: t, as: storedDtype(p) });
  }
  return out;
}

/**
 * Symmetric quantisation per output column: scale = max |w| / qmax over the input dim, q = round(w / scale).
 * int4 values are packed two per byte along the last dim, low nibble first, two's complement.
 */
export function quantize(w: Float32Array, shape: number[], bits: 8 | 4): { stored: Int32Array; scale: Float32Array } {
  const [inDim, outDim] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
  const blocks = w.length / (inDim * outDim);
  const qmax = bits === 8 ? 127 : 7;
  const scale = new Float32Array(blocks * outDim);
  const q = new Int32Array(w.length);
  for (let b = 0; b < blocks; b++) {
    for (let c = 0; c < outDim; c++) {
      let max = 0;
      for (let r = 0; r < inDim; r++) max = Math.max(max, Math.abs(w[(b * inDim + r) * outDim + c]!));
      const s = Math.fround(max / qmax || 1);
      scale[b * outDim + c] = s;
      for (let r = 0; r < inDim; r++) {
        const i = (b * inDim + r) * outDim + c;
        q[i] = Math.max(-qmax - 1, Math.min(qmax, Math.round(w[i]! / s)));
      }
    }
  }
  if (bits === 8) return { stored: q, scale };
  const packed = new Int32Array(q.length / 2);
  for (let i = 0; i < packed.length; i++) packed[i] = (q[2 * i]! & 0xf) | ((q[2 * i + 1]! & 0xf) << 4);
  return { stored: packed, scale };
}

/** The values of a quantised tensor (int4 unpacked), as stored by quantize. */
export function unpackQuantized(stored: Int32Array, bits: 8 | 4): Int32Array {
  if (bits === 8) return stored;
  const out = new Int32Array(stored.length * 2);
  const nibble = (v: number) => (v & 0x8 ? v - 16 : v);
  stored.forEach((byte, i) => {
    out[2 * i] = nibble(byte & 0xf);
    out[2 * i + 1] = nibble((byte >> 4) & 0xf);
  });
  return out;
}

/** FNV-1a of the name mixed with the seed, then a splitmix32 stream and Box-Muller. */
export function normalStream(seed: number, name: string): () => number {
  let h = 0x811c9dc5 ^ (seed | 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  let state = h >>> 0;
  const next = () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}
