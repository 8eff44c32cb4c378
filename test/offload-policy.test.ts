import { describe, expect, it } from 'vitest';
import { Link, type LinkModel } from '../src/offload/link.js';
import type { Slot } from '../src/offload/pool.js';
import { DEFAULT_POLICY, type OffloadModel } from '../src/offload/model.js';
import { namedPolicy, type Policy, type PolicyName } from '../src/offload/policy.js';
import { Replay, type PolicyResult, type SimulateOptions } from '../src/offload/simulate.js';
import { parseTrace, TraceError, type TraceRequest } from '../src/offload/trace.js';

/** A link so fast that every load arrives at once: hit rates without timing effects. */
const instant: LinkModel = { name: 'instant', bandwidth: 1e30, latency: 0, description: '' };

/** `layers` MoE layers of `experts` experts of `bytes` bytes each, nothing else to read. */
function tinyModel(layers: number, experts: number, bytes = 1000): OffloadModel {
  const layer = (i: number) => ({ layer: i, expertBytes: Array<number>(experts).fill(bytes), expertParams: Array<number>(experts).fill(bytes / 2), resident: Array<boolean>(experts).fill(false), fixedBytes: 0 });
  return { name: 'tiny', layers: Array.from({ length: layers }, (_, i) => layer(i)), denseBytes: 0, policy: DEFAULT_POLICY };
}

function replay(policy: Policy | PolicyName, requests: number[][][][], slots: number, options: Partial<SimulateOptions> = {}, model = tinyModel(requests[0]![0]!.length, 8)): PolicyResult {
  const p = typeof policy === 'string' ? namedPolicy(policy, DEFAULT_POLICY, { slots, active: 1, layers: 1 }) : policy;
  const r = new Replay(model, p, { slots, activeExperts: 1, link: instant, deviceBandwidth: 1000, predictor: { layerLags: 2, tokenLags: 1 }, warmStatistics: true, ...options });
  requests.forEach((tokens, i) => r.request({ id: String(i), tokens }));
  return r.result();
}

/** One layer, one expert per token: a plain access sequence. */
const sequence = (...ids: number[]) => ids.map((e) => [[e]]);

describe('demand caches on hand-made traces', () => {
  // Sequence 0 1 0 2 1 0 with 2 slots, worked by hand:
  //   lru:    m m h m(evicts 1) m(evicts 0) m(evicts 2)        -> 1 hit
  //   lfu:    m m h m(evicts 1: 1 use < 2) m(evicts 2) h       -> 2 hits (counts survive eviction)
  //   belady: m m h m(evicts 0: next use 5 > 4) h m            -> 2 hits
  it.each([
    ['lru', 1],
    ['lfu', 2],
    ['belady', 2],
  ] as const)('%s hits %i of 6', (policy, hits) => {
    const r = replay(policy, [sequence(0, 1, 0, 2, 1, 0)], 2);
    expect([r.hits, r.accesses]).toEqual([hits, 6]);
  });

  it("counts a token's experts as separate accesses that may evict each other", () => {
    // One slot: 0 misses, 1 misses and evicts 0 (same token), 1 hits, 2 misses.
    const r = replay('lru', [[[[0, 1]], [[1, 2]]]], 1);
    expect([r.hits, r.accesses]).toEqual([1, 4]);
  });

  it('replays each request from empty pools, each layer with its own slots', () => {
    const request = [[[0], [0]], [[0], [0]]];
    const r = replay('lru', [request, request], 1);
    expect([r.hits, r.accesses, r.requests, r.tokens]).toEqual([4, 8, 2, 4]);
  });

  it('score(recency = 1) evicts like lru, score(recency = 0) like lfu', () => {
    const seq = [sequence(0, 1, 0, 2, 1, 0, 3, 3, 1, 2, 0)];
    const score = (recency: number) => replay(namedPolicy('score', { ...DEFAULT_POLICY, cache: { kind: 'score', recency } }, { slots: 2, active: 1, layers: 1 }), seq, 2).hits;
    expect(score(1)).toBe(replay('lru', seq, 2).hits);
    expect(score(0)).toBe(replay('lfu', seq, 2).hits);
  });
});

