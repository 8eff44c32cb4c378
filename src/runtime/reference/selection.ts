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

/** Row indices grouped by request id (all rows form one group without request ids). */
export function requestGroups(rows: number, requests: Int32Array | undefined): number[][] {
  if (!requests) return [Array.from({ length: rows }, (_, r) => r)];
  const groups = new Map<number, number[]>();
  for (let r = 0; r < rows; r++) {
    const id = requests[r]!;
    if (!groups.has(id)) groups.set(id, []);
    groups.get(id)!.push(r);
  }
  return [...groups.values()];
}

/**
 * Expert choice over the rows of one request: each expert takes its ceil(capacity · rows / E)
 * live rows with the largest keys (ties to the lower row). Returns each row's experts, ascending.
 */
export function expertChoice(rows: readonly number[], E: number, capacity: number, key: (r: number, e: number) => number, live: (r: number, e: number) => boolean): Map<number, number[]> {
  const take = Math.min(rows.length, Math.ceil((capacity * rows.length) / E));
  const chosen = new Map<number, number[]>(rows.map((r) => [r, []]));
  for (let e = 0; e < E; e++) {
    const candidates = rows.filter((r) => live(r, e));
    candidates.sort((a, b) => key(b, e) - key(a, e) || a - b);
    for (const r of candidates.slice(0, take)) chosen.get(r)!.push(e);
  }
  return chosen;
}

/** An expert's capacity: a factor of the request's assignments per expert, or a fixed limit. */
export type CapacityLimit = { factor: number } | { limit: number };

/**
 * Switch-style capacity over the rows of one request: `ids[r]` are row r's experts in slot order
 * (-1 for an empty slot) and `weights[r]` their weights. Each expert keeps at most
 * ceil(factor · rows · k / E) assignments (or `limit`), the earliest in (row, slot) order
 * (`overflow`) or the heaviest (`score`, ties to the lower row, then slot). Returns which slots are kept.
 */
export function capacityKeep(ids: readonly (readonly number[])[], weights: readonly (readonly number[])[], E: number, k: number, cap: CapacityLimit, drop: 'overflow' | 'score'): boolean[][] {
  const capacity = 'limit' in cap ? cap.limit : Math.ceil((cap.factor * ids.length * k) / E);
  const order = ids.flatMap((row, r) => row.map((e, slot) => ({ r, slot, e, w: weights[r]![slot]! })).filter((a) => a.e >= 0));
  if (drop === 'score') order.sort((a, b) => b.w - a.w || a.r - b.r || a.slot - b.slot);
  const load = new Int32Array(E);
  const kept = ids.map((row) => row.map(() => false));
  for (const a of order) {
    if (load[a.e]! < capacity) {
      load[a.e]!++;
      kept[a.r]![a.slot] = true;
    }
  }
  return kept;
}

/** Top-p over entries ranked by key: the shortest prefix whose scores reach p, at most max, at least one. */
export function topP(ranked: readonly number[], score: (e: number) => number, p: number, max: number): number[] {
  let sum = 0;
  let n = 0;
  while (n < ranked.length && n < max && (n === 0 || sum < p)) sum += score(ranked[n++]!);
  return ranked.slice(0, n);
}
