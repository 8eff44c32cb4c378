// Benchmark: moec's generated WebGPU module against onnxruntime-web's 8-bit QMoE on WebGPU, side
// by side in one headless Chromium page on the same adapter (issue 8, item 5). The layers are
//   A: hidden 1024, ffn 3584, 8 experts, top-2
//   B: hidden 2048, ffn 1024, 64 experts, top-8
// at 1, 16 and 128 tokens, with int8 experts on both sides: bench/models/moe-layer-int8.moe
// compiled by `moec compile` (the generated module, imported by the page through an import map),
// and a QMoE model built from the same int8 values and scales (bench/browser/qmoe-model.ts).
//
// Method: per configuration, a warm-up run of each side, then interleaved pairs (moec first,
// then ORT first, ...) in the page (bench/browser/page.html), each timed from the call to the
// output on the host (moec's forward(x); ORT's session.run with a CPU tensor in and out). Every
// run's output is compared with moec's CPU reference executor (Node, f64 sums, on the same
// dequantised weights); a run is wrong when its relative L2 error exceeds TOLERANCE. The figure
// is the median over pairs of ORT time / moec time; decode latency (1 token) and prefill
// tokens/s are the medians of each side's times.
//
// Run: scripts/with-env npx tsx bench/browser/moe-vs-ort.bench.ts   (or npm run bench:browser;
// on SwiftShader a 128-token run takes minutes: MOE_ORT_PAIRS=5,2,1 took 40 minutes on the
// loaded development VM, the defaults take several times that; see docs/perf.md)
// Environment:
//   MOE_ORT_CONFIGS  comma-separated subset of A1,A16,A128,B1,B16,B128 (default all)
//   MOE_ORT_PAIRS    timed pairs at 1, 16 and 128 tokens (default "15,7,5")
//   MOE_ORT_JSON     write the results (every run's time and error) as JSON to this file
//   MOEC_CHROMIUM    the Chromium binary (default /usr/bin/chromium)
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { initWeights } from '../../src/runtime/init-weights.js';
import { writeSafetensors, type TensorToWrite } from '../../src/runtime/safetensors.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { openBrowser, serveStatic } from '../../test/support/browser.js';
import { compileText, randomInput, run } from '../../test/support/model.js';
import { buildQmoeModel } from './qmoe-model.js';
import { median, quantile } from '../stats.js';

const root = join(import.meta.dirname, '..', '..');
const MODEL_FILE = join(root, 'bench', 'models', 'moe-layer-int8.moe');
const MODEL_NAME = 'moe_layer_int8';
/** The f32 layer, for the stand-in (prepareStandIn). */
const F32_MODEL_FILE = join(root, 'bench', 'models', 'moe-layer.moe');
const F32_MODEL_NAME = 'moe_layer';
/** A run is wrong past this relative L2 error against the CPU reference (the f32 contract, DESIGN.md §4). */
const TOLERANCE = 1e-5;
const TARGET = 5;

interface Dims {
  hidden: number;
  ffn: number;
  experts: number;
  k: number;
}
const LAYERS: Record<'A' | 'B', Dims> = {
  A: { hidden: 1024, ffn: 3584, experts: 8, k: 2 },
  B: { hidden: 2048, ffn: 1024, experts: 64, k: 8 },
};
const TOKENS = [1, 16, 128] as const;

const env = process.env;
const wanted = new Set((env['MOE_ORT_CONFIGS'] ?? 'A1,A16,A128,B1,B16,B128').split(',').map((s) => s.trim()));
const pairCounts = (env['MOE_ORT_PAIRS'] ?? '15,7,5').split(',').map(Number);
const pairsAt = (tokens: number) => Math.max(1, pairCounts[TOKENS.indexOf(tokens as (typeof TOKENS)[number])] ?? 5);

