/**
 * Which experts a token will select at a layer it has not reached, from what a runtime knows
 * at that moment: the experts this token selected at earlier layers, the experts earlier
 * tokens selected at that layer, and co-occurrence counts learned online from both.
 *
 * A naive Bayes score: for target layer j and candidate e,
 *   log P(e at j) + sum over known sources s of mean over a in s of log(P(e at j | a in s) / P(e at j))
 * where a source is this token at layer j - d (d = 1..layerLags) or token t - d at layer j
 * (d = 1..tokenLags). Counts are add-half smoothed. Only sources already revealed are used,
 * so a prediction several layers ahead uses fewer of them.
 */
export interface PredictorOptions {
  layerLags: number;
  tokenLags: number;
}

/** What has been revealed of a request: tokens before `token`, and `token` up to layer `layer`. */
export interface Revealed {
  token: number;
  layer: number;
  experts(token: number, layer: number): readonly number[];
}

/** log(n + 0.5) for whole counts n, from a table that grows as counts do (learning takes millions). */
let LOG_HALF = new Float64Array(0);
function logHalf(n: number): number {
  if (n >= LOG_HALF.length) {
    const grown = new Float64Array(Math.max(1024, 2 * n));
    grown.set(LOG_HALF);
    for (let i = LOG_HALF.length; i < grown.length; i++) grown[i] = Math.log(i + 0.5);
    LOG_HALF = grown;
  }
  return LOG_HALF[n]!;
}

/**
 * The simulator asks for several predictions at every step of every token, so the tables are
 * typed arrays and every logarithm scoring needs is kept up to date as counts change; scoring
 * only adds, and nothing is allocated per step.
 */
export class CoOccurrencePredictor {
  private readonly sources: number;
  /** Indexed [layer][source][a * experts + e]: tokens that selected a at the source and e at the layer. */
  private readonly pair: Float64Array[][];
  /** log(pair + 0.5), kept in step with `pair`. */
  private readonly logPair: Float64Array[][];
  private readonly rowTotal: Float64Array[][];
  /** log(rowTotal + experts / 2), kept in step with `rowTotal`. */
  private readonly logRow: Float64Array[][];
  private readonly single: Float64Array[];
  private readonly tokensSeen: Float64Array;
  /** log P(e at layer), recomputed when the layer learns (`priorStale`). */
  private readonly logPrior: Float64Array[];
  private readonly priorStale: Uint8Array;
  private selected = 0;
  private readonly scratch: Float64Array;

  constructor(
    layers: number,
    readonly experts: number,
    readonly options: PredictorOptions,
  ) {
    const sources = (this.sources = options.layerLags + options.tokenLags);
    const table = (fill: number, size: number) => Array.from({ length: layers }, () => Array.from({ length: sources }, () => new Float64Array(size).fill(fill)));
    this.pair = table(0, experts * experts);
    this.logPair = table(Math.log(0.5), experts * experts);
    this.rowTotal = table(0, experts);
    this.logRow = table(Math.log(0.5 * experts), experts);
    this.single = Array.from({ length: layers }, () => new Float64Array(experts));
    this.tokensSeen = new Float64Array(layers);
    this.logPrior = Array.from({ length: layers }, () => new Float64Array(experts));
    this.priorStale = new Uint8Array(layers).fill(1);
    this.scratch = new Float64Array(experts);
  }

  /** The token that source `s` of target (token, layer) reads. */
  private sourceToken(s: number, token: number): number {
    return s < this.options.layerLags ? token : token - 1 - (s - this.options.layerLags);
  }

  /** The layer that source `s` of target (token, layer) reads. */
  private sourceLayer(s: number, layer: number): number {
    return s < this.options.layerLags ? layer - 1 - s : layer;
  }

  private isRevealed(r: Revealed, token: number, layer: number): boolean {
    return token >= 0 && layer >= 0 && (token < r.token || (token === r.token && layer <= r.layer));
  }

