// What no policy can beat on the shared routing traces: for 1x, 2x and 4x the active experts
// per MoE layer, the fastest a policy that waits on a miss can run (it moves at least Belady's
// loads), the loads a policy may make if it is to run at 3x LRU's modelled speed on the link,
// and the most hits any policy (prefetching, degrading, knowing the future) can have with that
// many loads (src/offload/bound.ts), beside Belady's hit rate. Printed as the Markdown
// table of docs/perf.md. Modelled figures: the same on any machine.
// Run: npm run build && npx tsx bench/offload-bound.ts [--link pcie4|nvme|usb3] [--only mixtral|deepseek] [--times 1,2,4] [--speedup 3]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadModel } from '../dist/cli/load.js';
import { policiesFor, replayTrace } from '../dist/cli/commands/simulate.js';
import { bestChains, hitBound, slotAccesses } from '../dist/offload/bound.js';
import { offloadModel, traceShape } from '../dist/offload/model.js';
import { parseTrace } from '../dist/offload/trace.js';
import { arg, cases, link, multiples, root, traces } from './offload-cases.js';

const speedup = Number(arg('--speedup') ?? 3);
// Prices per load tried in the bound's minimum (any price gives a valid bound; more prices, a tighter one).
const lambdas = [0.5, 0.75, 1, 1.25, 1.5, 2, 3];

console.log(`| trace | slots | LRU tokens/s | Belady loads per token | waiting policies at most | loads per token at ${speedup}x LRU | Belady hit rate | best hit rate at ${speedup}x LRU |`);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const c of cases) {
  const model = loadModel(join(root, 'examples', c.model), {});
  const offload = offloadModel(model);
  const path = join(traces, c.trace);
  const { requests } = parseTrace(gunzipSync(readFileSync(path)).toString('utf8'), traceShape(offload));
  const sequences = requests.flatMap((r) => slotAccesses(r.tokens, offload.layers));
  const accesses = requests.reduce((n, r) => n + r.tokens.length * r.tokens[0]!.reduce((m, ids) => m + ids.length, 0), 0);
  const alwaysHit = accesses - sequences.reduce((n, s) => n + s.length, 0);
  const tokens = requests.reduce((n, r) => n + r.tokens.length, 0);
  // Every expert of these models has one size; a load takes the link's latency plus its bytes.
  const bytes = Math.max(...offload.layers.flatMap((l) => l.expertBytes));
  const loadSeconds = link.latency + bytes / link.bandwidth;
  for (const times of multiples) {
    const slots = times * c.k;
    const { results } = await replayTrace(path, offload, (active) => policiesFor(['lru'], model, { slots, active, layers: offload.layers.length }).map((policy) => ({ policy, slots })), {
      link,
      deviceBandwidth: 200e9,
      coldStatistics: false,
      progress: false,
    });
    const lru = results.find((r) => r.name === 'lru')!;
    const belady = results.find((r) => r.name === 'belady')!;
    // The link moves one expert at a time, so `speedup` times LRU's tokens/s leaves this many loads.
    const loads = tokens / (speedup * lru.tokensPerSecond) / loadSeconds;
    const optima = lambdas.map((lambda) => sequences.map((s) => bestChains(s, slots, lambda)));
    const bound = hitBound(lambdas, optima, loads);
    const rate = (alwaysHit + bound.hits) / accesses;
    // A policy that waits serves every access from a slot, so it loads at least Belady's misses (no
    // prefetching schedule loads less than the optimal demand one), one at a time on the link.
    const beladyLoads = belady.bytesMoved / bytes;
    const waitingAtMost = tokens / (beladyLoads * loadSeconds) / lru.tokensPerSecond;
    console.log(`| ${c.key} | ${slots} (${times}x) | ${lru.tokensPerSecond.toPrecision(3)} | ${(beladyLoads / tokens).toFixed(1)} | ${waitingAtMost.toFixed(2)}x LRU | ${(loads / tokens).toFixed(1)} | ${belady.hitRate.toFixed(3)} | ${Math.min(1, rate).toFixed(3)} (price ${bound.lambda}) |`);
  }
}
