// How far can an ONLINE policy get from routing decisions alone? For each shared trace: fit the
// strongest predictor this bench knows of a layer's experts from what a runtime has before that
// layer's router runs (the token's experts `lead` layers back and before, earlier tokens, counts
// learned online), report its accuracy, and turn its beliefs into the most hits any policy with
// those beliefs can expect with the loads that 3x LRU's speed leaves (src/offload/bound.ts,
// beliefChains), beside Belady's hit rate; and the hit rate online policies reach on the same
// beliefs (docs/offload.md, "What an online policy can reach from routing alone"). Printed as
// the Markdown table of docs/perf.md. The predictor's weights are fitted on the very trace it is
// scored on (in-sample): an optimistic stand-in for any online learner of the same information.
// The DeepSeek-V2-Lite trace takes long (a min-cost flow per request, layer, price and slot
// count): --requests N scores its first N requests, LRU and Belady on the same ones.
// Run: npm run build && npx tsx bench/offload-ceiling.ts [--only mixtral|deepseek] [--requests N] [--lead 1,2] [--slots 12,16] [--times 2] [--speedup 3] [--prices 0.2,0.3]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadModel } from '../dist/cli/load.js';
import { policiesFor } from '../dist/cli/commands/simulate.js';
import { beliefChains, hitBound } from '../dist/offload/bound.js';
import { offloadModel, traceShape } from '../dist/offload/model.js';
import { Replay } from '../dist/offload/simulate.js';
import { parseTrace } from '../dist/offload/trace.js';
import { arg, cases, link, multiples, root, traces } from './offload-cases.js';

type Tokens = readonly (readonly (readonly number[])[])[];

const leads = (arg('--lead') ?? '1').split(',').map(Number);
const speedup = Number(arg('--speedup') ?? 3);
const maxRequests = Number(arg('--requests') ?? Infinity);
const slotCounts = arg('--slots')?.split(',').map(Number);
// Prices per load tried in the bound's minimum (any price gives a valid bound; more prices, a tighter one).
const lambdas = (arg('--prices') ?? '0,0.1,0.2,0.3,0.5,1').split(',').map(Number);

/**
 * The sources of a prediction for expert e at layer l of token t, all revealed before layer l's
 * router runs with `lead` layers of warning: this token at layers l - lead - j (j < LAYER_SOURCES),
 * and earlier tokens at layers near l (`TOKEN_SOURCES`: [tokens back, layers from l]). Each
 * source's score is the naive Bayes log ratio mean over a in source of log(P(e at l | a) / P(e at l)),
 * from counts learned online over every request so far and, separately, over this request alone.
 */
const LAYER_SOURCES = 8;
const TOKEN_SOURCES = [
  [1, 0],
  [1, -1],
  [1, 1],
  [2, 0],
] as const;
const SOURCES = LAYER_SOURCES + TOKEN_SOURCES.length;
const RECENT = 3;
const DECAYS = [0.5, 0.8, 0.95];
// log prior, two scores per source, e among the last RECENT tokens' experts, decayed and running frequencies in the request, bias.
const FEATURES = 1 + 2 * SOURCES + RECENT + DECAYS.length + 1 + 1;

class OnlineStatistics {
  private readonly global: CountTable;
  private readonly local: CountTable;
  private readonly seen: Float64Array;
  private readonly running: Float64Array;
  private readonly decayed: Float64Array[];

  constructor(
    private readonly layers: number,
    private readonly experts: number,
    private readonly lead: number,
  ) {
    this.global = new CountTable(layers, experts, 0.5);
    this.local = new CountTable(layers, experts, 0.1);
    this.seen = new Float64Array(layers * experts);
    this.running = new Float64Array(layers * experts);
    this.decayed = DECAYS.map(() => new Float64Array(layers * experts));
  }

  startRequest(): void {
    this.local.clear();
    this.running.fill(0);
    for (const d of this.decayed) d.fill(0);
  }