interface Run {
  ms: number;
  relL2: number;
  /** Tokens whose own output row is more than 10 % off the reference. */
  badTokens: number;
  dispatches: number;
  readbacks: number;
  warmup: boolean;
}
type Side = 'moec' | 'ort';
interface Result {
  id: string;
  dims: Dims;
  tokens: number;
  pairs: number;
  ms: Record<Side, number>;
  /** Median over pairs of ORT time / moec time, its quartiles, and min(ORT) / min(moec). */
  ratio: number;
  ratioP25: number;
  ratioP75: number;
  ratioOfMins: number;
  wrong: Record<Side, number>;
  worstRelL2: Record<Side, number>;
  /** Runs with at least one token more than 10 % off (a skipped or wrong expert, beyond any rounding). */
  grosslyWrong: Record<Side, number>;
  dispatches: Record<Side, number>;
  readbacks: Record<Side, number>;
  runs: Record<Side, Run[]>;
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const progress = (line: string) => process.stderr.write(`${line}\n`);

/** `moec compile`, as a user runs it: DIR/NAME.js, NAME.program.json, wgsl/. */
function compileModule(file: string, dims: Dims, dir: string, maxTokens: number): void {
  const sets = Object.entries(dims).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const compiled = spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), 'compile', file, ...sets, '--max-tokens', String(maxTokens), '-o', dir], { encoding: 'utf8' });
  if (compiled.status !== 0) throw new Error(`moec compile ${relative(root, file)} failed:\n${compiled.stderr}`);
  progress(compiled.stderr.trim());
}

/**
 * Everything the page needs for one layer, in `dir`: the generated module and its int8 weights
 * (dir/int8/), the QMoE model, and per token count the input and the CPU reference's output.
 * Returns the weights, for the f32 stand-in.
 */
function prepare(layer: keyof typeof LAYERS, dims: Dims, dir: string, tokens: readonly number[]): Map<string, Tensor> {
  compileModule(MODEL_FILE, dims, join(dir, 'int8'), Math.max(...tokens));
  const { graph } = compileText(readFileSync(MODEL_FILE, 'utf8'), { ...dims });
  progress(`layer ${layer}: making int8 weights (seed 11)`);
  const written = initWeights(graph, 11);
  writeFileSync(join(dir, 'int8', 'weights.safetensors'), writeSafetensors(written));
  const weights = new Map([...written].map(([name, w]) => [name, w.tensor]));

  progress(`layer ${layer}: building the QMoE model`);
  writeFileSync(join(dir, 'qmoe.onnx'), buildQmoeModel(qmoeLayer(dims, weights)));

  for (const T of tokens) {
    progress(`layer ${layer}: CPU reference at ${T} token${T === 1 ? '' : 's'}`);
    const x = randomInput(T, dims.hidden, 5 + T);
    writeFileSync(join(dir, `x-${T}.bin`), bytesOf(x.data as Float32Array));
    writeFileSync(join(dir, `ref-${T}.bin`), bytesOf(run(graph, weights, { x })));
  }
  return weights;
}

/**
 * The stand-in when a device refuses the int8 module: bench/models/moe-layer.moe (f32 experts)
 * with every expert matrix set to its dequantised int8 values, fround(q · scale), exactly what
 * the int8 module's kernels compute from q and scale. The function is the same, and so is the
 * traffic while the runtime widens int8 to one i32 per value (4 bytes per weight either way).
 */
function prepareStandIn(dims: Dims, int8: Map<string, Tensor>, dir: string, maxTokens: number): void {
  compileModule(F32_MODEL_FILE, dims, dir, maxTokens);
  const { graph } = compileText(readFileSync(F32_MODEL_FILE, 'utf8'), { ...dims });
  const tensors = new Map<string, TensorToWrite>();
  for (const p of graph.params) {
    const q = int8.get(p.name)!;
    const scale = int8.get(`${p.name}.scale`);
    const data = scale ? dequantise(q, scale.data as Float32Array) : (q.data as Float32Array);
    tensors.set(p.name, { tensor: { dtype: 'f32', shape: q.shape, data }, as: 'F32' });
  }
  writeFileSync(join(dir, 'weights.safetensors'), writeSafetensors(tensors));
}

/** q [..., in, out] times its per-output-column scales [..., out], rounded to f32. */
function dequantise(q: Tensor, scale: Float32Array): Float32Array {
  const values = q.data as Int32Array;
  const [rows, cols] = q.shape.slice(-2) as [number, number];
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! * scale[Math.floor(i / (rows * cols)) * cols + (i % cols)]!;
  return out;
}

function qmoeLayer(dims: Dims, w: Map<string, Tensor>) {
  const get = (name: string) => {
    const t = w.get(`layers.0.moe.${name}`);
    if (!t) throw new Error(`internal: no weight layers.0.moe.${name}`);
    return t.data;
  };
  const quantised = (name: string) => ({ q: get(`experts.mlp.${name}`) as Int32Array, scale: get(`experts.mlp.${name}.scale`) as Float32Array });
  return { ...dims, router: get('gate.weight') as Float32Array, gate: quantised('w_gate'), up: quantised('w_up'), down: quantised('w_down') };
}

