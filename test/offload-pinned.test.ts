import { describe, expect, it } from 'vitest';
import type { LinkModel } from '../src/offload/link.js';
import { DEFAULT_POLICY, type OffloadModel } from '../src/offload/model.js';
import { declaredPolicy, namedPolicy, type Policy, type PolicyName } from '../src/offload/policy.js';
import { Replay } from '../src/offload/simulate.js';
import type { TraceRequest } from '../src/offload/trace.js';

/**
 * Pins every policy's figures on a seeded trace with the structure of a real one (tokens
 * follow topics that persist and pick related experts at every layer), so that a change
 * meant to make the simulator faster cannot change what it computes. The figures were
 * recorded before the predictor and the replay loop were rewritten for speed.
 */

const LAYERS = 6;
const EXPERTS = 16;
const K = 3;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function syntheticTrace(seed: number, requests: number, tokens: number): TraceRequest[] {
  const rand = mulberry32(seed);
  return Array.from({ length: requests }, (_, r) => {
    let topic = Math.floor(rand() * 5);
    const out: number[][][] = [];
    for (let t = 0; t < tokens; t++) {
      if (rand() < 0.3) topic = Math.floor(rand() * 5);
      out.push(
        Array.from({ length: LAYERS }, (_, l) => {
          const chosen: number[] = [];
          while (chosen.length < K) {
            // Mostly the topic's experts at this layer, sometimes any expert.
            const e = rand() < 0.75 ? (topic * 3 + l * 5 + Math.floor(rand() * 4)) % EXPERTS : Math.floor(rand() * EXPERTS);
            if (!chosen.includes(e)) chosen.push(e);
          }
          return chosen;
        }),
      );
    }
    return { id: String(r), tokens: out };
  });
}

/** Experts of 1 MB; each layer also reads 0.5 MB of routers and shared experts. */
const model: OffloadModel = {
  name: 'pinned',
  layers: Array.from({ length: LAYERS }, (_, layer) => ({
    layer,
    expertBytes: Array<number>(EXPERTS).fill(1e6),
    expertParams: Array<number>(EXPERTS).fill(1e6),
    resident: Array.from({ length: EXPERTS }, (_, e) => e === 15),
    fixedBytes: 5e5,
  })),
  denseBytes: 1e6,
  policy: DEFAULT_POLICY,
};

/** A loaded expert takes about two layers' compute: loads can be hidden only by prefetching well ahead. */
/** The policies that existed when the figures were recorded. */
const PINNED_POLICIES: PolicyName[] = ['lru', 'lfu', 'score', 'belady', 'prefetch', 'prefetch-greedy', 'prefetch+degrade', 'lru+degrade'];

const slowLink: LinkModel = { name: 'slow', bandwidth: 4e9, latency: 20e-6, description: '' };
const instant: LinkModel = { name: 'instant', bandwidth: Infinity, latency: 0, description: '' };

function figures(link: LinkModel, slots: number): string[] {
  const trace = syntheticTrace(7, 5, 60);
  const declared = { ...DEFAULT_POLICY, cache: { kind: 'score' as const, recency: 0.7 }, prefetch: { kind: 'next_layer' as const, top: 2 }, onMiss: { kind: 'degrade' as const, dtype: 'int4' as const } };
  const policies: Policy[] = [...PINNED_POLICIES.map((n) => namedPolicy(n, DEFAULT_POLICY, { slots, active: K, layers: LAYERS })), declaredPolicy(declared)];
  return policies.map((p) => {
    const replay = new Replay(model, p, { slots, activeExperts: K, link, deviceBandwidth: 1e10, predictor: { layerLags: 3, tokenLags: 2 }, warmStatistics: true });
    for (const r of trace) replay.request(r);
    const x = replay.result();
    return [x.name, x.hits, x.accesses, x.bytesMoved, x.degraded, x.degradedTokens, x.prefetches, x.usefulPrefetches, x.latePrefetches, x.seconds.toPrecision(12), x.stallSeconds.toPrecision(12)].join(' ');
  });
}

describe('pinned figures of every policy on a seeded trace', () => {
  it.each([
    ['slow link, 3 slots', slowLink, 3],
    ['slow link, 6 slots', slowLink, 6],
    ['instant link, 6 slots', instant, 6],
  ] as const)('%s', (_, link, slots) => {
    expect(figures(link, slots)).toEqual(PINNED[`${link.name} ${slots}`]);
  });
});

const PINNED: Record<string, string[]> = {
  'slow 3': [
    'lru 1818 5400 3582000000 0 0 0 0 0 1.20614000000 0.546140000000',
    'lfu 1640 5400 3760000000 0 0 0 0 0 1.24620000000 0.586200000000',
    'score 1839 5400 3561000000 0 0 0 0 0 1.20022000000 0.540220000000',
    'belady 2816 5400 2584000000 0 0 0 0 0 0.960180000000 0.300180000000',
    'prefetch 2249 5400 3243000000 0 0 157 13 65 1.09695000000 0.436950000000',
    'prefetch-greedy 1749 5400 4461000000 0 0 2514 63 1054 1.24250000000 0.582500000000',
    'prefetch+degrade 1535 5400 1758000000 3865 300 0 0 0 0.466750000000 0.00000000000',
    'lru+degrade 1199 5400 1697000000 4201 300 0 0 0 0.449950000000 0.00000000000',
    'model: score(0.7)+next_layer(2)+degrade(int4) 355 5400 3484000000 5045 300 1607 0 759 0.407750000000 0.00000000000',
  ],
  'slow 6': [
    'lru 3188 5400 2212000000 0 0 0 0 0 0.922740000000 0.262740000000',
    'lfu 2823 5400 2577000000 0 0 0 0 0 0.992040000000 0.332040000000',
    'score 3186 5400 2214000000 0 0 0 0 0 0.923780000000 0.263780000000',
    'belady 3979 5400 1421000000 0 0 0 0 0 0.790670000000 0.130670000000',
    'prefetch 3383 5400 2052000000 0 0 68 17 33 0.888270000000 0.228270000000',
    'prefetch-greedy 3231 5400 3869000000 0 0 2807 432 759 1.10093000000 0.440930000000',
    'prefetch+degrade 2966 5400 1710000000 2434 299 0 0 0 0.538300000000 0.00000000000',
    'lru+degrade 2702 5400 1758000000 2698 300 0 0 0 0.525100000000 0.00000000000',
    'model: score(0.7)+next_layer(2)+degrade(int4) 1366 5400 2253000000 4034 300 779 0 544 0.458300000000 0.00000000000',
  ],
  'instant 6': [
    'lru 3188 5400 2212000000 0 0 0 0 0 0.660000000000 0.00000000000',
    'lfu 2823 5400 2577000000 0 0 0 0 0 0.660000000000 0.00000000000',
    'score 3186 5400 2214000000 0 0 0 0 0 0.660000000000 0.00000000000',
    'belady 3979 5400 1421000000 0 0 0 0 0 0.660000000000 0.00000000000',
    'prefetch 3416 5400 2052000000 0 0 68 50 0 0.660000000000 0.00000000000',
    'prefetch-greedy 3990 5400 4217000000 0 0 2807 1191 0 0.660000000000 0.00000000000',
    'prefetch+degrade 3416 5400 2052000000 1984 297 68 50 0 0.560800000000 0.00000000000',
    'lru+degrade 3188 5400 2212000000 2212 300 0 0 0 0.549400000000 0.00000000000',
    'model: score(0.7)+next_layer(2)+degrade(int4) 3700 5400 2479000000 1700 298 779 544 0 0.575000000000 0.00000000000',
  ],
};
