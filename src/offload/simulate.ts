import { DTYPE_BYTES } from '../ir/types.js';
import { Link, type LinkModel } from './link.js';
import type { OffloadLayer, OffloadModel } from './model.js';
import type { Policy } from './policy.js';
import { SlotPool, type Slot } from './pool.js';
import { CoOccurrencePredictor, RankCalibration, type PredictorOptions, type Revealed } from './predictor.js';
import type { TraceRequest } from './trace.js';

/**
 * Replays routing traces against one policy. Counting (docs/offload.md): every selected
 * expert of every token at every MoE layer is one access, a token's experts in the trace's
 * order; each request starts from empty pools and an idle link; each MoE layer has its own
 * `slots`. An access hits when its expert is in a slot and its bytes have arrived when the
 * layer starts; anything else (absent, or a load still in flight) is a miss.
 *
 * Timing: tokens run one after another through every layer (decode). A layer starts when
 * the previous one ends; its router's choice issues the demand loads of its misses, then the
 * policy's prefetches, on one first-come-first-served link. The layer computes for
 * `bytes read / device bandwidth` (routers, shared experts and its experts: decode reads
 * every active weight once); with `on_miss = wait` it cannot end before its last missing
 * expert has arrived and run. Stall is the time a layer ends later than its compute alone.
 */
export interface SimulateOptions {
  slots: number;
  /** Experts a token selects per MoE layer (the trace's k). */
  activeExperts: number;
  link: LinkModel;
  /** Bytes per second the device reads weights at while computing. */
  deviceBandwidth: number;
  predictor: PredictorOptions;
  /** Keep learned co-occurrence counts from one request to the next (a runtime would). */
  warmStatistics: boolean;
}

export interface PolicyResult {
  name: string;
  requests: number;
  tokens: number;
  accesses: number;
  hits: number;
  hitRate: number;
  bytesMoved: number;
  stallSeconds: number;
  seconds: number;
  tokensPerSecond: number;
  /** Accesses served by a low-precision copy (on_miss = degrade). */
  degraded: number;
  /** Tokens with at least one expert served by a low-precision copy. */
  degradedTokens: number;
  prefetches: number;
  /** Prefetched experts whose first access was a hit. */
  usefulPrefetches: number;
  /** Prefetched experts accessed before their bytes arrived (misses). */
  latePrefetches: number;
}

export class Replay {
  private readonly link: Link;
  private predictor: CoOccurrencePredictor | undefined;
  private calibration: RankCalibration | undefined;
  /** Rankings made ahead, by `depth token layer`, until their step is revealed. */
  private readonly pending = new Map<string, number[]>();
  /** The next token's scores at the current layer, computed once per layer for demand evictions. */
  private nextScores: { key: string; scores: Float64Array } | undefined;
  private readonly r: Omit<PolicyResult, 'name' | 'hitRate' | 'tokensPerSecond' | 'bytesMoved'> = {
    requests: 0,
    tokens: 0,
    accesses: 0,
    hits: 0,
    stallSeconds: 0,
    seconds: 0,
    degraded: 0,
    degradedTokens: 0,
    prefetches: 0,
    usefulPrefetches: 0,
    latePrefetches: 0,
  };

  constructor(
    private readonly model: OffloadModel,
    readonly policy: Policy,
    private readonly options: SimulateOptions,
  ) {
    this.link = new Link(options.link);
    // The compute time of an average layer, the unit of the policies' time horizons.
    const k = options.activeExperts;
    this.layerSeconds = model.layers.reduce((s, l) => s + l.fixedBytes + (k * l.expertBytes.reduce((a, b) => a + b, 0)) / l.expertBytes.length, 0) / model.layers.length / options.deviceBandwidth;
  }
  private readonly layerSeconds: number;

  private newPredictor(): CoOccurrencePredictor {
    return new CoOccurrencePredictor(this.model.layers.length, Math.max(...this.model.layers.map((l) => l.expertBytes.length)), this.options.predictor);
  }