  private source(tokens: Tokens, t: number, l: number, s: number): readonly number[] | undefined {
    if (s >= LAYER_SOURCES) {
      const [back, shift] = TOKEN_SOURCES[s - LAYER_SOURCES]!;
      return t >= back ? tokens[t - back]![l + shift] : undefined;
    }
    const m = l - this.lead - s;
    return m >= 0 ? tokens[t]![m] : undefined;
  }

  /** Features of every expert at (t, l) into `out[e * FEATURES + f]`. */
  features(tokens: Tokens, t: number, l: number, out: Float32Array): void {
    const { experts } = this;
    const base = l * experts;
    const seenTotal = sum(this.seen, base, experts);
    const runTotal = sum(this.running, base, experts);
    for (let e = 0; e < experts; e++) {
      const o = e * FEATURES;
      let f = 0;
      out[o + f++] = Math.log((this.seen[base + e]! + 0.5) / (seenTotal + 0.5 * experts));
      for (let s = 0; s < SOURCES; s++) {
        const src = this.source(tokens, t, l, s);
        out[o + f++] = src ? this.global.score(l, s, src, e) : 0;
        out[o + f++] = src ? this.local.score(l, s, src, e) : 0;
      }
      for (let r = 1; r <= RECENT; r++) out[o + f++] = t >= r && tokens[t - r]![l]!.includes(e) ? 1 : 0;
      for (const d of this.decayed) out[o + f++] = d[base + e]!;
      out[o + f++] = Math.log((this.running[base + e]! + 0.1) / (runTotal + 0.1 * experts));
      out[o + f++] = 1;
    }
  }

  /** Learn from token t, now revealed at every layer. */
  reveal(tokens: Tokens, t: number): void {
    for (let l = 0; l < this.layers; l++) {
      const chosen = tokens[t]![l]!;
      for (let s = 0; s < SOURCES; s++) {
        const src = this.source(tokens, t, l, s);
        if (!src) continue;
        this.global.add(l, s, src, chosen);
        this.local.add(l, s, src, chosen);
      }
      const base = l * this.experts;
      DECAYS.forEach((d, i) => {
        const v = this.decayed[i]!;
        for (let e = 0; e < this.experts; e++) v[base + e]! *= d;
        for (const e of chosen) v[base + e]! += 1 - d;
      });
      for (const e of chosen) {
        this.seen[base + e]!++;
        this.running[base + e]!++;
      }
    }
  }
}

/** Pair counts [layer][source][a * experts + e] with add-`alpha` smoothing, and the scores read from them. */
class CountTable {
  private readonly pair: Float64Array;
  private readonly row: Float64Array;
  private readonly column: Float64Array;
  private readonly total: Float64Array;

  constructor(
    layers: number,
    private readonly experts: number,
    private readonly alpha: number,
  ) {
    this.pair = new Float64Array(layers * SOURCES * experts * experts);
    this.row = new Float64Array(layers * SOURCES * experts);
    this.column = new Float64Array(layers * SOURCES * experts);
    this.total = new Float64Array(layers * SOURCES);
  }

  clear(): void {
    for (const a of [this.pair, this.row, this.column, this.total]) a.fill(0);
  }

  add(l: number, s: number, source: readonly number[], chosen: readonly number[]): void {
    const { experts } = this;
    const ls = l * SOURCES + s;
    for (const a of source) {
      for (const e of chosen) this.pair[(ls * experts + a) * experts + e]!++;
      this.row[ls * experts + a]! += chosen.length;
    }
    for (const e of chosen) this.column[ls * experts + e]! += source.length;
    this.total[ls]! += source.length * chosen.length;
  }

  score(l: number, s: number, source: readonly number[], e: number): number {
    const { experts, alpha } = this;
    const ls = l * SOURCES + s;
    const logBase = Math.log((this.column[ls * experts + e]! + alpha) / (this.total[ls]! + alpha * experts));
    let v = 0;
    for (const a of source) v += Math.log((this.pair[(ls * experts + a) * experts + e]! + alpha) / (this.row[ls * experts + a]! + alpha * experts)) - logBase;
    return v / source.length;
  }
}

