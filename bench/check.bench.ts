// Benchmark: `moec check` on the DeepSeek-V3 example (61 layers, 256 experts).
// Measures the whole process (what a user waits for) interleaved with a bare `node` start,
// so the ratio is robust to this machine's drifting speed, and the in-process check
// (first call, which builds the parser, and warm calls). Run: npm run bench
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSource } from '../dist/checker/check.js';
import { SourceFile } from '../dist/diagnostics/source.js';

const root = join(import.meta.dirname, '..');
const example = join(root, 'examples', 'deepseek-v3.moe');
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

const whole: number[] = [];
const bare: number[] = [];
for (let i = 0; i < runs; i++) {
  whole.push(time(() => spawn([join(root, 'bin', 'moec.js'), 'check', example])));
  bare.push(time(() => spawn(['-e', ''])));
}

const text = readFileSync(example, 'utf8');
const first = time(() => checkSource(new SourceFile(example, text)));
const warm: number[] = [];
for (let i = 0; i < 200; i++) warm.push(time(() => checkSource(new SourceFile(example, text))));

const rows: [string, string][] = [
  ['moec check deepseek-v3.moe, whole process (median)', `${median(whole).toFixed(1)} ms`],
  ['moec check deepseek-v3.moe, whole process (min)', `${Math.min(...whole).toFixed(1)} ms`],
  ['bare node start (median)', `${median(bare).toFixed(1)} ms`],
  ['whole process / bare node start', `${(median(whole) / median(bare)).toFixed(2)}x`],
  ['in-process check, first call (builds the parser)', `${first.toFixed(2)} ms`],
  ['in-process check, warm (median of 200)', `${median(warm).toFixed(3)} ms`],
];
console.log(`node ${process.version}, ${runs} interleaved process runs\n`);
for (const [k, v] of rows) console.log(`${k.padEnd(52)} ${v}`);
console.log(`\ntarget: whole process under 300 ms: ${median(whole) < 300 ? 'met' : 'NOT met'}`);