function summarise(id: string, dims: Dims, tokens: number, pairs: number, runs: Record<Side, Run[]>): Result {
  const timed = (s: Side) => runs[s].filter((r) => !r.warmup);
  const ms = (s: Side) => timed(s).map((r) => r.ms);
  const ratios = ms('ort').map((t, i) => t / ms('moec')[i]!);
  const per = <T>(f: (s: Side) => T) => ({ moec: f('moec'), ort: f('ort') });
  return {
    id,
    dims,
    tokens,
    pairs,
    ms: per((s) => median(ms(s))),
    ratio: median(ratios),
    ratioP25: quantile(ratios, 0.25),
    ratioP75: quantile(ratios, 0.75),
    ratioOfMins: Math.min(...ms('ort')) / Math.min(...ms('moec')),
    wrong: per((s) => runs[s].filter((r) => !(r.relL2 <= TOLERANCE)).length),
    worstRelL2: per((s) => Math.max(...runs[s].map((r) => r.relL2))),
    grosslyWrong: per((s) => runs[s].filter((r) => r.badTokens > 0).length),
    dispatches: per((s) => median(runs[s].map((r) => r.dispatches))),
    readbacks: per((s) => median(runs[s].map((r) => r.readbacks))),
    runs,
  };
}

type PageFn<A, R> = (args: A) => Promise<R>;
interface PageApi {
  loadMoec: PageFn<{ base: string; name: string }, { ms: number; adapter: Record<string, unknown> }>;
  loadOrt: PageFn<{ url: string }, { ms: number }>;
  measure: PageFn<{ base: string; tokens: number; pairs: number }, Record<Side, Run[]>>;
  teardown: PageFn<void, void>;
}

const browser = await openBrowser();
if (!browser) {
  console.log('no Chromium: nothing to measure');
  process.exit(1);
}
const site = await serveStatic(root, { '/bench.html': readFileSync(join(import.meta.dirname, 'page.html'), 'utf8') });
const page = await browser.newPage();
page.on('pageerror', (e) => progress(`page error: ${e.message}`));
page.on('console', (m) => m.type() === 'error' && progress(`page console: ${m.text()}`));
await page.goto(`${site.url}/bench.html`);
await page.waitForFunction(() => 'benchReady' in globalThis);
const call = <K extends keyof PageApi>(name: K, args: Parameters<PageApi[K]>[0]) =>
  page.evaluate(([n, a]) => (globalThis as unknown as Record<string, (x: unknown) => Promise<unknown>>)[n]!(a), [name, args] as const) as ReturnType<PageApi[K]>;

const loadAtStart = load();
const chromium = browser.version();
console.log(`moec vs onnxruntime-web QMoE: Chromium ${chromium}, node ${process.version}, ${cpus().length} cores, load average ${loadAtStart}`);