/** How much expert e is used from step t on at layer l: sum of FUTURE^h over its uses at t + h, over its most (1 / (1 - FUTURE)). */
const FUTURE = 0.9;
function futureUse(tokens: Tokens, t: number, l: number, experts: number): Float32Array {
  const y = new Float32Array(experts);
  let w = 1 - FUTURE;
  for (let h = t; h < tokens.length && w > 1e-4; h++, w *= FUTURE) for (const e of tokens[h]![l]!) y[e]! += w;
  return y;
}

/**
 * An online policy, degrading on a miss, that holds what `score` ranks high: before each step it
 * swaps the best-scored expert it does not hold for the worst-scored one it holds while the first
 * scores `margin` more (hysteresis: a load pays only if the expert stays wanted), one load each,
 * every load taken to arrive in time. The score is either this step's belief or the predicted
 * future use (`futureUse`). Returns its hits and loads on one (request, layer).
 */
function hysteresis(score: Float64Array, chosen: (t: number) => readonly number[], experts: number, slots: number, margin: number): { hits: number; loads: number } {
  const held = new Uint8Array(experts);
  const order = Array.from({ length: experts }, (_, e) => e);
  let hits = 0;
  let loads = 0;
  let count = 0;
  for (let t = 0; t < score.length / experts; t++) {
    const p = score.subarray(t * experts, (t + 1) * experts);
    order.sort((a, b) => p[b]! - p[a]!);
    let i = 0;
    let j = experts - 1;
    for (;;) {
      while (i < experts && held[order[i]!]) i++;
      while (j >= 0 && !held[order[j]!]) j--;
      if (i >= experts) break;
      if (count < slots) {
        held[order[i]!] = 1;
        count++;
        loads++;
        continue;
      }
      if (j < 0 || j < i || p[order[i]!]! - p[order[j]!]! <= margin) break;
      held[order[j]!] = 0;
      held[order[i]!] = 1;
      loads++;
    }
    for (const e of chosen(t)) if (held[e]) hits++;
  }
  return { hits, loads };
}
const MARGINS = [0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8];

function sum(a: Float64Array, from: number, n: number): number {
  let s = 0;
  for (let i = from; i < from + n; i++) s += a[i]!;
  return s;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * The first stage scores each expert alone; the second calibrates the scores of a whole step
 * together: its features are the first stage's logit, the log of its share of the step's total
 * (a token selects exactly k), and the expert's rank at the step (one indicator per rank up to
 * RANKS), so that, fitted, the beliefs of the experts ranked r are right on average for every r.
 */
const RANKS = 24;
const CALIBRATION = 2 + RANKS + 1;

function predictStep(x: Float32Array, first: Float64Array, second: Float64Array, experts: number, k: number, order: number[], p: Float64Array, row?: Float32Array): void {
  let total = 0;
  for (let e = 0; e < experts; e++) {
    let z = 0;
    for (let f = 0; f < FEATURES; f++) z += first[f]! * x[e * FEATURES + f]!;
    p[e] = z;
    total += sigmoid(z);
  }
  order.sort((a, b) => p[b]! - p[a]!);
  const c = row ?? new Float32Array(experts * CALIBRATION);
  c.fill(0);
  order.forEach((e, rank) => {
    const o = e * CALIBRATION;
    c[o] = p[e]!;
    c[o + 1] = Math.log((k * sigmoid(p[e]!)) / total);
    if (rank < RANKS) c[o + 2 + rank] = 1;
    c[o + CALIBRATION - 1] = 1;
  });
  for (let e = 0; e < experts; e++) {
    let z = 0;
    for (let f = 0; f < CALIBRATION; f++) z += second[f]! * c[e * CALIBRATION + f]!;
    p[e] = sigmoid(z);
  }
  order.sort((a, b) => p[b]! - p[a]!);
}

