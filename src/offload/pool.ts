/**
 * The slots of one MoE layer: which experts are on the device (or on their way), and the
 * access statistics eviction policies read. Counts and last uses outlive an expert's
 * eviction (LFU counts every access since the request began, not since the expert arrived).
 */
import type { Load } from './link.js';

export interface Slot {
  expert: number;
  /** Its load on the link (`Link.arrival` says when its bytes are on the device). */
  load?: Load;
  /** True until the first access after a prefetch brought it. */
  prefetched: boolean;
}

export class SlotPool {
  readonly slots = new Map<number, Slot>();
  /** Accesses per expert in this request. */
  readonly uses = new Map<number, number>();
  /** Access clock of each expert's last access (or prefetch). */
  readonly lastUse = new Map<number, number>();
  /** For Belady: the access index of each resident expert's next use (Infinity: never again). */
  readonly nextUse = new Map<number, number>();

  constructor(readonly capacity: number) {}

  has(expert: number): boolean {
    return this.slots.has(expert);
  }

  get full(): boolean {
    return this.slots.size >= this.capacity;
  }

  touch(expert: number, clock: number): void {
    this.lastUse.set(expert, clock);
  }

  count(expert: number): void {
    this.uses.set(expert, (this.uses.get(expert) ?? 0) + 1);
  }

  insert(slot: Slot): void {
    this.slots.set(slot.expert, slot);
  }

  evict(expert: number): void {
    this.slots.delete(expert);
  }
}

/**
 * Which resident expert to give up. Each picks among `candidates` (resident experts the
 * caller allows to go); ties go to the least recently used, then the lowest id.
 */
export type Eviction = (pool: SlotPool, candidates: readonly number[]) => number;

/** The candidate with the lexicographically lowest key; `key` fills `out` (no allocation per candidate). */
function byLowest(keyLength: number, key: (e: number, out: number[]) => void): Eviction {
  const best: number[] = new Array<number>(keyLength);
  const k: number[] = new Array<number>(keyLength);
  return (_, candidates) => {
    let winner = candidates[0]!;
    key(winner, best);
    for (let c = 1; c < candidates.length; c++) {
      key(candidates[c]!, k);
      let i = 0;
      while (i < keyLength && k[i] === best[i]) i++;
      if (i < keyLength && k[i]! < best[i]!) {
        winner = candidates[c]!;
        for (let j = 0; j < keyLength; j++) best[j] = k[j]!;
      }
    }
    return winner;
  };
}

export const lruEviction: Eviction = (pool, c) =>
  byLowest(2, (e, out) => {
    out[0] = pool.lastUse.get(e) ?? -1;
    out[1] = e;
  })(pool, c);

/** Least frequently used in this request (perfect LFU), ties by recency. */
export const lfuEviction: Eviction = (pool, c) =>
  byLowest(3, (e, out) => {
    out[0] = pool.uses.get(e) ?? 0;
    out[1] = pool.lastUse.get(e) ?? -1;
    out[2] = e;
  })(pool, c);

/**
 * `score(recency = r)`: evict the lowest `r * recency + (1 - r) * frequency`, both normalised
 * to [0, 1] over the candidates (recency: last use from the oldest, 0, to the newest, 1;
 * frequency: uses over the most used candidate's).
 */
export function scoreEviction(recency: number): Eviction {
  return (pool, c) => {
    let lo = Infinity;
    let hi = -Infinity;
    let most = 1;
    for (const e of c) {
      const last = pool.lastUse.get(e) ?? -1;
      lo = Math.min(lo, last);
      hi = Math.max(hi, last);
      most = Math.max(most, pool.uses.get(e) ?? 0);
    }
    return byLowest(3, (e, out) => {
      const last = pool.lastUse.get(e) ?? -1;
      out[0] = recency * (hi > lo ? (last - lo) / (hi - lo) : 1) + (1 - recency) * ((pool.uses.get(e) ?? 0) / most);
      out[1] = last;
      out[2] = e;
    })(pool, c);
  };
}

/** Belady's optimum for a demand cache: the expert used again furthest in the future. */
export const beladyEviction: Eviction = (pool, c) =>
  byLowest(2, (e, out) => {
    out[0] = -(pool.nextUse.get(e) ?? Infinity);
    out[1] = e;
  })(pool, c);
