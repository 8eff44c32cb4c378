import { expertStructure, type ExpertWeight } from '../model/expert-structure.js';
import type { ExpertSpec } from './ops.js';

export type { ExpertWeight };

/** The weights of one expert, in the order `ffn` and `moe` nodes take them (none for identity and null experts). */
export function expertWeights(e: ExpertSpec): ExpertWeight[] {
  return e.kind === 'ffn' ? expertStructure(e).weights : [];
}

/** Split the weights of a moe (in group order) into each group's expertWeights list. */
export function weightsByGroup<T>(groups: readonly { expert: ExpertSpec }[], weights: readonly T[]): T[][] {
  let next = 0;
  return groups.map((g) => {
    const n = expertWeights(g.expert).length;
    next += n;
    return weights.slice(next - n, next);
  });
}

/**
 * Names call sites within one layer: the first call of `moe` is `moe`, the second `moe@1`.
 * Norm gains and every block or dense expert call get their own weights per site.
 */
export class SiteNamer {
  private readonly seen = new Map<string, number>();

  next(callee: string): string {
    const n = this.seen.get(callee) ?? 0;
    this.seen.set(callee, n + 1);
    return n === 0 ? callee : `${callee}@${n}`;
  }
}