/** Logistic regression by Newton's method on rows of `width` (a tiny ridge keeps the Hessian invertible). */
function fitLogistic(x: Float32Array, y: Uint8Array | Float32Array, width: number, iterations = 8): Float64Array {
  const FEATURES = width;
  const n = y.length;
  const w = new Float64Array(FEATURES);
  for (let it = 0; it < iterations; it++) {
    const grad = new Float64Array(FEATURES);
    const hess = new Float64Array(FEATURES * FEATURES);
    for (let i = 0; i < n; i++) {
      const o = i * FEATURES;
      let z = 0;
      for (let f = 0; f < FEATURES; f++) z += w[f]! * x[o + f]!;
      const p = sigmoid(z);
      const r = p - y[i]!;
      const v = p * (1 - p);
      for (let f = 0; f < FEATURES; f++) {
        grad[f]! += r * x[o + f]!;
        for (let g = 0; g <= f; g++) hess[f * FEATURES + g]! += v * x[o + f]! * x[o + g]!;
      }
    }
    for (let f = 0; f < FEATURES; f++) {
      grad[f]! += 1e-6 * n * w[f]!;
      hess[f * FEATURES + f]! += 1e-6 * n;
      for (let g = 0; g < f; g++) hess[g * FEATURES + f] = hess[f * FEATURES + g]!;
    }
    const step = solve(hess, grad, FEATURES);
    for (let f = 0; f < FEATURES; f++) w[f]! -= step[f]!;
  }
  return w;
}

/** Solves the symmetric positive definite system a x = b by Gaussian elimination. */
function solve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    for (let r = c + 1; r < n; r++) {
      const k = m[r * n + c]! / m[c * n + c]!;
      for (let j = c; j < n; j++) m[r * n + j]! -= k * m[c * n + j]!;
      x[r]! -= k * x[c]!;
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    for (let j = c + 1; j < n; j++) x[c]! -= m[c * n + j]! * x[j]!;
    x[c]! /= m[c * n + c]!;
  }
  return x;
}

/** Streams every (request, token, layer) through the online statistics, in the trace's order. */
function forEachStep(requests: readonly { tokens: Tokens }[], stats: OnlineStatistics, layers: number, visit: (r: number, t: number, l: number) => void): void {
  requests.forEach((req, r) => {
    stats.startRequest();
    for (let t = 0; t < req.tokens.length; t++) {
      for (let l = 0; l < layers; l++) visit(r, t, l);
      stats.reveal(req.tokens, t);
    }
  });
}

