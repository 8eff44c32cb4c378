import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../src/runtime/safetensors.js';
import { examplesDir, root } from './helpers.js';
import { rawSafetensors } from './support/safetensors.js';
import { compileText, randomInput, run } from './support/model.js';

function moec(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: root });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'moec-run-'));
const model = join(examplesDir, 'mixtral-8x7b.moe');
const small = ['--set', 'hidden=16', '--set', 'ffn=24'];
const weights = join(dir, 'w.safetensors');
const input = join(dir, 'x.safetensors');

function writeTensors(path: string, tensors: Record<string, TensorToWrite>): void {
  writeFileSync(path, writeSafetensors(new Map(Object.entries(tensors))));
}

beforeAll(() => {
  expect(moec('init-weights', model, ...small, '--seed', '7', '-o', weights).code).toBe(0);
  writeTensors(input, { x: { tensor: randomInput(3, 16, 1), as: 'F32' } });
});

describe('moec init-weights, inspect, run', () => {
  it('init-weights is deterministic and matches the manifest', () => {
    const again = join(dir, 'w2.safetensors');
    expect(moec('init-weights', model, ...small, '--seed', '7', '-o', again).code).toBe(0);
    expect(readFileSync(again).equals(readFileSync(weights))).toBe(true);
    const manifest = JSON.parse(moec('inspect', model, ...small, '--json').stdout) as { weights: { name: string; shape: number[]; dtype: string }[]; dims: Record<string, number> };
    expect(manifest.dims).toEqual({ hidden: 16, ffn: 24, experts: 8 });
    const file = readSafetensors(readFileSync(weights));
    expect([...file.keys()].sort()).toEqual(manifest.weights.map((w) => w.name).sort());
    for (const w of manifest.weights) expect(file.get(w.name)!.tensor.shape).toEqual(w.shape);
    expect(manifest.weights.find((w) => w.name === 'layers.0.moe.experts.mlp.w_gate')).toEqual({ name: 'layers.0.moe.experts.mlp.w_gate', shape: [8, 16, 24], dtype: 'bf16' });
  });

  it('init-weights refuses a full-size model with a hint instead of exhausting memory', () => {
    const r = moec('init-weights', join(examplesDir, 'deepseek-v3.moe'), '--seed', '1', '-o', join(dir, 'huge.safetensors'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/deepseek_v3 has 6\.\d+e\+11 weight elements; .*stops at 268,435,456 \(2\^28\)\. .*--set hidden=64/);
    expect(existsSync(join(dir, 'huge.safetensors'))).toBe(false);
  });

  it('run writes y equal to the in-process reference', () => {
    const out = join(dir, 'y.safetensors');
    const r = moec('run', model, ...small, '--weights', weights, '--input', input, '-o', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const y = readSafetensors(readFileSync(out)).get('y')!;
    expect(y.tensor.shape).toEqual([3, 16]);
    const { graph } = compileText(readFileSync(model, 'utf8'), { hidden: 16, ffn: 24 });
    const w = new Map([...readSafetensors(readFileSync(weights))].map(([n, t]) => [n, t.tensor]));
    const x = readSafetensors(readFileSync(input)).get('x')!.tensor;
    expect(y.tensor.data).toEqual(run(graph, w, { x }));
  });

  it('run --random-input generates a seeded x and writes it beside y', () => {
    const out = join(dir, 'yr.safetensors');
    expect(moec('run', model, ...small, '--weights', weights, '--random-input', '4', '--seed', '3', '-o', out).code).toBe(0);
    const file = readSafetensors(readFileSync(out));
    expect(file.get('x')!.tensor.shape).toEqual([4, 16]);
    const { graph } = compileText(readFileSync(model, 'utf8'), { hidden: 16, ffn: 24 });
    const w = new Map([...readSafetensors(readFileSync(weights))].map(([n, t]) => [n, t.tensor]));
    expect(file.get('y')!.tensor.data).toEqual(run(graph, w, { x: file.get('x')!.tensor }));
    const both = moec('run', model, ...small, '--weights', weights, '--random-input', '4', '--input', input, '-o', out);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('give exactly one of --input and --random-input');
  });

  it('refuses a run too large to hold, and says the limit, before allocating it', () => {
    const out = join(dir, 'huge-run.safetensors');
    const r = moec('run', model, ...small, '--weights', weights, '--random-input', '1e9', '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^moec: error: --random-input 1000000000: the run would hold a value of [\d,]+ elements \(\w+\[\d+, \d+\]\); moec run holds at most 268,435,456 \(2\^28\) per value: use fewer tokens\n$/);
    expect(existsSync(out)).toBe(false);
  });

  it('inspect counts the parameters of 2^24 experts without expanding them; past the size limit is a located error', () => {
    const wide = join(dir, 'wide.moe');
    const text = (experts: string) =>
      `model m {\n  dims { hidden = 8, ffn = 8, experts = ${experts} }\n  expert e = relu(hidden -> ffn -> hidden)\n  block moe {\n    router gate = linear(hidden -> experts) | softmax | topk(2)\n    experts e x experts\n  }\n  layers 1 { x = x + moe(x) }\n}\n`;
    writeFileSync(wide, text('16777216'));
    const info = JSON.parse(moec('inspect', wide, '--json').stdout) as { parameters: { total: number; activePerToken: { min: number; max: number } } };
    expect(info.parameters).toEqual({ total: 2 ** 24 * (64 + 64 + 8), activePerToken: { min: 2 * 128 + 2 ** 24 * 8, max: 2 * 128 + 2 ** 24 * 8 } });
    writeFileSync(wide, text('1e12'));
    const r = moec('inspect', wide);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("wide.moe:2:41: error[E0315]: dim 'experts' is 1,000,000,000,000, over the limit of 16,777,216 (2^24) for a size");
  });

  const failures: [string, () => string[], RegExp][] = [
    ['a missing weight', () => ['--weights', rewrite((t) => t.delete('layers.0.moe.gate.weight'))], /missing tensor 'layers\.0\.moe\.gate\.weight' \(bf16\[16, 8\]\)/],
    ['an extra weight', () => ['--weights', rewrite((t) => t.set('layers.99.x', { tensor: randomInput(1, 1, 1), as: 'F32' }))], /unexpected tensor 'layers\.99\.x'/],
    ['a misshapen weight', () => ['--weights', rewrite((t) => t.set('layers.0.moe.gate.weight', { tensor: randomInput(16, 4, 1), as: 'BF16' }))], /'layers\.0\.moe\.gate\.weight' has shape \[16, 4\], expected \[16, 8\]/],
    ['a weight of the wrong dtype', () => ['--weights', rewrite((t) => t.set('layers.0.moe.gate.weight', { tensor: randomInput(16, 8, 1), as: 'F32' }))], /'layers\.0\.moe\.gate\.weight' is F32, expected BF16/],
    ['a truncated weights file', () => ['--weights', truncated()], /truncated/],
    ['a file that is not safetensors', () => ['--weights', garbage()], /not a safetensors file|corrupt/],
    ['an input of the wrong width', () => ['--input', inputOf(randomInput(3, 12, 1))], /'x' has shape \[3, 12\], expected \[tokens, 16\]/],
    ['an input without x', () => ['--input', inputOf(undefined)], /missing tensor 'x'/],
    ['a NaN in x', () => ['--input', inputOf(withValue(randomInput(3, 16, 1), 21, NaN))], /tensor 'x' holds NaN at index 21 \(\[1, 5\]\): values must be finite/],
    ['an infinity in a weight', () => ['--weights', rewrite((t) => t.set('layers.0.moe.gate.weight', { tensor: withValue(randomInput(16, 8, 1), 3, -Infinity), as: 'BF16' }))], /tensor 'layers\.0\.moe\.gate\.weight' holds -Infinity at index 3 \(\[0, 3\]\)/],
    ['overlapping tensors in the input', () => ['--input', raw({ x: { dtype: 'F32', shape: [3, 16], data_offsets: [0, 192] }, ids: { dtype: 'I32', shape: [3], data_offsets: [180, 192] } }, 192)], /tensors 'x' \(bytes 0\.\.192\) and 'ids' \(bytes 180\.\.192\) overlap/],
    ['a hole in the input', () => ['--input', raw({ x: { dtype: 'F32', shape: [3, 16], data_offsets: [4, 196] } }, 196)], /bytes 0\.\.4 of the data section belong to no tensor/],
    ['a missing weights file', () => ['--weights', join(dir, 'nope.safetensors')], /cannot read weights file .*no such file/],
  ];

  it.each(failures)('rejects %s with a clear error and writes no output', (_name, args, message) => {
    const out = join(dir, `y-${Math.random().toString(36).slice(2)}.safetensors`);
    const base = ['run', model, ...small, '--weights', weights, '--input', input, '-o', out];
    const a = args();
    const r = moec(...base.map((v, i) => (base[i - 1] === a[0] ? a[1]! : v)));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^moec: error: /);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });
});

let n = 0;
function rewrite(edit: (t: Map<string, TensorToWrite>) => void): string {
  const t = new Map([...readSafetensors(readFileSync(weights))].map(([name, s]) => [name, { tensor: s.tensor, as: s.stored }]));
  edit(t);
  const path = join(dir, `edited-${n++}.safetensors`);
  writeFileSync(path, writeSafetensors(t));
  return path;
}
function truncated(): string {
  const path = join(dir, `truncated-${n++}.safetensors`);
  writeFileSync(path, readFileSync(weights).subarray(0, 2000));
  return path;
}
function garbage(): string {
  const path = join(dir, `garbage-${n++}.safetensors`);
  writeFileSync(path, Buffer.from('this is not a safetensors file at all'));
  return path;
}
function withValue(t: ReturnType<typeof randomInput>, at: number, value: number): ReturnType<typeof randomInput> {
  t.data[at] = value;
  return t;
}
function raw(header: unknown, dataBytes: number): string {
  const path = join(dir, `raw-${n++}.safetensors`);
  writeFileSync(path, rawSafetensors(header, dataBytes));
  return path;
}
function inputOf(x: ReturnType<typeof randomInput> | undefined): string {
  const path = join(dir, `input-${n++}.safetensors`);
  writeTensors(path, x ? { x: { tensor: x, as: 'F32' } } : { y: { tensor: randomInput(1, 1, 1), as: 'F32' } });
  return path;
}
