import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type OffloadModel } from '../src/offload/model.js';
import { namedPolicy, type PolicyName } from '../src/offload/policy.js';
import { Replay } from '../src/offload/simulate.js';

const model: OffloadModel = {
  name: 'one-layer',
  layers: [{ layer: 0, expertBytes: Array<number>(6).fill(1), expertParams: Array<number>(6).fill(1), resident: Array<boolean>(6).fill(false), fixedBytes: 0 }],
  denseBytes: 0,
  policy: DEFAULT_POLICY,
};

function hits(policy: PolicyName, seq: number[], slots: number): number {
  const r = new Replay(model, namedPolicy(policy, DEFAULT_POLICY, { slots, active: 1, layers: 1 }), {
    slots,
    activeExperts: 1,
    link: { name: 'instant', bandwidth: 1e30, latency: 0, description: '' },
    deviceBandwidth: 1,
    predictor: { layerLags: 1, tokenLags: 1 },
    warmStatistics: false,
  });
  r.request({ id: '0', tokens: seq.map((e) => [[e]]) });
  return r.result().hits;
}

/** The most hits any demand cache can get: every miss inserts, and every eviction choice is tried. */
function bruteForce(seq: number[], slots: number, i = 0, cache: ReadonlySet<number> = new Set()): number {
  if (i === seq.length) return 0;
  const e = seq[i]!;
  if (cache.has(e)) return 1 + bruteForce(seq, slots, i + 1, cache);
  if (cache.size < slots) return bruteForce(seq, slots, i + 1, new Set([...cache, e]));
  let best = 0;
  for (const victim of cache) best = Math.max(best, bruteForce(seq, slots, i + 1, new Set([...[...cache].filter((x) => x !== victim), e])));
  return best;
}

const traces = fc.record({ seq: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 12 }), slots: fc.integer({ min: 1, max: 4 }) });

describe("Belady's demand cache", () => {
  it('equals the brute-force optimum on tiny traces', () => {
    fc.assert(fc.property(traces, ({ seq, slots }) => hits('belady', seq, slots) === bruteForce(seq, slots)), { numRuns: 300 });
  });

  it('is never beaten by lru, lfu or score', () => {
    fc.assert(
      fc.property(traces, ({ seq, slots }) => {
        const best = hits('belady', seq, slots);
        return (['lru', 'lfu', 'score'] as const).every((p) => hits(p, seq, slots) <= best);
      }),
      { numRuns: 300 },
    );
  });

  it('a worked example: 0 1 2 0 1 3 0 3 1 2 with 2 slots hits 3 times', () => {
    // 0 m, 1 m, 2 m evicts 1 (next use 4; 0's is 3), 0 h, 1 m evicts 2 (9 > 6), 3 m evicts 1
    // (8 > 6), 0 h, 3 h, 1 m evicts 0 (neither is used again: the lower id), 2 m.
    const seq = [0, 1, 2, 0, 1, 3, 0, 3, 1, 2];
    expect(hits('belady', seq, 2)).toBe(3);
    expect(bruteForce(seq, 2)).toBe(3);
  });
});
