/**
 * Row-level selection helpers shared by the reference router (route) and the lowered router
 * primitives, so both compute the same numbers in the same order.
 */
const f = Math.fround;

/** Softmax of `values` over `entries` (in that order), written back rounded to f32. */
export function softmaxOver(values: Float64Array | Float32Array, entries: readonly number[]): void {
  let max = -Infinity;
  for (const e of entries) max = Math.max(max, values[e]!);
  let sum = 0;
  for (const e of entries) sum += Math.exp(values[e]! - max);
  for (const e of entries) values[e] = f(Math.exp(values[e]! - max) / sum);
}

/** Entries ordered by key, descending; ties to the lower index. */
export function rankDesc(entries: number[], key: (e: number) => number): number[] {
  return entries.sort((a, b) => key(b) - key(a) || a - b);
}

/** The groups a group limit keeps: the `keep` best by max key or by the sum of the top two. */
export function keptGroups(groups: number, size: number, keep: number, score: 'max' | 'top2', key: (e: number) => number, live: (e: number) => boolean): Set<number> {
  const scores = Array.from({ length: groups }, (_, g) => {
    const keys: number[] = [];
    for (let e = g * size; e < (g + 1) * size; e++) if (live(e)) keys.push(key(e));
    keys.sort((a, b) => b - a);
    if (!keys.length) return -Infinity;
    return score === 'max' ? keys[0]! : f(keys[0]! + (keys[1] ?? 0));
  });
  return new Set(rankDesc(scores.map((_, g) => g), (g) => scores[g]!).slice(0, keep));
}

/** Sum of the weights over the selected entries, then each divided by it (sum 0: unchanged). */
export function normalizeOver(values: Float64Array | Float32Array, entries: readonly number[]): void {
  let sum = 0;
  for (const e of entries) sum += values[e]!;
  if (sum !== 0) for (const e of entries) values[e] = f(values[e]! / sum);
}
