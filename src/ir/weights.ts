import type { Expert } from '../checker/model.js';
import type { Dim } from './types.js';

/**
 * The weights of one expert, in the order `ffn` and `moe` nodes take them. Names are the
 * last component of a tensor name (docs/weights.md). Shapes are for one expert; blocks stack
 * the experts of a group along a new leading dim.
 */
export interface ExpertWeight {
  name: string;
  shape: Dim[];
  fanIn: number;
}

export function expertWeights(e: Expert): ExpertWeight[] {
  if (e.kind !== 'ffn') return [];
  const inner = e.latent ?? e.input;
  const outer = e.latent ?? e.output;
  const matrices: [string, number, number][] = [];
  if (e.latent) matrices.push(['w_in', e.input, e.latent]);
  if (e.gated) matrices.push(['w_gate', inner, e.hidden]);
  matrices.push(['w_up', inner, e.hidden], ['w_down', e.hidden, outer]);
  if (e.latent) matrices.push(['w_out', e.latent, e.output]);
  return matrices.flatMap(([name, a, b]): ExpertWeight[] =>
    e.rank
      ? [
          { name: `${name}_a`, shape: [a, e.rank], fanIn: a },
          { name: `${name}_b`, shape: [e.rank, b], fanIn: e.rank },
        ]
      : [{ name, shape: [a, b], fanIn: a }],
  );
}

/** Split the weights of a moe (in group order) into each group's expertWeights list. */
export function weightsByGroup<T>(groups: readonly { expert: Expert }[], weights: readonly T[]): T[][] {
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
