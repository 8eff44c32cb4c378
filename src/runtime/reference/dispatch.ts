/**
 * Batched rerouting kernels: turn per-token routing into grouped execution. Tokens are
 * counted per expert, each expert's run padded to a block, rows placed in ascending order
 * within an expert, and the inverse map lets combine read each (row, slot) back.
 */
export function countPerExpert(ids: Int32Array, experts: number): Int32Array {
  const counts = new Int32Array(experts);
  for (const e of ids) if (e >= 0) counts[e]!++;
  return counts;
}

export function paddedOffsets(counts: Int32Array, block: number): Int32Array {
  const off = new Int32Array(counts.length + 1);
  counts.forEach((c, e) => (off[e + 1] = off[e]! + Math.ceil(c / block) * block));
  return off;
}

/** Walks (row, slot) in order and hands out each expert's next position. */
function place(ids: Int32Array, offsets: Int32Array, visit: (index: number, row: number, position: number) => void, slots: number): void {
  const cursor = Int32Array.from(offsets.subarray(0, offsets.length - 1));
  for (let i = 0; i < ids.length; i++) {
    const e = ids[i]!;
    visit(i, Math.floor(i / slots), e >= 0 ? cursor[e]!++ : -1);
  }
}

export function permutation(ids: Int32Array, offsets: Int32Array, slots: number, padded: number): Int32Array {
  const perm = new Int32Array(padded).fill(-1);
  place(ids, offsets, (_, row, pos) => pos >= 0 && (perm[pos] = row), slots);
  return perm;
}

export function inversePermutation(ids: Int32Array, offsets: Int32Array, slots: number): Int32Array {
  const inv = new Int32Array(ids.length);
  place(ids, offsets, (i, _, pos) => (inv[i] = pos), slots);
  return inv;
}

export function gatherRows(x: Float32Array, d: number, perm: Int32Array): Float32Array {
  const out = new Float32Array(perm.length * d);
  perm.forEach((r, p) => r >= 0 && out.set(x.subarray(r * d, (r + 1) * d), p * d));
  return out;
}

/** Σ_slots w · ys[inverse], per row, in increasing expert order, accumulated in f64. */
export function combineRows(ys: Float32Array, d: number, ids: Int32Array, inv: Int32Array, w: Float32Array, slots: number): Float32Array {
  const rows = ids.length / slots;
  const out = new Float32Array(rows * d);
  const acc = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    acc.fill(0);
    const order = Array.from({ length: slots }, (_, s) => r * slots + s)
      .filter((i) => ids[i]! >= 0)
      .sort((a, b) => ids[a]! - ids[b]!);
    for (const i of order) {
      const p = inv[i]!;
      const weight = w[i]!;
      for (let c = 0; c < d; c++) acc[c]! += weight * ys[p * d + c]!;
    }
    out.set(acc, r * d);
  }
  return out;
}