describe('timing', () => {
  it('waits for a miss, computes at the device bandwidth, and counts bytes once', () => {
    // 1000-byte expert over a 1000 B/s link, device 1000 B/s: token 0 waits 1 s for the load,
    // then computes 1 s; token 1 hits and computes 1 s. 2 tokens in 3 s, 1 s of stall.
    const slow: LinkModel = { name: 'slow', bandwidth: 1000, latency: 0, description: '' };
    const r = replay('lru', [sequence(0, 0)], 1, { link: slow });
    expect(r).toMatchObject({ hits: 1, bytesMoved: 1000, stallSeconds: 1, seconds: 3, degraded: 0 });
    expect(r.tokensPerSecond).toBeCloseTo(2 / 3, 12);
  });

  it('degrade serves a miss from the low-precision copy without waiting', () => {
    const slow: LinkModel = { name: 'slow', bandwidth: 1000, latency: 0, description: '' };
    const r = replay('lru+degrade', [sequence(0, 1, 2, 3)], 1, { link: slow });
    // Every access misses; each computes the int4 copy (500 params * 0.5 B = 250 B: 0.25 s).
    expect(r).toMatchObject({ hits: 0, degraded: 4, degradedTokens: 4, stallSeconds: 0 });
    expect(r.seconds).toBeCloseTo(1, 12);
  });

  it('admit+degrade waits while the pool fills, then loads only experts used more often than the one they replace', () => {
    // One slot, loads arrive at once. 0 0 1 0: 0 misses and is waited for (the pool had room),
    // 0 hits, 1 (used once, 0 twice) runs on the copy and is not loaded, 0 hits.
    expect(replay('admit+degrade', [sequence(0, 0, 1, 0)], 1)).toMatchObject({ hits: 2, degraded: 1, bytesMoved: 1000 });
    // lru+degrade loads 1 over 0 and then misses 0: one hit, three copies, three loads.
    expect(replay('lru+degrade', [sequence(0, 0, 1, 0)], 1)).toMatchObject({ hits: 1, degraded: 3, bytesMoved: 3000 });
    // 0 1 1 1: 1 ties 0 at its first use (copy), then passes it (copy while it loads), then hits.
    expect(replay('admit+degrade', [sequence(0, 1, 1, 1)], 1)).toMatchObject({ hits: 1, degraded: 2, bytesMoved: 2000 });
  });

  it('admit+degrade stalls for the loads that fill the pool, not after', () => {
    // 1000-byte experts over 1000 B/s, device 1000 B/s, one slot: token 0 waits 1 s for 0 and
    // computes 1 s; token 1 runs the copy of 1 (0.25 s; 1 used once, 0 once: not loaded).
    const slow: LinkModel = { name: 'slow', bandwidth: 1000, latency: 0, description: '' };
    const r = replay('admit+degrade', [sequence(0, 1)], 1, { link: slow });
    expect(r).toMatchObject({ hits: 0, degraded: 1, stallSeconds: 1, bytesMoved: 1000 });
    expect(r.seconds).toBeCloseTo(2.25, 12);
  });
});

describe('the link', () => {
  const slot = (expert: number, prefetched: boolean): Slot => ({ expert, prefetched });
  const link = () => new Link({ name: 'l', bandwidth: 100, latency: 1, description: '' });

  it('runs one transfer at a time: latency plus bytes over bandwidth', () => {
    const l = link();
    expect(l.demand(0, 100, slot(0, false))).toBe(2);
    expect(l.demand(0, 200, slot(1, false))).toBe(5);
    expect(l.demand(10, 100, slot(2, false))).toBe(12);
    expect(l.bytesMoved).toBe(400);
  });

  it('puts a demand load before prefetches that have not started, never before a started one', () => {
    const l = link();
    const a = slot(0, true);
    const b = slot(1, true);
    l.prefetch(0, 100, a); // 0..2, starts at once
    l.prefetch(0, 100, b); // would run 2..4
    const d = slot(2, false);
    expect(l.demand(1, 100, d)).toBe(4); // after a (started), before b
    expect([l.arrival(a), l.arrival(b)]).toEqual([2, 6]);
    expect(l.demandArrival(1, 100)).toBe(6);
  });

  it('drops a cancelled prefetch that has not started, and keeps one that has', () => {
    const l = link();
    const a = slot(0, true);
    const b = slot(1, true);
    l.prefetch(0, 100, a);
    l.prefetch(0, 100, b);
    l.cancel(1, a); // started at 0: runs to its end
    l.cancel(1, b);
    expect(l.bytesMoved).toBe(100);
    expect(l.prefetchArrival(1, 100)).toBe(4);
  });
});

