import type { ExpertGroup } from '../../ir/ops.js';
import { weightsByGroup } from '../../ir/weights.js';
import { stackedSlice as slice, type Tensor } from '../tensor.js';
import { ffnRows } from './experts.js';
import type { RouteValue } from './router.js';

/** y[t] = Σ_e w[t,e] · expert_e(x[t]), summed in f64 in increasing expert order. */
export function moeRows(groups: readonly ExpertGroup[], xs: Float32Array, d: number, r: RouteValue, weights: readonly Tensor[]): Float32Array {
  const acc = new Float64Array(r.rows * d);
  const assigned = new Map<number, { row: number; w: number }[]>();
  for (let row = 0; row < r.rows; row++) {
    for (let s = 0; s < r.slots; s++) {
      const e = r.ids[row * r.slots + s]!;
      if (e < 0) continue;
      if (!assigned.has(e)) assigned.set(e, []);
      assigned.get(e)!.push({ row, w: r.weights[row * r.slots + s]! });
    }
  }
  const perGroup = weightsByGroup(groups, weights);
  for (const [g, group] of groups.entries()) {
    const ws = perGroup[g]!;
    for (let j = 0; j < group.count; j++) {
      const list = assigned.get(group.first + j);
      if (!list || group.expert.kind === 'null') continue;
      const gathered = new Float32Array(list.length * d);
      list.forEach(({ row }, i) => gathered.set(xs.subarray(row * d, (row + 1) * d), i * d));
      const y = group.expert.kind === 'ffn' ? ffnRows(group.expert, gathered, list.length, ws.map((t) => slice(t, j))) : gathered;
      list.forEach(({ row, w: weight }, i) => {
        for (let c = 0; c < d; c++) acc[row * d + c]! += weight * y[i * d + c]!;
      });
    }
  }
  return Float32Array.from(acc);
}
