import type { GraphBuilder, Node } from '../ir/graph.js';
import type { RouterSpec, RouterStage } from '../ir/ops.js';
import { selectionsPerToken } from '../ir/routing.js';

/** The per-row inputs a router may read besides its params. */
export interface RowInputs {
  x: Node;
  /** Token ids (hash routing), one per row. */
  tokenIds?: Node;
  /** Request ids, one per row, when coupling stages are scoped to a request. */
  requests?: Node;
}

/** A lowered router's decision: ids i32[R, k] (-1 for an empty slot) and their weights [R, k]. */
export interface Selection {
  ids: Node;
  w: Node;
}

/** A union's expert router runs only over the entries of the chosen groups. */
export interface Within {
  ids: Node;
  size: number;
}

/**
 * One router's pipeline as primitives. It mirrors the reference's row state
 * (src/runtime/reference/router.ts) so the numbers are the same bit for bit:
 *
 * - scores `s` [R, E];
 * - the live set, as a tensor that is -inf exactly at the entries out of play (from
 *   `group_limit` or a union's `group_mask`); absent while every entry is live;
 * - the key, `s` plus the selection bias when the router has one (the reference adds it at
 *   every use, wherever `select_bias` is written), -inf outside the live set;
 * - after selection, ids and weights gathered from the unbiased scores.
 *
 * A scoring stage after a group limit (softmax, sigmoid) sees only live entries: `mask` puts
 * the live set back onto the scores where a stage needs it.
 */
export function lowerRouter(b: GraphBuilder, r: RouterSpec, params: readonly Node[], nullEntries: readonly number[], rows: RowInputs, within?: Within): Selection {
  const lowering = new RouterLowering(b, r, params, nullEntries, rows);
  if (within) lowering.within(within);
  for (const stage of r.stages) lowering.stage(stage);
  return lowering.result();
}

class RouterLowering {
  private s: Node | undefined;
  private readonly bias: Node | undefined;
  private live: Node | undefined;
  /** Whether `s` is -inf wherever `live` is (trivially true without a live set). */
  private masked = true;
  private key: Node | undefined;
  private ids: Node | undefined;
  private w: Node | undefined;

  constructor(
    private readonly b: GraphBuilder,
    private readonly r: RouterSpec,
    params: readonly Node[],
    private readonly nullEntries: readonly number[],
    private readonly rows: RowInputs,
  ) {
    let p = 0;
    const src = r.source;
    if (src.op === 'linear') {
      this.s = b.add('matmul', [rows.x, params[p++]!], {});
      if (src.bias) this.s = b.add('add', [this.s, params[p++]!], {});
    }
    this.bias = r.selectBias ? params[p++] : undefined;
    if (src.op === 'hash') this.select(b.add('hash_select', [rows.tokenIds!], { k: src.k, seed: src.seed, width: r.width }));
    if (src.op === 'fixed') this.select(b.add('fixed_select', [rows.x], { experts: src.experts }));
  }

  /** A union: only the chosen groups' entries stay live (a selecting source ignores it, as in the reference). */
  within({ ids, size }: Within): void {
    if (this.s) this.restrict(this.b.add('group_mask', [this.currentKey(), ids], { size }));
  }

  stage(stage: RouterStage): void {
    const b = this.b;
    switch (stage.op) {
      case 'softmax':
        // Before selection: over the live scores; after it: over the selected weights.
        if (this.ids) this.w = b.add('softmax', [this.w!, this.ids], {});
        else this.setScores(b.add('softmax', [this.liveScores()], {}), true);
        return;
      case 'sigmoid':
        this.setScores(b.add('act', [this.s!], { fn: 'sigmoid' }), false);
        return;
      case 'select_bias':
        return; // in every key already
      case 'group_limit':
        this.restrict(b.add('group_limit', [this.currentKey()], { groups: stage.groups, keep: stage.keep, score: stage.score }));
        return;
      case 'topk':
        this.select(b.add('topk', [this.currentKey()], { k: stage.k }), this.s);
        return;
      case 'top_p':
        this.select(b.add('top_p', [this.currentKey(), this.s!], { p: stage.p, max: stage.max }), this.s);
        return;
      case 'expert_choice':
        this.select(b.add('expert_choice', [this.currentKey(), ...(this.rows.requests ? [this.rows.requests] : [])], { capacity: stage.capacity }), this.s);
        return;
      case 'normalize':
        this.w = b.add('normalize', [this.w!], {});
        return;
      case 'scale':
        this.w = b.add('scale', [this.w!], { factor: stage.factor });
        return;
      case 'capacity': {
        const requests = this.rows.requests ? [this.rows.requests] : [];
        this.ids = b.add('capacity', [this.ids!, this.w!, ...requests], { factor: stage.factor, drop: stage.drop, k: selectionsPerToken(this.r), experts: this.r.width });
        this.w = b.add('mul', [this.w!, b.add('fill', [this.ids], { value: 1, dtype: this.w!.type.dtype })], {});
        return;
      }
    }
  }

  result(): Selection {
    if (!this.ids || !this.w) throw new Error(`internal: router ${this.r.name} never selects`);
    return { ids: this.ids, w: this.w };
  }

  /** Scores, then -inf outside the live set: the key selection and group limits read. */
  private currentKey(): Node {
    if (this.key) return this.key;
    const base = this.bias ? this.b.add('add', [this.s!, this.bias], {}) : this.s!;
    this.key = this.live && !this.masked ? this.b.add('mask', [base, this.live], {}) : base;
    return this.key;
  }

  private liveScores(): Node {
    return this.live && !this.masked ? this.b.add('mask', [this.s!, this.live], {}) : this.s!;
  }

  private setScores(s: Node, masked: boolean): void {
    this.s = s;
    this.masked = masked || !this.live;
    this.key = undefined;
  }

  /** `restricted` is the key with -inf at every entry now out of play: the new live set. */
  private restrict(restricted: Node): void {
    this.live = restricted;
    this.key = restricted;
    // Without a selection bias the key is the score, so the restricted key is the restricted score.
    if (!this.bias) this.s = restricted;
    this.masked = !this.bias;
  }

  /** Null experts leave right after selection; weights come from the unbiased scores (1 without). */
  private select(chosen: Node, weights?: Node): void {
    this.ids = this.nullEntries.length ? this.b.add('drop', [chosen], { entries: [...this.nullEntries] }) : chosen;
    this.w = weights ? this.b.add('gather', [weights, this.ids], {}) : this.b.add('fill', [this.ids], { value: 1, dtype: this.rows.x.type.dtype });
  }
}