for (const c of cases) {
  const model = loadModel(join(root, 'examples', c.model), {});
  const offload = offloadModel(model);
  const { meta, requests: all } = parseTrace(gunzipSync(readFileSync(join(traces, c.trace))).toString('utf8'), traceShape(offload));
  const requests = all.slice(0, maxRequests);
  const layers = offload.layers.length;
  const experts = offload.layers[0]!.expertBytes.length;
  const k = c.k;
  const tokens = requests.reduce((n, r) => n + r.tokens.length, 0);
  const steps = tokens * layers;
  // Enough sampled steps per layer to fit the weights, few enough to hold in memory.
  const sampleEvery = Math.max(1, Math.floor(tokens / 600));
  const bytes = Math.max(...offload.layers.flatMap((l) => l.expertBytes));
  const loadSeconds = link.latency + bytes / link.bandwidth;
  const slotList = slotCounts ?? multiples.map((m) => m * k);
  const baseline = slotList.map((slots) => {
    const options = { slots, activeExperts: k, link, deviceBandwidth: 200e9, predictor: { layerLags: 8, tokenLags: 2 }, warmStatistics: true };
    const replays = policiesFor(['lru'], model, { slots, active: k, layers }).map((p) => new Replay(offload, p, options));
    for (const req of requests) for (const r of replays) r.request(req);
    const [lru, belady] = ['lru', 'belady'].map((name) => replays.find((r) => r.policy.name === name)!.result());
    // The link moves one expert at a time, so `speedup` times LRU's tokens/s leaves this many loads.
    return { slots, lru: lru!, belady: belady!, loads: tokens / (speedup * lru!.tokensPerSecond) / loadSeconds };
  });
  console.error(`${c.key}: ${requests.length} requests, ${tokens} tokens; fitting every ${sampleEvery}th token`);
  console.log(`\n${meta.model}, ${requests.length} requests, ${tokens} tokens, link ${link.name}: LRU and Belady on the same requests\n`);
  console.log(`| lead | log loss | top-${k} precision | slots | top-slots hit rate, loads free: expected (realised) | LRU tokens/s | loads per token at ${speedup}x LRU | Belady hit rate | best expected hit rate at ${speedup}x LRU | online policy on these beliefs / on predicted future use | the same, the step's experts known |`);
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const lead of leads) {
    const started = performance.now();
    // Pass 1: fit one predictor per layer on sampled steps.
    const rows = Array.from({ length: layers }, () => ({ x: [] as Float32Array[], y: [] as Uint8Array[], future: [] as Float32Array[] }));
    let stats = new OnlineStatistics(layers, experts, lead);
    let step = 0;
    forEachStep(requests, stats, layers, (r, t, l) => {
      if (step++ % (sampleEvery * layers) >= layers) return;
      const x = new Float32Array(experts * FEATURES);
      stats.features(requests[r]!.tokens, t, l, x);
      const y = new Uint8Array(experts);
      for (const e of requests[r]!.tokens[t]![l]!) y[e] = 1;
      rows[l]!.x.push(x);
      rows[l]!.y.push(y);
      rows[l]!.future.push(futureUse(requests[r]!.tokens, t, l, experts));
    });
    const first = rows.map((rw) => fitLogistic(concat(rw.x, Float32Array), concat(rw.y, Uint8Array), FEATURES));
    const future = rows.map((rw) => fitLogistic(concat(rw.x, Float32Array), concat(rw.future, Float32Array), FEATURES));
    const order = Array.from({ length: experts }, (_, e) => e);
    const identity = new Float64Array(CALIBRATION);
    identity[0] = 1;
    const second = rows.map((rw, l) => {
      const calibration = rw.x.map((x) => {
        const c = new Float32Array(experts * CALIBRATION);
        predictStep(x, first[l]!, identity, experts, k, order, new Float64Array(experts), c);
        return c;
      });
      return fitLogistic(concat(calibration, Float32Array), concat(rw.y, Uint8Array), CALIBRATION);
    });
    console.error(`lead ${lead}: fitted in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    // Pass 2: every step's beliefs, scored, and per (request, layer) the best held sets at each price.
    stats = new OnlineStatistics(layers, experts, lead);
    const x = new Float32Array(experts * FEATURES);
    let logLoss = 0;
    let precise = 0;
    const expected = slotList.map(() => 0);
    const realised = slotList.map(() => 0);
    const optima = lambdas.map(() => slotList.map(() => ({ hits: 0, loads: 0 })));
    const online = MARGINS.map(() => slotList.map(() => ({ hits: 0, loads: 0 })));
    const onlineFuture = MARGINS.map(() => slotList.map(() => ({ hits: 0, loads: 0 })));
    const onlineKnown = MARGINS.map(() => slotList.map(() => ({ hits: 0, loads: 0 })));
    let beliefs: Float64Array[] = [];
    let values: Float64Array[] = [];
    let known: Float64Array[] = [];
    let current = -1;
    const flush = () => {
      beliefs.forEach((b, l) => {
        const req = requests[current]!;
        slotList.forEach((slots, s) => {
          MARGINS.forEach((margin, j) => {
            for (const [score, sums] of [[b, online], [values[l]!, onlineFuture], [known[l]!, onlineKnown]] as const) {
              const o = hysteresis(score, (t) => req.tokens[t]![l]!, experts, slots, margin);
              sums[j]![s]!.hits += o.hits;
              sums[j]![s]!.loads += o.loads;
            }
          });
        });
        slotList.forEach((slots, s) => {
          lambdas.forEach((lambda, j) => {
            const o = beliefChains(b, experts, slots, lambda);
            optima[j]![s]!.hits += o.hits;
            optima[j]![s]!.loads += o.loads;
          });
        });
      });
    };
    forEachStep(requests, stats, layers, (r, t, l) => {
      const req = requests[r]!;
      if (t === 0 && l === 0) {
        flush();
        current = r;
        beliefs = Array.from({ length: layers }, () => new Float64Array(req.tokens.length * experts));
        values = Array.from({ length: layers }, () => new Float64Array(req.tokens.length * experts));
        known = Array.from({ length: layers }, () => new Float64Array(req.tokens.length * experts));
      }
      stats.features(req.tokens, t, l, x);
      const p = beliefs[l]!.subarray(t * experts, (t + 1) * experts);
      const v = values[l]!.subarray(t * experts, (t + 1) * experts);
      for (let e = 0; e < experts; e++) {
        let z = 0;
        for (let f = 0; f < FEATURES; f++) z += future[l]![f]! * x[e * FEATURES + f]!;
        v[e] = sigmoid(z);
      }
      predictStep(x, first[l]!, second[l]!, experts, k, order, p);
      const chosen = req.tokens[t]![l]!;
      // Predicted future use with this step's part known exactly: what a perfect next-layer
      // predictor (the gate applied to the hidden state) would add to routing statistics.
      const kv = known[l]!.subarray(t * experts, (t + 1) * experts);
      for (let e = 0; e < experts; e++) kv[e] = v[e]! + (1 - FUTURE) * ((chosen.includes(e) ? 1 : 0) - p[e]!);
      for (let e = 0; e < experts; e++) logLoss -= Math.log(Math.min(1 - 1e-9, Math.max(1e-9, chosen.includes(e) ? p[e]! : 1 - p[e]!)));
      for (let i = 0; i < k; i++) if (chosen.includes(order[i]!)) precise++;
      slotList.forEach((slots, s) => {
        for (let i = 0; i < slots; i++) {
          expected[s]! += p[order[i]!]!;
          if (chosen.includes(order[i]!)) realised[s]!++;
        }
      });
    });
    flush();
    console.error(`lead ${lead}: scored and bounded in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    const accesses = steps * k;
    slotList.forEach((slots, s) => {
      const b = baseline[s]!;
      const bound = hitBound(lambdas, optima.map((o) => [o[s]!]), b.loads);
      // The online policy's best hit rate within the load budget, over the margins tried.
      const best = (sums: { hits: number; loads: number }[][]) => sums.map((o) => o[s]!).filter((o) => o.loads <= b.loads).reduce((most, o) => Math.max(most, o.hits), 0);
      console.log(`| ${lead} | ${(logLoss / (steps * experts)).toFixed(4)} | ${(precise / accesses).toFixed(3)} | ${slots} | ${(expected[s]! / accesses).toFixed(3)} (${(realised[s]! / accesses).toFixed(3)}) | ${b.lru.tokensPerSecond.toPrecision(3)} | ${(b.loads / tokens).toFixed(1)} | ${b.belady.hitRate.toFixed(3)} | ${Math.min(1, bound.hits / accesses).toFixed(3)} (price ${bound.lambda}) | ${(best(online) / accesses).toFixed(3)} / ${(best(onlineFuture) / accesses).toFixed(3)} | ${(best(onlineKnown) / accesses).toFixed(3)} |`);
    });
  }
}

function concat<T extends Float32Array | Uint8Array>(parts: T[], Kind: { new (n: number): T }): T {
  const out = new Kind(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
