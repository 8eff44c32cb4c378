import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { beliefChains, bestChains, hitBound } from '../src/offload/bound.js';

/**
 * The exact offline optimum of hits - lambda * loads: before each access the policy may load any
 * experts (each costs lambda) and give up any, keeping at most `slots`; the access is a hit when
 * its expert is held. That is the optimum over held sets below with one step per access and a
 * belief of 1 for its expert.
 */
function bruteForce(seq: number[], slots: number, lambda: number): number {
  const experts = Math.max(0, ...seq) + 1;
  return bruteForceBeliefs(
    seq.map((e) => Array.from({ length: experts }, (_, i) => (i === e ? 1 : 0))),
    slots,
    lambda,
  );
}

/**
 * The exact optimum of beliefs held - lambda * loads over every sequence of held sets of at most
 * `slots` experts, one set per step (`belief[t][e]`), from an empty pool.
 */
function bruteForceBeliefs(belief: number[][], slots: number, lambda: number): number {
  const experts = belief[0]?.length ?? 0;
  const sets = Array.from({ length: 1 << experts }, (_, s) => s).filter((s) => popcount(s) <= slots);
  let best = new Map<number, number>([[0, 0]]);
  for (const step of belief) {
    const next = new Map<number, number>();
    for (const [from, value] of best) {
      for (const to of sets) {
        const v = value - lambda * popcount(to & ~from) + step.reduce((sum, p, e) => sum + ((to >> e) & 1) * p, 0);
        if (v > (next.get(to) ?? -Infinity)) next.set(to, v);
      }
    }
    best = next;
  }
  return Math.max(...best.values());
}

function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

describe('the offline bound on hits for a number of loads', () => {
  it('equals the exact optimum by dynamic programming on random tiny traces', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 14 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(0.25, 0.5, 1, 1.5, 2.5, 4), (seq, slots, lambda) => {
        const opt = bestChains(seq, slots, lambda);
        expect(opt.hits - lambda * opt.loads).toBeCloseTo(bruteForce(seq, slots, lambda), 9);
      }),
      { numRuns: 400, seed: 11 },
    );
  });

  it('a worked example: 0 1 0 2 1 0 with one slot', () => {
    // At a price of 1.5 a load pays only if it hits twice: hold 0 from its first access to its
    // last (3 hits, 1 load); nothing else fits beside it in one slot.
    expect(bestChains([0, 1, 0, 2, 1, 0], 1, 1.5)).toEqual({ hits: 3, loads: 1 });
    // At 0.4 every access is worth a load of its own (a held expert would block the one slot).
    expect(bestChains([0, 1, 0, 2, 1, 0], 1, 0.4)).toEqual({ hits: 6, loads: 6 });
    // Two slots at 1.5: hold 0 over 1..6 and 1 over 2..5.
    expect(bestChains([0, 1, 0, 2, 1, 0], 2, 1.5)).toEqual({ hits: 5, loads: 2 });
  });

  it('bounds the hits of a budget of loads by the best price', () => {
    const seqs = [
      [0, 1, 0, 1, 0, 1],
      [2, 2, 3, 2],
    ];
    const lambdas = [0.5, 1, 2, 100];
    const optima = lambdas.map((l) => seqs.map((s) => bestChains(s, 1, l)));
    // With no loads nothing can hit; with unlimited loads every access can.
    expect(hitBound(lambdas, optima, 0).hits).toBeCloseTo(0, 9);
    expect(hitBound(lambdas, optima, 1000).hits).toBeGreaterThanOrEqual(10);
    // Two loads: hold 2 over the second sequence (3 hits) and 0 or 1 once in the first (1 hit).
    expect(hitBound(lambdas, optima, 2).hits).toBeGreaterThanOrEqual(4);
  });

  it('bounds an online policy by its beliefs: the exact optimum over held sets on random tiny cases', () => {
    const beliefs = fc.integer({ min: 1, max: 5 }).chain((experts) => fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: experts, maxLength: experts }), { maxLength: 8 }));
    fc.assert(
      fc.property(beliefs, fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, 0.1, 0.3, 0.5, 1, 2), (belief, slots, lambda) => {
        const experts = belief[0]?.length ?? 1;
        const opt = beliefChains(belief.flat(), experts, slots, lambda);
        expect(opt.hits - lambda * opt.loads).toBeCloseTo(bruteForceBeliefs(belief, slots, lambda), 9);
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('a worked example of beliefs: two experts, one slot', () => {
    // Expert 0 is likely at steps 1-2, expert 1 at step 3. At a price of 0.5 switching to 1 for
    // step 3 gains 0.9 - 0.5 over keeping 0 (0.1): hold 0 for 0.8 + 0.7, then 1 for 0.9; 2 loads.
    const belief = [0.8, 0.2, 0.7, 0.3, 0.1, 0.9];
    expect(beliefChains(belief, 2, 1, 0.5).loads).toBe(2);
    expect(beliefChains(belief, 2, 1, 0.5).hits).toBeCloseTo(2.4, 12);
    // At a price of 1 the switch costs more than it gains: keep 0 throughout (0.8 + 0.7 + 0.1).
    expect(beliefChains(belief, 2, 1, 1).loads).toBe(1);
    expect(beliefChains(belief, 2, 1, 1).hits).toBeCloseTo(1.6, 12);
  });
});