  request(req: TraceRequest): void {
    const { model, policy, options } = this;
    const layers = model.layers;
    const pools = layers.map(() => new SlotPool(options.slots));
    const clocks = layers.map(() => 0);
    const next = policy.needsFuture ? nextUses(req, layers) : undefined;
    if (policy.prefetch && (!this.predictor || !options.warmStatistics)) {
      this.predictor = this.newPredictor();
      this.calibration = new RankCalibration(policy.prefetch.depth, this.predictor.experts);
    }
    this.pending.clear();
    this.nextScores = undefined;
    const revealed: Revealed = {
      token: 0,
      layer: -1,
      experts(t, l) {
        if (t > this.token || (t === this.token && l > this.layer)) throw new Error(`internal: the policy looked ahead at token ${t}, layer ${l}`);
        return req.tokens[t]![l]!;
      },
    };
    const degrade = policy.onMiss.kind === 'degrade' ? DTYPE_BYTES[policy.onMiss.dtype] : undefined;
    const bw = options.deviceBandwidth;
    const r = this.r;
    this.link.reset();
    let now = 0;
    for (const [t, token] of req.tokens.entries()) {
      const degradedBefore = r.degraded;
      for (const [l, layer] of layers.entries()) {
        revealed.token = t;
        revealed.layer = l;
        const pool = pools[l]!;
        const start = now;
        let readBytes = layer.fixedBytes;
        let waitUntil = -Infinity;
        let lastBytes = 0;
        for (const e of token[l]!) {
          r.accesses++;
          const bytes = layer.expertBytes[e]!;
          if (layer.resident[e] || bytes === 0) {
            r.hits++;
            readBytes += bytes;
            continue;
          }
          const clock = clocks[l]++;
          pool.count(e);
          pool.touch(e, clock);
          if (next) pool.nextUse.set(e, next[l]![clock]!);
          const slot = pool.slots.get(e);
          if (slot && slot.arrival <= start) {
            r.hits++;
            if (slot.prefetched) r.usefulPrefetches++;
            slot.prefetched = false;
            readBytes += bytes;
            continue;
          }
          let arrival: number;
          if (slot) {
            if (slot.prefetched) r.latePrefetches++;
            slot.prefetched = false;
            arrival = slot.arrival;
          } else if (degrade !== undefined && this.link.demandArrival(start, bytes) - start > (policy.admit ?? Infinity) * this.layerSeconds) {
            arrival = Infinity; // served by the copy; not worth a slot
          } else {
            if (pool.full) {
              // A prefetching policy knows the layer's whole choice from its router: it keeps this token's other experts.
              const candidates = [...pool.slots.keys()].filter((x) => !policy.prefetch || !token[l]!.includes(x));
              const allowed = candidates.length ? candidates : [...pool.slots.keys()];
              this.evict(pool, this.predictor && policy.predictiveEviction ? this.leastLikelyNext(revealed, allowed) : policy.eviction(pool, allowed), start);
            }
            const slot: Slot = { expert: e, arrival: Infinity, prefetched: false };
            pool.insert(slot);
            arrival = this.link.transfer(start, bytes, slot, true);
          }
          if (degrade !== undefined) {
            r.degraded++;
            readBytes += layer.expertParams[e]! * degrade;
          } else {
            readBytes += bytes;
            if (arrival >= waitUntil) {
              waitUntil = arrival;
              lastBytes = bytes;
            }
          }
        }
        const compute = readBytes / bw;
        const end = Math.max(start + compute, waitUntil + lastBytes / bw);
        r.stallSeconds += end - (start + compute);
        if (this.predictor) {
          this.calibrate(t, l, token[l]!);
          this.predictor.learn(revealed, t, l);
          this.prefetch(revealed, pools, clocks, start);
        }
        now = end;
      }
      now += model.denseBytes / bw;
      r.tokens++;
      if (r.degraded > degradedBefore) r.degradedTokens++;
    }
    r.seconds += now;
    r.requests++;
  }

