import type { OffloadPolicy, StorageDType } from '../model/model.js';
import { beladyEviction, lfuEviction, lruEviction, scoreEviction, type Eviction } from './pool.js';

/**
 * An offload policy as the simulator (and later the runtime) runs it: which expert a full
 * pool gives up, what it loads ahead of need, and what a token does when its expert is not
 * on the device.
 */
export interface Policy {
  name: string;
  eviction: Eviction;
  /** Belady's eviction reads each access's next use: the only policy that sees the future. */
  needsFuture?: boolean;
  prefetch?: PrefetchSpec;
  /** On a demand miss, evict the expert the predictor finds least likely for the next token at this layer. */
  predictiveEviction?: boolean;
  onMiss: { kind: 'wait' } | { kind: 'degrade'; dtype: StorageDType };
  /**
   * With degrade: load a missing expert only if it would arrive within this many layer
   * compute times (a saturated link would deliver it too late to matter); Infinity: always.
   */
  admit?: number;
  /**
   * With degrade: load a missing expert into a full pool only if this request has used it more
   * often than the expert it would replace (frequency admission: one-off experts never displace
   * popular ones; the copy serves them).
   */
  admitMoreFrequent?: boolean;
  /** With degrade: a miss while the pool has a free slot waits for its load instead (the pool fills at a request's start). */
  fillFirst?: boolean;
}

/**
 * Predictive prefetch. After the router of layer l has chosen this token's experts (the
 * declared issue point), rank the experts of each of the next `depth` steps in execution
 * order (this token's layers l+1, l+2, ..., then the next token's first layers) and load, best
 * first and at most `top` per step, those whose rank has proved right at least `threshold` of
 * the time (RankCalibration) and that are not on the device or on their way. A prefetch
 * occupies a slot from the moment it is issued, evicting an expert predicted less likely;
 * it is a hit only if its bytes arrived before the layer starts.
 */
export interface PrefetchSpec {
  depth: number;
  top: number;
  threshold: number;
  /**
   * Issue a prefetch only if it would arrive before its step starts when no layer stalls in
   * between: with degrade nothing stalls, so a later one would only take a slot and the link.
   */
  onlyInTime?: boolean;
}

export const DEGRADE_DTYPE: StorageDType = 'int4';

/** The policies `moec simulate --policy` knows, beside the model's own (`model`). */
export const POLICY_NAMES = ['lru', 'lfu', 'score', 'belady', 'prefetch', 'prefetch-greedy', 'prefetch+degrade', 'lru+degrade', 'admit+degrade'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** What sizes a named policy: slots per MoE layer, experts a token selects, MoE layers. */
export interface PolicyContext {
  slots: number;
  active: number;
  layers: number;
}

/**
 * A named policy (docs/offload.md). `score` uses the model's recency weight (0.5 without
 * one). `prefetch` spends the link sparingly: up to one token's experts per step, two steps
 * ahead, only ranks right at least half the time, and it evicts the expert the next token is
 * least likely to select. `prefetch-greedy` fills each next layer's slots with its most likely
 * experts, which wins when the link keeps up and loses when it does not. `+degrade` runs a
 * resident low-precision copy (the model's on_miss dtype, else int4) on a miss, and loads the
 * missing expert only if it would arrive within one token's compute. `admit+degrade` spends the
 * link on popular experts: it waits for its loads while the pool has room (a request's start),
 * then runs the copy on a miss and loads the expert only if this request has used it more often
 * than the least frequently used expert it would replace.
 */
export function namedPolicy(name: PolicyName, declared: OffloadPolicy, ctx: PolicyContext): Policy {
  const degrade = { kind: 'degrade' as const, dtype: declared.onMiss.kind === 'degrade' ? declared.onMiss.dtype : DEGRADE_DTYPE };
  const wait = { kind: 'wait' as const };
  const sparing: Pick<Policy, 'eviction' | 'prefetch' | 'predictiveEviction'> = { eviction: lfuEviction, prefetch: { depth: 2, top: ctx.active, threshold: 0.5 }, predictiveEviction: true };
  switch (name) {
    case 'lru':
      return { name, eviction: lruEviction, onMiss: wait };
    case 'lfu':
      return { name, eviction: lfuEviction, onMiss: wait };
    case 'score':
      return { name, eviction: scoreEviction(declared.cache.kind === 'score' ? declared.cache.recency : 0.5), onMiss: wait };
    case 'belady':
      return { name, eviction: beladyEviction, needsFuture: true, onMiss: wait };
    case 'prefetch':
      return { name, ...sparing, onMiss: wait };
    case 'prefetch-greedy':
      return { name, eviction: lfuEviction, prefetch: { depth: 1, top: ctx.slots, threshold: 0 }, predictiveEviction: true, onMiss: wait };
    case 'prefetch+degrade':
      return { name, ...sparing, prefetch: { ...sparing.prefetch!, onlyInTime: true }, onMiss: degrade, admit: ctx.layers };
    case 'lru+degrade':
      return { name, eviction: lruEviction, onMiss: degrade, admit: ctx.layers };
    case 'admit+degrade':
      return { name, eviction: lfuEviction, onMiss: degrade, admit: ctx.layers, admitMoreFrequent: true, fillFirst: true };
  }
}

/** The policy the model's `offload { }` block declares: cache, next_layer(top = n) prefetch, on_miss. */
export function declaredPolicy(declared: OffloadPolicy): Policy {
  const c = declared.cache;
  const eviction = c.kind === 'lru' ? lruEviction : c.kind === 'lfu' ? lfuEviction : scoreEviction(c.recency);
  const cache = c.kind === 'score' ? `score(${c.recency})` : c.kind;
  const p = declared.prefetch;
  const prefetch = p.kind === 'next_layer' ? { depth: 1, top: p.top, threshold: 0 } : undefined;
  const miss = declared.onMiss.kind === 'degrade' ? `+degrade(${declared.onMiss.dtype})` : '';
  return {
    name: `model: ${cache}${prefetch ? `+next_layer(${p.kind === 'next_layer' ? p.top : 0})` : ''}${miss}`,
    eviction,
    ...(prefetch && { prefetch }),
    onMiss: declared.onMiss,
  };
}
