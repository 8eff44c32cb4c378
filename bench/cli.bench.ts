// Benchmark: moec check and moec compile on the DeepSeek-V3 example (61 layers, 256 experts).
// Whole processes (what a user waits for) are measured interleaved with a bare `node` start,
// so the ratios are robust to this machine's drifting speed; the in-process check and
// compile (build + passes) are measured warm. Run: npm run bench
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSource } from '../dist/checker/check.js';
import { SourceFile } from '../dist/diagnostics/source.js';
import { buildGraph } from '../dist/ir/from-model.js';
import { runPipeline } from '../dist/passes/pipeline.js';

const root = join(import.meta.dirname, '..');
const example = join(root, 'examples', 'deepseek-v3.moe');
const out = mkdtempSync(join(tmpdir(), 'moec-bench-'));
const runs = Number(process.env['BENCH_RUNS'] ?? 15);

function time(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function spawn(args: string[]): void {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
}

const bin = join(root, 'bin', 'moec.js');
const samples = { check: [] as number[], compile: [] as number[], bare: [] as number[] };
for (let i = 0; i < runs; i++) {
  samples.check.push(time(() => spawn([bin, 'check', example])));
  samples.compile.push(time(() => spawn([bin, 'compile', example, '-o', out])));
  samples.bare.push(time(() => spawn(['-e', ''])));
}

const text = readFileSync(example, 'utf8');
const first = time(() => checkSource(new SourceFile(example, text)));
const warm = (f: () => void, n: number) => median(Array.from({ length: n }, () => time(f)));
const checkWarm = warm(() => checkSource(new SourceFile(example, text)), 200);
const model = checkSource(new SourceFile(example, text)).models[0]!;
const compileWarm = warm(() => runPipeline(buildGraph(model)), 20);

const bare = median(samples.bare);
const rows: [string, string][] = [
  ['bare node start (median)', `${bare.toFixed(1)} ms`],
  ['moec check, whole process (median)', `${median(samples.check).toFixed(1)} ms (${(median(samples.check) / bare).toFixed(2)}x bare node)`],
  ['moec compile, whole process (median)', `${median(samples.compile).toFixed(1)} ms (${(median(samples.compile) / bare).toFixed(2)}x bare node)`],
  ['in-process check, first call (builds the parser)', `${first.toFixed(2)} ms`],
  ['in-process check, warm (median of 200)', `${checkWarm.toFixed(3)} ms`],
  ['in-process build + passes, warm (median of 20)', `${compileWarm.toFixed(2)} ms`],
];
console.log(`node ${process.version}, ${runs} interleaved process runs, examples/deepseek-v3.moe\n`);
for (const [k, v] of rows) console.log(`${k.padEnd(50)} ${v}`);
console.log(`\ntargets: check under 300 ms: ${median(samples.check) < 300 ? 'met' : 'NOT met'}; compile under 500 ms: ${median(samples.compile) < 500 ? 'met' : 'NOT met'}`);