  /** Learn from (token, layer) once it is revealed. */
  learn(r: Revealed, token: number, layer: number): void {
    const chosen = r.experts(token, layer);
    const E = this.experts;
    const single = this.single[layer]!;
    for (let i = 0; i < chosen.length; i++) single[chosen[i]!]!++;
    this.tokensSeen[layer]!++;
    this.priorStale[layer] = 1;
    if (chosen.length > this.selected) {
      this.selected = chosen.length;
      this.priorStale.fill(1);
    }
    for (let s = 0; s < this.sources; s++) {
      const t = this.sourceToken(s, token);
      const l = this.sourceLayer(s, layer);
      if (!this.isRevealed(r, t, l)) continue;
      const pair = this.pair[layer]![s]!;
      const logPair = this.logPair[layer]![s]!;
      const rows = this.rowTotal[layer]![s]!;
      const logRow = this.logRow[layer]![s]!;
      const known = r.experts(t, l);
      for (let j = 0; j < known.length; j++) {
        const a = known[j]!;
        rows[a]! += chosen.length;
        logRow[a] = Math.log(rows[a]! + 0.5 * E);
        const base = a * E;
        for (let i = 0; i < chosen.length; i++) logPair[base + chosen[i]!] = logHalf(++pair[base + chosen[i]!]!);
      }
    }
  }

  private prior(layer: number): Float64Array {
    const prior = this.logPrior[layer]!;
    if (this.priorStale[layer]) {
      const E = this.experts;
      const single = this.single[layer]!;
      const total = this.tokensSeen[layer]! * Math.max(1, this.selected);
      for (let e = 0; e < E; e++) prior[e] = Math.log((single[e]! + 1) / (total + E));
      this.priorStale[layer] = 0;
    }
    return prior;
  }

  /** Scores of every expert at (token, layer) into `out`; higher is more likely. */
  scoresInto(r: Revealed, token: number, layer: number, out: Float64Array): Float64Array {
    const E = this.experts;
    out.fill(0, 0, E);
    // Each known source adds its mean log(P(e | a)) and takes one log P(e) away.
    let sources = 0;
    let norms = 0;
    for (let s = 0; s < this.sources; s++) {
      const t = this.sourceToken(s, token);
      const l = this.sourceLayer(s, layer);
      if (!this.isRevealed(r, t, l)) continue;
      const known = r.experts(t, l);
      if (known.length === 0) continue;
      sources++;
      const inv = 1 / known.length;
      const logPair = this.logPair[layer]![s]!;
      const logRow = this.logRow[layer]![s]!;
      for (let j = 0; j < known.length; j++) {
        const a = known[j]!;
        norms += logRow[a]! * inv;
        const base = a * E;
        for (let e = 0; e < E; e++) out[e]! += logPair[base + e]! * inv;
      }
    }
    const prior = this.prior(layer);
    for (let e = 0; e < E; e++) out[e] = out[e]! - norms + (1 - sources) * prior[e]!;
    return out;
  }

  /**
   * Every expert, most likely first (ties by lower id), into `order`; `rank[e]` is e's place
   * in it. Insertion sort: the order is total, so it is the one any sort gives.
   */
  rankInto(r: Revealed, token: number, layer: number, order: Int32Array, rank: Int32Array): void {
    const s = this.scoresInto(r, token, layer, this.scratch);
    const E = this.experts;
    for (let i = 0; i < E; i++) {
      const score = s[i]!;
      let j = i;
      // Experts come in id order, so an equal score never moves one ahead of a lower id.
      while (j > 0 && s[order[j - 1]!]! < score) {
        order[j] = order[j - 1]!;
        j--;
      }
      order[j] = i;
    }
    for (let i = 0; i < E; i++) rank[order[i]!] = i;
  }
}

/**
 * How often the expert ranked r for a step d ahead was then selected: the ranking's
 * scores are not probabilities, so the policy learns, from outcomes it has already seen, what
 * each rank is worth (a rank-1 guess one layer ahead may be right 90 % of the time, two
 * layers ahead less).
 */
