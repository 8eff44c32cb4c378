import { UserError } from '../diagnostics/user-error.js';
import type { Graph, ParamInfo } from '../ir/graph.js';
import { evalDim } from '../ir/types.js';
import type { StoredDType, TensorToWrite } from './safetensors.js';
import { f32, size } from './tensor.js';

export class WeightsError extends UserError {}

/** The safetensors dtype a param is stored as. */
export function storedDtype(p: ParamInfo): StoredDType {
  switch (p.type.dtype) {
    case 'f32':
      return 'F32';
    case 'f16':
      return 'F16';
    case 'bf16':
      return 'BF16';
    default:
      throw new WeightsError(`'${p.name}' is stored as ${p.type.dtype}: quantised weights are not supported by init-weights and the CPU reference yet; set the weights dtype to f32, f16 or bf16`);
  }
}

export function paramShape(p: ParamInfo): number[] {
  return p.type.shape.map((d) => evalDim(d, 0));
}

/**
 * Deterministic weights: each tensor draws from its own stream, seeded by the seed and the
 * tensor's name, so a tensor's values do not depend on which other tensors exist. Matrices
 * are N(0, 1/fan_in); norm gains are 1; biases are 0.
 */
export function initWeights(graph: Graph, seed: number): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  for (const p of graph.params) {
    const shape = paramShape(p);
    const t = f32(shape);
    if (p.init.kind === 'ones') t.data.fill(1);
    else if (p.init.kind === 'normal') {
      const rng = normalStream(seed, p.name);
      const std = 1 / Math.sqrt(p.init.fanIn);
      for (let i = 0; i < size(shape); i++) t.data[i] = rng() * std;
    }
    out.set(p.name, { tensor: t, as: storedDtype(p) });
  }
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