const work = join(root, 'out', 'bench-browser');
const results: (Result & { moecExperts: string })[] = [];
const failures: string[] = [];
/** Where the device refused moec's int8 module. */
const refusals: string[] = [];
let adapter: Record<string, unknown> | undefined;
for (const [layer, dims] of Object.entries(LAYERS) as [keyof typeof LAYERS, Dims][]) {
  const tokens = TOKENS.filter((t) => wanted.has(`${layer}${t}`));
  if (!tokens.length) continue;
  const label = `hidden ${dims.hidden}, ffn ${dims.ffn}, ${dims.experts} experts, top-${dims.k}`;
  const dir = join(work, layer);
  const base = `/${relative(root, dir).split('\\').join('/')}`;
  try {
    const int8 = prepare(layer, dims, dir, tokens);
    console.log(`\n== layer ${layer}: ${label} ==`);
    let moec: Awaited<ReturnType<PageApi['loadMoec']>>;
    let moecExperts = 'int8';
    try {
      moec = await call('loadMoec', { base: `${base}/int8`, name: MODEL_NAME });
    } catch (e) {
      // A device's limits refusing the int8 module is a finding, not the end of the comparison.
      if (!/LimitsError/.test((e as Error).message)) throw e;
      const why = (e as Error).message.split('\n')[0]!.replace(/^page\.evaluate: /, '');
      console.log(`moec's int8 module cannot load on this adapter: ${why}\nmeasuring moec with f32 experts holding the dequantised int8 values instead (the same function, and the same 4 bytes per weight as the runtime's widened int8)`);
      refusals.push(`layer ${layer}: ${why}`);
      prepareStandIn(dims, int8, join(dir, 'f32'), Math.max(...tokens));
      moec = await call('loadMoec', { base: `${base}/f32`, name: F32_MODEL_NAME });
      moecExperts = 'f32 (dequantised int8 values)';
    }
    int8.clear();
    const ort = await call('loadOrt', { url: `${base}/qmoe.onnx` });
    adapter ??= moec.adapter;
    console.log(`adapter: ${JSON.stringify(moec.adapter)}\nmoec experts: ${moecExperts}; load: moec ${moec.ms.toFixed(0)} ms, ORT session ${ort.ms.toFixed(0)} ms`);
    for (const T of tokens) {
      const pairs = pairsAt(T);
      progress(`${layer}${T}: ${pairs} pairs (load average ${load()})`);
      const r = { ...summarise(`${layer}${T}`, dims, T, pairs, await call('measure', { base, tokens: T, pairs })), moecExperts };
      results.push(r);
      console.log(
        `${r.id}: moec ${r.ms.moec.toFixed(2)} ms, ORT ${r.ms.ort.toFixed(2)} ms (medians of ${pairs}); ORT/moec ${r.ratio.toFixed(2)} ` +
          `(quartiles ${r.ratioP25.toFixed(2)}-${r.ratioP75.toFixed(2)}, of minimums ${r.ratioOfMins.toFixed(2)}); ` +
          `wrong runs moec ${r.wrong.moec}/${pairs + 1}, ORT ${r.wrong.ort}/${pairs + 1} (worst relative L2 ${r.worstRelL2.moec.toExponential(1)}, ${r.worstRelL2.ort.toExponential(1)}; runs with a token >10 % off: ${r.grosslyWrong.moec}, ${r.grosslyWrong.ort}); ` +
          `dispatches ${r.dispatches.moec} / ${r.dispatches.ort}, readbacks ${r.readbacks.moec} / ${r.readbacks.ort}`,
      );
    }
  } catch (e) {
    const why = `layer ${layer}: ${(e as Error).message}`;
    console.log(why);
    failures.push(why);
  } finally {
    await call('teardown', undefined).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
await page.close();
await browser.close();
site.server.close();

console.log(`\n${'configuration'.padEnd(26)} ${'moec ms'.padStart(9)} ${'ORT ms'.padStart(9)} ${'ORT/moec'.padStart(8)} ${'of mins'.padStart(8)} ${'moec tok/s'.padStart(10)} ${'ORT tok/s'.padStart(10)}  wrong runs (moec, ORT), of them >10 % off`);
for (const r of results) {
  const d = r.dims;
  const name = `${r.id}: H${d.hidden} F${d.ffn} E${d.experts} k${d.k}`;
  const rate = (ms: number) => ((r.tokens * 1000) / ms).toFixed(1).padStart(10);
  const verdict = r.ratio >= TARGET ? '' : `  (target ${TARGET}x not met)`;
  console.log(`${name.padEnd(26)} ${r.ms.moec.toFixed(2).padStart(9)} ${r.ms.ort.toFixed(2).padStart(9)} ${r.ratio.toFixed(2).padStart(8)} ${r.ratioOfMins.toFixed(2).padStart(8)} ${rate(r.ms.moec)} ${rate(r.ms.ort)}  ${r.wrong.moec}, ${r.wrong.ort} (${r.grosslyWrong.moec}, ${r.grosslyWrong.ort}) of ${r.pairs + 1}${verdict}`);
}
for (const r of refusals) console.log(`moec int8 refused (f32 stand-in measured): ${r}`);
for (const f of failures) console.log(`FAILED: ${f}`);
console.log(`load average at the start ${loadAtStart}, at the end ${load()}`);
if (env['MOE_ORT_JSON']) {
  writeFileSync(env['MOE_ORT_JSON'], JSON.stringify({ adapter, chromium, node: process.version, load: { start: loadAtStart, end: load() }, date: new Date().toISOString(), tolerance: TOLERANCE, results, refusals, failures }, null, 2));
}
process.exit(failures.length ? 1 : 0);
