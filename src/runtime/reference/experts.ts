import type { FfnExpertSpec } from '../../ir/ops.js';
import { actParams, expertStructure } from '../../model/expert-structure.js';
import { activate, addRowBias, matmul } from './math.js';

/**
 * One FFN expert on `n` rows, by its steps (src/model/expert-structure.ts). `weights` are its
 * matrices in expertWeights order, each the slice of this expert (stacked weights are sliced
 * by the caller).
 */
export function ffnRows(e: FfnExpertSpec, x: Float32Array, n: number, weights: readonly Float32Array[]): Float32Array {
  const { weights: specs, steps } = expertStructure(e);
  const values: { v: Float32Array; width: number }[] = [{ v: x, width: e.input }];
  for (const s of steps) {
    if (s.op === 'matmul') {
      const [a, b] = specs[s.weight]!.shape as [number, number];
      const y = matmul(values[s.src]!.v, n, a, weights[s.weight]!, b);
      if (s.bias !== undefined) addRowBias(y, weights[s.bias]!);
      values.push({ v: y, width: b });
    } else if (s.op === 'act') {
      const act = actParams(s);
      values.push({ ...values[s.src]!, v: values[s.src]!.v.map((v) => activate(act, v)) });
    } else {
      const [gate, up] = [values[s.src[0]]!, values[s.src[1]]!];
      values.push({ ...gate, v: gate.v.map((g, i) => g * up.v[i]!) });
    }
  }
  return values[values.length - 1]!.v;
}
