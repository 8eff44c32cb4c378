import type { GraphBuilder, Node } from '../ir/graph.js';
import type { RouterSpec } from '../ir/ops.js';
import { selectionsPerToken } from '../ir/routing.js';
import type { StageLowering } from '../stages/stage.js';
import { stageDef } from '../stages/table.js';

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
 * the live set back onto the scores where a stage needs it. Each stage lowers itself through
 * this state (its definition in src/stages).
 */
export function lowerRouter(b: GraphBuilder, r: RouterSpec, params: readonly Node[], nullEntries: readonly number[], rows: RowInputs, within?: Within): Selection {
  const lowering = new RouterLowering(b, r, params, nullEntries, rows);
  if (within) lowering.within(within);
  for (const stage of r.stages) stageDef(stage).lower(stage, lowering);
  const sel = lowering.selected();
  if (!sel) throw new Error(`internal: router ${r.name} never selects`);
  return sel;
}

class RouterLowering implements StageLowering {
  private s: Node | undefined;
  private readonly bias: Node | undefined;
  private live: Node | undefined;
  /** Whether `s` is -inf wherever `live` is (trivially true without a live set). */
  private masked = true;
  private cachedKey: Node | undefined;
  private sel: { ids: Node; w: Node } | undefined;
  readonly requests: Node | undefined;
  readonly perToken: number;

  constructor(
    readonly b: GraphBuilder,
    readonly router: RouterSpec,
    params: readonly Node[],
    private readonly nullEntries: readonly number[],
    private readonly rows: RowInputs,
  ) {
    this.requests = rows.requests;
    this.perToken = selectionsPerToken(router);
    let p = 0;
    const src = router.source;
    if (src.op === 'linear') {
      this.s = b.add('matmul', [rows.x, params[p++]!], {});
      if (src.bias) this.s = b.add('add', [this.s, params[p++]!], {});
    }
    this.bias = router.selectBias ? params[p++] : undefined;
    if (src.op === 'hash') this.select(b.add('hash_select', [rows.tokenIds!], { k: src.k, seed: src.seed, width: router.width }));
    if (src.op === 'fixed') this.select(b.add('fixed_select', [rows.x], { experts: src.experts }));
  }

  /** A union: only the chosen groups' entries stay live (a selecting source ignores it, as in the reference). */
  within({ ids, size }: Within): void {
    if (this.s) this.restrict(this.b.add('group_mask', [this.key(), ids], { size }));
  }

  key(): Node {
    if (this.cachedKey) return this.cachedKey;
    const base = this.bias ? this.b.add('add', [this.scores(), this.bias], {}) : this.scores();
    this.cachedKey = this.live && !this.masked ? this.b.add('mask', [base, this.live], {}) : base;
    return this.cachedKey;
  }

  scores(): Node {
    if (!this.s) throw new Error(`internal: router ${this.router.name} has no scores`);
    return this.s;
  }

  liveScores(): Node {
    return this.live && !this.masked ? this.b.add('mask', [this.scores(), this.live], {}) : this.scores();
  }

  setScores(s: Node, masked: boolean): void {
    this.s = s;
    this.masked = masked || !this.live;
    this.cachedKey = undefined;
  }

  restrict(restricted: Node): void {
    this.live = restricted;
    this.cachedKey = restricted;
    // Without a selection bias the key is the score, so the restricted key is the restricted score.
    if (!this.bias) this.s = restricted;
    this.masked = !this.bias;
  }

  setKey(key: Node): void {
    this.cachedKey = key;
  }

  select(chosen: Node, weights?: Node): void {
    const ids = this.nullEntries.length ? this.b.add('drop', [chosen], { entries: [...this.nullEntries] }) : chosen;
    this.sel = { ids, w: weights ? this.b.add('gather', [weights, ids], {}) : this.b.add('fill', [ids], { value: 1, dtype: this.rows.x.type.dtype }) };
  }

  selected(): { ids: Node; w: Node } | undefined {
    return this.sel;
  }

  setSelected(ids: Node, w: Node): void {
    this.sel = { ids, w };
  }
}
