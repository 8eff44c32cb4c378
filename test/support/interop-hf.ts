import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
