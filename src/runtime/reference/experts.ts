import type { FfnExpert } from '../../checker/model.js';
import { expertWeights } from '../../ir/weights.js';
import { activations, matmul } from './math.js';

/**
 * One FFN expert on `n` rows. `weights` are its matrices in expertWeights order, each the
 * slice of this expert (stacked weights are sliced by the caller).
 */
export function ffnRows(e: FfnExpert, x: Float32Array, n: number, weights: readonly Float32Array[]): Float32Array {
  const specs = expertWeights(e);
  let next = 0;
  /** Multiply by the next weight, or by its two low-rank factors. */
  const mul = (v: Float32Array, width: number): { v: Float32Array; width: number } => {
    if (e.rank) {
      const a = specs[next]!;
      const b = specs[next + 1]!;
      const mid = matmul(v, n, width, weights[next]!, a.shape[1] as number);
      const out = matmul(mid, n, e.rank, weights[next + 1]!, b.shape[1] as number);
      next += 2;
      return { v: out, width: b.shape[1] as number };
    }
    const w = specs[next]!;
    const out = matmul(v, n, width, weights[next]!, w.shape[1] as number);
    next += 1;
    return { v: out, width: w.shape[1] as number };
  };
  let h = { v: x, width: e.input };
  if (e.latent) h = mul(h.v, h.width);
  const act = activations[e.act];
  let hidden: Float32Array;
  if (e.gated) {
    const gate = mul(h.v, h.width).v;
    const up = mul(h.v, h.width).v;
    hidden = new Float32Array(gate.length);
    for (let i = 0; i < gate.length; i++) hidden[i] = act(gate[i]!) * up[i]!;
  } else {
    hidden = mul(h.v, h.width).v.map(act);
  }
  let y = mul(hidden, e.hidden);
  if (e.latent) y = mul(y.v, y.width);
  return y.v;
}
