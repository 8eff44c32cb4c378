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
const LOG_HALF: number[] = [];
function logHalf(n: number): number {
  while (LOG_HALF.length <= n) LOG_HALF.push(Math.log(LOG_HALF.length + 0.5));
  return LOG_HALF[n]!;
}

export class CoOccurrencePredictor {
  private readonly pair: Float64Array[][];
  /** log(pair + 0.5), kept in step with `pair` so that scoring only adds. */
  private readonly logPair: Float64Array[][];
  private readonly rowTotal: Float64Array[][];
  private readonly single: Float64Array[];
  private readonly tokensSeen: Float64Array;
  private selected = 0;

  constructor(
    layers: number,
    readonly experts: number,
    readonly options: PredictorOptions,
  ) {
    const sources = options.layerLags + options.tokenLags;
    this.pair = Array.from({ length: layers }, () => Array.from({ length: sources }, () => new Float64Array(experts * experts)));
    this.logPair = Array.from({ length: layers }, () => Array.from({ length: sources }, () => new Float64Array(experts * experts).fill(Math.log(0.5))));
    this.rowTotal = Array.from({ length: layers }, () => Array.from({ length: sources }, () => new Float64Array(experts)));
    this.single = Array.from({ length: layers }, () => new Float64Array(experts));
    this.tokensSeen = new Float64Array(layers);
  }

  /** The source `s` of target (token, layer): [token, layer] it reads, before revealing. */
  private source(s: number, token: number, layer: number): [number, number] {
    const { layerLags } = this.options;
    return s < layerLags ? [token, layer - 1 - s] : [token - 1 - (s - layerLags), layer];
  }

  private isRevealed(r: Revealed, token: number, layer: number): boolean {
    return token >= 0 && layer >= 0 && (token < r.token || (token === r.token && layer <= r.layer));
  }

  /** Learn from (token, layer) once it is revealed. */
  learn(r: Revealed, token: number, layer: number): void {
    const chosen = r.experts(token, layer);
    const E = this.experts;
    for (const e of chosen) this.single[layer]![e]!++;
    this.tokensSeen[layer]!++;
    this.selected = Math.max(this.selected, chosen.length);
    for (let s = 0; s < this.pair[layer]!.length; s++) {
      const [t, l] = this.source(s, token, layer);
      if (!this.isRevealed(r, t, l)) continue;
      const pair = this.pair[layer]![s]!;
      const logPair = this.logPair[layer]![s]!;
      const rows = this.rowTotal[layer]![s]!;
      for (const a of r.experts(t, l)) {
        rows[a]! += chosen.length;
        for (const e of chosen) logPair[a * E + e] = logHalf(++pair[a * E + e]!);
      }
    }
  }

  /** Scores of every expert at (token, layer); higher is more likely. */
  scores(r: Revealed, token: number, layer: number): Float64Array {
    const E = this.experts;
    const out = new Float64Array(E);
    const single = this.single[layer]!;
    const total = this.tokensSeen[layer]! * Math.max(1, this.selected);
    // Each known source adds its mean log(P(e | a)) and takes one log P(e) away.
    let sources = 0;
    let norms = 0;
    for (let s = 0; s < this.pair[layer]!.length; s++) {
      const [t, l] = this.source(s, token, layer);
      if (!this.isRevealed(r, t, l)) continue;
      const known = r.experts(t, l);
      if (known.length === 0) continue;
      sources++;
      const inv = 1 / known.length;
      const logPair = this.logPair[layer]![s]!;
      const rows = this.rowTotal[layer]![s]!;
      for (const a of known) {
        norms += Math.log(rows[a]! + 0.5 * E) * inv;
        const base = a * E;
        for (let e = 0; e < E; e++) out[e]! += logPair[base + e]! * inv;
      }
    }
    for (let e = 0; e < E; e++) out[e] = out[e]! - norms + (1 - sources) * Math.log((single[e]! + 1) / (total + E));
    return out;
  }

  /** Every expert, most likely first (ties by lower id). */
  ranking(r: Revealed, token: number, layer: number): number[] {
    const s = this.scores(r, token, layer);
    return [...s.keys()].sort((a, b) => s[b]! - s[a]! || a - b);
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

  /** A ranking made `depth` steps ahead (1-based) met its outcome. */
  record(depth: number, ranking: readonly number[], chosen: readonly number[]): void {
    this.predictions[depth - 1]!++;
    const hits = this.selected[depth - 1]!;
    for (const e of chosen) hits[ranking.indexOf(e)]!++;
  }

  /** The learned chance that the expert ranked `rank` (0-based) `depth` steps ahead is selected. */
  probability(depth: number, rank: number): number {
    const n = this.predictions[depth - 1]!;
    return n > 0 ? this.selected[depth - 1]![rank]! / n : 0;
  }
}
