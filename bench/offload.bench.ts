// Offload policies on the shared routing traces (../shared/traces, or $MOEC_TRACES): every
// policy at 1x, 2x and 4x the experts a token selects per MoE layer, printed as the Markdown
// tables of docs/perf.md. Modelled figures, not timings: the output is the same on any machine.
// Run: npm run build && npx tsx bench/offload.bench.ts [--link pcie4|nvme|usb3|instant] [--only mixtral|deepseek] [--policy NAMES] [--times 1,2,4]
import { join } from 'node:path';
import { loadModel } from '../dist/cli/load.js';
import { policiesFor, replayTrace } from '../dist/cli/commands/simulate.js';
import { offloadModel } from '../dist/offload/model.js';
import { arg, cases, link, multiples, root, traces } from './offload-cases.js';

const policies = arg('--policy')?.split(',');

for (const c of cases) {
  const model = loadModel(join(root, 'examples', c.model), {});
  const offload = offloadModel(model);
  // Every slot count in one pass over the trace: the predictions are made once for all.
  const runs = (active: number) => multiples.flatMap((times) => policiesFor(policies, model, { slots: times * c.k, active, layers: offload.layers.length }).map((policy) => ({ policy, slots: times * c.k })));
  const started = performance.now();
  const { meta, results } = await replayTrace(join(traces, c.trace), offload, runs, { link, deviceBandwidth: 200e9, coldStatistics: false, progress: process.stderr.isTTY === true });
  console.error(`${c.key}: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const perSlots = results.length / multiples.length;
  multiples.forEach((times, i) => {
    const slots = times * c.k;
    const rows = results.slice(i * perSlots, (i + 1) * perSlots);
    const lru = rows.find((r) => r.name === 'lru')!;
    console.log(`\n${meta.model} (${meta.phase}), ${rows[0]!.requests} requests, ${rows[0]!.tokens} tokens, ${slots} slots per MoE layer (${times}x the ${c.k} active), link ${link.name}\n`);
    console.log('| policy | hit rate | moved (GB) | stall (s) | tokens/s | vs LRU | degraded | prefetched (useful, late) |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const degraded = r.degraded ? `${((100 * r.degraded) / r.accesses).toFixed(1)} %` : '0';
      const prefetched = r.prefetches ? `${r.prefetches} (${r.usefulPrefetches}, ${r.latePrefetches})` : '0';
      console.log(`| ${r.name} | ${r.hitRate.toFixed(3)} | ${(r.bytesMoved / 1e9).toFixed(0)} | ${r.stallSeconds.toFixed(1)} | ${r.tokensPerSecond.toPrecision(3)} | ${(r.tokensPerSecond / lru.tokensPerSecond).toFixed(2)}x | ${degraded} | ${prefetched} |`);
    }
  });
}