export class RankCalibration {
  private readonly selected: Float64Array[];
  private readonly predictions: Float64Array;

  constructor(depth: number, experts: number) {
    this.selected = Array.from({ length: depth }, () => new Float64Array(experts));
    this.predictions = new Float64Array(depth);
  }

  /** A ranking made `depth` steps ahead (1-based; `rank[e]`: e's place in it) met its outcome. */
  record(depth: number, rank: Int32Array, chosen: readonly number[]): void {
    this.predictions[depth - 1]!++;
    const hits = this.selected[depth - 1]!;
    for (let i = 0; i < chosen.length; i++) hits[rank[chosen[i]!]!]!++;
  }

  /** The learned chance that the expert ranked `rank` (0-based) `depth` steps ahead is selected. */
  probability(depth: number, rank: number): number {
    const n = this.predictions[depth - 1]!;
    return n > 0 ? this.selected[depth - 1]![rank]! / n : 0;
  }
}

/**
 * The predictions the predictive policies read while one request is replayed, made once for
 * all of them: what the predictor knows depends on the trace alone, not on what a policy
 * did, so every policy (and every slot count) would compute the same numbers. At each step
 * p = token * layers + layer, in the order a replay runs it:
 * - `nextScores(p)`: the next token's scores at this layer, before step p is learned (what a
 *   demand eviction reads when the layer's router has chosen);
 * - step p is learned;
 * - `order(d, p)` and `rank(d, p)`: step p + d ranked, d = 1..depth (what prefetches read).
 * Each is made through a view that reveals the request only up to step p.
 */
export class Forecast {
  private predictor: CoOccurrencePredictor | undefined;
  private next = new Float64Array(0);
  private orders: Int32Array[] = [];
  private ranks: Int32Array[] = [];

  constructor(
    private readonly layers: number,
    readonly experts: number,
    private readonly options: PredictorOptions,
    readonly depth: number,
    /** Keep the learned counts from one request to the next. */
    private readonly warm: boolean,
  ) {}

  /** Make every prediction of a request (tokens[t][layer]: expert ids). */
  request(tokens: readonly (readonly (readonly number[])[])[]): void {
    const { layers, experts: E, depth } = this;
    if (!this.predictor || !this.warm) this.predictor = new CoOccurrencePredictor(layers, E, this.options);
    const steps = tokens.length * layers;
    if (this.next.length < steps * E) {
      this.next = new Float64Array(steps * E);
      this.orders = Array.from({ length: depth }, () => new Int32Array(steps * E));
      this.ranks = Array.from({ length: depth }, () => new Int32Array(steps * E));
    }
    const revealed: Revealed = {
      token: 0,
      layer: -1,
      experts(t, l) {
        if (t > this.token || (t === this.token && l > this.layer)) throw new Error(`internal: the predictor looked ahead at token ${t}, layer ${l}`);
        return tokens[t]![l]!;
      },
    };
    const predictor = this.predictor;
    for (let p = 0; p < steps; p++) {
      const t = Math.floor(p / layers);
      const l = p % layers;
      revealed.token = t;
      revealed.layer = l;
      predictor.scoresInto(revealed, t + 1, l, this.next.subarray(p * E, (p + 1) * E));
      predictor.learn(revealed, t, l);
      for (let d = 1; d <= depth; d++) {
        const target = p + d;
        predictor.rankInto(revealed, Math.floor(target / layers), target % layers, this.orders[d - 1]!.subarray(p * E, (p + 1) * E), this.ranks[d - 1]!.subarray(p * E, (p + 1) * E));
      }
    }
  }

  nextScores(p: number): Float64Array {
    return this.next.subarray(p * this.experts, (p + 1) * this.experts);
  }

  order(d: number, p: number): Int32Array {
    return this.orders[d - 1]!.subarray(p * this.experts, (p + 1) * this.experts);
  }

  rank(d: number, p: number): Int32Array {
    return this.ranks[d - 1]!.subarray(p * this.experts, (p + 1) * this.experts);
  }
}