describe('predictive prefetch', () => {
  // Two layers; token t picks expert t % 4 at both. Layer 1 is predictable from layer 0 of the
  // same token, layer 0 from the previous token's layer 0, once the counts have been learned.
  const cyclic = [Array.from({ length: 40 }, (_, t) => [[t % 4], [t % 4]])];
  const prefetch = namedPolicy('prefetch', DEFAULT_POLICY, { slots: 1, active: 1, layers: 2 });

  it('beats every demand cache when loads arrive in time', () => {
    const r = replay({ ...prefetch, prefetch: { depth: 1, top: 1, threshold: 0 } }, cyclic, 1);
    expect(replay('belady', cyclic, 1).hits).toBe(0);
    expect(r.hitRate).toBeGreaterThan(0.85);
    expect(r.usefulPrefetches).toBeGreaterThan(60);
  });

  it('counts a prefetch that has not arrived as a miss', () => {
    // Each load takes 1000 s while a layer computes in 1 s: every prefetch is late.
    const slow: LinkModel = { name: 'slow', bandwidth: 1, latency: 0, description: '' };
    const r = replay({ ...prefetch, prefetch: { depth: 1, top: 1, threshold: 0 } }, cyclic, 1, { link: slow });
    expect(r.hits).toBe(0);
    expect(r.latePrefetches).toBeGreaterThan(60);
    expect(r.bytesMoved).toBe(1000 * (r.prefetches + r.accesses - r.latePrefetches));
  });

  it('holds prefetches in slots: a pool never holds more experts than it has slots', () => {
    // With one slot, the prefetch for layer 1 must evict layer 1's previous expert; hits at
    // layer 1 therefore never exceed one per token.
    const r = replay({ ...prefetch, prefetch: { depth: 2, top: 4, threshold: 0 } }, cyclic, 1);
    expect(r.hits).toBeLessThanOrEqual(r.tokens * 2);
    expect(r.prefetches).toBeGreaterThan(0);
  });

  it('never reads a step the runtime could not have seen', () => {
    // The revealed view throws on a look-ahead; a full replay of every prefetching policy passes.
    for (const name of ['prefetch', 'prefetch+degrade'] as const) expect(() => replay(name, cyclic, 2)).not.toThrow();
  });
});

describe('trace parsing', () => {
  const shape = { experts: [4, 4] };
  const meta = '{"meta": {"model": "m", "experts": 4, "k": 1, "phase": "decode", "moe_layers": [0, 1]}}';

  it('reads the meta line and requests', () => {
    const { meta: m, requests } = parseTrace(`${meta}\n{"request": 7, "tokens": [[[0], [3]]]}\n`, shape);
    expect(m).toEqual({ model: 'm', experts: 4, k: 1, phase: 'decode', moeLayers: [0, 1] });
    expect(requests).toEqual<TraceRequest[]>([{ id: '7', tokens: [[[0], [3]]] }]);
  });

  it.each([
    ['bad JSON', `${meta}\n{"request": 1, "tokens": [[[0], [1]]]}\n{"request": 2, "tokens": [[[0], [1]]`, 3, /^bad JSON/],
    ['an expert id out of range', `${meta}\n{"request": 1, "tokens": [[[0], [4]]]}`, 2, /token 0, MoE layer 1: expert id 4 is out of range for the model's 4 experts/],
    ['a token with the wrong layer count', `${meta}\n{"request": 1, "tokens": [[[0]]]}`, 2, /token 0 has 1 MoE layers, the model 2/],
    ['a meta line with the wrong layer count', '{"meta": {"moe_layers": [0, 1, 2]}}', 1, /the trace has 3 MoE layers, the model 2/],
    ['no meta line', '{"request": 1, "tokens": []}', 1, /first line must be \{"meta"/],
    ['a repeated expert', `${meta}\n{"request": 1, "tokens": [[[0, 0], [1]]]}`, 2, /repeat/],
  ])('rejects %s with its line number', (_, text, line, message) => {
    const err = (() => {
      try {
        parseTrace(text, shape);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(TraceError);
    expect((err as TraceError).line).toBe(line);
    expect((err as TraceError).message).toMatch(message);
  });
});
