import { DTYPE_BYTES } from '../ir/types.js';
import { slotAccesses } from './bound.js';
import { Link, type LinkModel } from './link.js';
import type { OffloadLayer, OffloadModel } from './model.js';
import type { Policy } from './policy.js';
import { SlotPool, type Slot } from './pool.js';
import { Forecast, RankCalibration, type PredictorOptions } from './predictor.js';
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
  /** The predictions of the request being replayed: shared by the policies of a run, else the replay's own. */
  private forecast: Forecast | undefined;
  private ownForecast: Forecast | undefined;
  private calibration: RankCalibration | undefined;
  /**
   * The rankings this policy consulted, until their step is revealed and calibrates them:
   * `consulted[d - 1][p % (depth + 1)] === p` when step p's ranking made d steps ahead was read.
   */
  private readonly consulted: Int32Array[];
  /** Reused lists of eviction candidates. */
  private readonly candidates: number[] = [];
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
    const depth = policy.prefetch?.depth ?? 0;
    this.consulted = Array.from({ length: depth }, () => new Int32Array(depth + 1));
    this.layerSeconds = model.layers.reduce((s, l) => s + l.fixedBytes + (k * l.expertBytes.reduce((a, b) => a + b, 0)) / l.expertBytes.length, 0) / model.layers.length / options.deviceBandwidth;
  }
  private readonly layerSeconds: number;

  /** A forecast that a run of several policies can share: they must use the same options, `depth` their deepest. */
  static forecast(model: OffloadModel, options: Pick<SimulateOptions, 'predictor' | 'warmStatistics'>, depth: number): Forecast {
    return new Forecast(model.layers.length, Math.max(...model.layers.map((l) => l.expertBytes.length)), options.predictor, depth, options.warmStatistics);
  }

  /**
   * Replay one request. `forecast`, when given, already holds this request's predictions
   * (`Forecast.request`), made once for every policy of a run; otherwise the replay makes its own.
   */
  request(req: TraceRequest, forecast?: Forecast): void {
    const { model, policy, options } = this;
    const layers = model.layers;
    const pools = layers.map(() => new SlotPool(options.slots));
    const clocks = layers.map(() => 0);
    const next = policy.needsFuture ? nextUses(req, layers) : undefined;
    if (policy.prefetch) {
      if (forecast) {
        if (forecast.depth < policy.prefetch.depth) throw new Error(`internal: a forecast ${forecast.depth} steps deep for a policy that looks ${policy.prefetch.depth} ahead`);
        this.forecast = forecast;
      } else {
        this.ownForecast ??= Replay.forecast(model, options, policy.prefetch.depth);
        this.forecast = this.ownForecast;
        this.forecast.request(req.tokens);
      }
      if (!this.calibration || !options.warmStatistics) this.calibration = new RankCalibration(policy.prefetch.depth, this.forecast.experts);
    }
    for (const steps of this.consulted) steps.fill(-1);
    const degrade = policy.onMiss.kind === 'degrade' ? DTYPE_BYTES[policy.onMiss.dtype] : undefined;
    const bw = options.deviceBandwidth;
    const r = this.r;
    this.link.reset();
    let now = 0;
    for (const [t, token] of req.tokens.entries()) {
      const degradedBefore = r.degraded;
      for (const [l, layer] of layers.entries()) {
        const step = t * layers.length + l;
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
          if (slot && this.link.arrivedBy(slot, start)) {
            r.hits++;
            if (slot.prefetched) r.usefulPrefetches++;
            slot.prefetched = false;
            readBytes += bytes;
            continue;
          }
          // Run the low-precision copy, or wait? `fillFirst` waits while the pool still has room (a request's start).
          const copy = degrade !== undefined && !(policy.fillFirst && !slot && !pool.full);
          let arrival: number;
          if (slot) {
            if (slot.prefetched) r.latePrefetches++;
            slot.prefetched = false;
            // A degrading layer does not wait for it: only a waiting one needs to know when it comes.
            arrival = copy ? Infinity : this.link.arrival(slot);
          } else if (copy && this.link.demandArrival(start, bytes) - start > (policy.admit ?? Infinity) * this.layerSeconds) {
            arrival = Infinity; // served by the copy; not worth a slot
          } else {
            let victim = -1;
            if (pool.full) {
              // A prefetching policy knows the layer's whole choice from its router: it keeps this token's other experts.
              const candidates = this.candidates;
              candidates.length = 0;
              for (const x of pool.slots.keys()) if (!policy.prefetch || !token[l]!.includes(x)) candidates.push(x);
              if (candidates.length === 0) for (const x of pool.slots.keys()) candidates.push(x);
              victim = policy.prefetch && policy.predictiveEviction ? this.leastLikelyNext(step, candidates) : policy.eviction(pool, candidates);
            }
            if (victim >= 0 && copy && policy.admitMoreFrequent && (pool.uses.get(e) ?? 0) <= (pool.uses.get(victim) ?? 0)) {
              // The copy serves it, and it is not loaded: it has not been used more than the expert it would replace.
              r.degraded++;
              readBytes += layer.expertParams[e]! * degrade!;
              continue;
            }
            if (victim >= 0) this.evict(pool, victim, start);
            const slot: Slot = { expert: e, prefetched: false };
            pool.insert(slot);
            arrival = this.link.demand(start, bytes, slot);
          }
          if (copy) {
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
        if (policy.prefetch) {
          this.calibrate(step, token[l]!);
          this.prefetch(step, pools, clocks, start);
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

  /** Issue the policy's prefetches at the point after step p's router (step: token * layers + layer). */
  private prefetch(p: number, pools: SlotPool[], clocks: number[], now: number): void {
    const spec = this.policy.prefetch!;
    const layers = this.model.layers;
    const calibration = this.calibration!;
    const forecast = this.forecast!;
    for (let step = 1; step <= spec.depth; step++) {
      const target = p + step;
      const l = target % layers.length;
      const layer = layers[l]!;
      const pool = pools[l]!;
      this.consulted[step - 1]![target % (spec.depth + 1)] = target;
      const ranking = forecast.order(step, p);
      const rank = forecast.rank(step, p);
      const likely = (e: number) => calibration.probability(step, rank[e]!) >= spec.threshold;
      for (let i = 0; i < Math.min(spec.top, pool.capacity); i++) {
        const e = ranking[i]!;
        if (!likely(e)) break;
        const bytes = layer.expertBytes[e]!;
        if (pool.has(e) || layer.resident[e] || bytes === 0) continue;
        if (spec.onlyInTime && this.link.prefetchArrival(now, bytes) > now + step * this.layerSeconds) return;
        if (pool.full) {
          // Give up an expert not predicted likely (the base policy picks which), else the least likely one ranked below e.
          const unlikely = this.candidates;
          unlikely.length = 0;
          let below = -1;
          for (const x of pool.slots.keys()) {
            if (!likely(x)) unlikely.push(x);
            if (rank[x]! > i && (below < 0 || rank[x]! > rank[below]!)) below = x;
          }
          if (below < 0) break;
          this.evict(pool, unlikely.length ? this.policy.eviction(pool, unlikely) : below, now);
        }
        const slot: Slot = { expert: e, prefetched: true };
        pool.insert(slot);
        this.link.prefetch(now, bytes, slot);
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
  private leastLikelyNext(step: number, candidates: readonly number[]): number {
    const scores = this.forecast!.nextScores(step);
    let least = candidates[0]!;
    for (let i = 1; i < candidates.length; i++) {
      const b = candidates[i]!;
      if (scores[b]! < scores[least]! || (scores[b] === scores[least] && b < least)) least = b;
    }
    return least;
  }

  /** Score the rankings this policy read for step p against what its router chose. */
  private calibrate(p: number, chosen: readonly number[]): void {
    const depth = this.policy.prefetch!.depth;
    const at = p % (depth + 1);
    for (let step = 1; step <= depth; step++) {
      if (this.consulted[step - 1]![at] !== p) continue;
      this.calibration!.record(step, this.forecast!.rank(step, p - step), chosen);
      this.consulted[step - 1]![at] = -1;
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
  return slotAccesses(req.tokens, layers).map((seq) => {
    const next = new Array<number>(seq.length);
    const seen = new Map<number, number>();
    for (let i = seq.length - 1; i >= 0; i--) {
      next[i] = seen.get(seq[i]!) ?? Infinity;
      seen.set(seq[i]!, i);
    }
    return next;
  });
}