  /** Issue the policy's prefetches at the point after (revealed.token, revealed.layer)'s router. */
  private prefetch(revealed: Revealed, pools: SlotPool[], clocks: number[], now: number): void {
    const spec = this.policy.prefetch!;
    const layers = this.model.layers;
    let t = revealed.token;
    let l = revealed.layer;
    for (let step = 1; step <= spec.depth; step++) {
      if (++l === layers.length) [t, l] = [t + 1, 0];
      const layer = layers[l]!;
      const pool = pools[l]!;
      const ranking = this.predictor!.ranking(revealed, t, l);
      this.pending.set(`${step} ${t} ${l}`, ranking);
      const rank = new Int32Array(ranking.length);
      ranking.forEach((e, i) => (rank[e] = i));
      const likely = (e: number) => this.calibration!.probability(step, rank[e]!) >= spec.threshold;
      for (let i = 0; i < Math.min(spec.top, pool.capacity); i++) {
        const e = ranking[i]!;
        if (!likely(e)) break;
        const bytes = layer.expertBytes[e]!;
        if (pool.has(e) || layer.resident[e] || bytes === 0) continue;
        if (spec.onlyInTime && this.link.prefetchArrival(now, bytes) > now + step * this.layerSeconds) return;
        if (pool.full) {
          // Give up an expert not predicted likely (the base policy picks which), else the least likely one ranked below e.
          const unlikely = [...pool.slots.keys()].filter((x) => !likely(x));
          const below = [...pool.slots.keys()].filter((x) => rank[x]! > i);
          if (below.length === 0) break;
          this.evict(pool, unlikely.length ? this.policy.eviction(pool, unlikely) : below.reduce((a, b) => (rank[a]! > rank[b]! ? a : b)), now);
        }
        const slot: Slot = { expert: e, arrival: Infinity, prefetched: true };
        pool.insert(slot);
        this.link.transfer(now, bytes, slot, false);
        pool.touch(e, clocks[l]!);
        this.r.prefetches++;
      }
    }
  }

  /**
   * Give up a slot. A prefetch of it that has not started is cancelled; a demand load is
   * not, since the layer that asked for it computes with it.
   */
  private evict(pool: SlotPool, expert: number, now: number): void {
    const slot = pool.slots.get(expert)!;
    if (slot.prefetched) this.link.cancel(now, slot);
    pool.evict(expert);
  }

  /** The candidate the next token is least likely to select at this layer (the predictor's Belady). */
  private leastLikelyNext(revealed: Revealed, candidates: readonly number[]): number {
    const key = `${revealed.token} ${revealed.layer}`;
    if (this.nextScores?.key !== key) this.nextScores = { key, scores: this.predictor!.scores(revealed, revealed.token + 1, revealed.layer) };
    const scores = this.nextScores.scores;
    return candidates.reduce((a, b) => (scores[b]! < scores[a]! || (scores[b] === scores[a] && b < a) ? b : a));
  }

  /** Score the rankings made for (token, layer) against what its router chose. */
  private calibrate(token: number, layer: number, chosen: readonly number[]): void {
    for (let step = 1; step <= this.policy.prefetch!.depth; step++) {
      const key = `${step} ${token} ${layer}`;
      const ranking = this.pending.get(key);
      if (!ranking) continue;
      this.calibration!.record(step, ranking, chosen);
      this.pending.delete(key);
    }
  }

  result(): PolicyResult {
    const r = this.r;
    return {
      name: this.policy.name,
      ...r,
      hitRate: r.accesses ? r.hits / r.accesses : 0,
      bytesMoved: this.link.bytesMoved,
      tokensPerSecond: r.seconds > 0 ? r.tokens / r.seconds : 0,
    };
  }
}

/** For each MoE layer, the index of the next access to the same cached expert (Infinity: none). */
function nextUses(req: TraceRequest, layers: readonly OffloadLayer[]): number[][] {
  return layers.map((layer, l) => {
    const seq = req.tokens.flatMap((token) => token[l]!.filter((e) => !layer.resident[e] && layer.expertBytes[e]! > 0));
    const next = new Array<number>(seq.length);
    const seen = new Map<number, number>();
    for (let i = seq.length - 1; i >= 0; i--) {
      next[i] = seen.get(seq[i]!) ?? Infinity;
      seen.set(seq[i]!, i);
    }
    return next;
  });
}
