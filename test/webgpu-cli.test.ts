import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../src/runtime/safetensors.js';
import { examplesDir, root } from './helpers.js';
import { relativeL2 } from './support/model.js';
import { gpuSuiteTitle, openTestDevice } from './support/webgpu.js';

/** moec compile writes kernels deterministically; moec run --backend webgpu agrees with --backend cpu and profiles. */
function moec(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: root });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'moec-webgpu-'));
const model = join(examplesDir, 'qwen3-30b-a3b.moe');
const small = ['--set', 'hidden=32', '--set', 'expert_ffn=16', '--set', 'experts=16'];

describe('moec compile emits the program and its WGSL', () => {
  it('writes one file per distinct kernel, the program as text and JSON, the same bytes every time', () => {
    const [a, b] = [join(dir, 'a'), join(dir, 'b')];
    for (const out of [a, b]) expect(moec('compile', model, ...small, '-o', out).code).toBe(0);
    const files = readdirSync(join(a, 'wgsl')).sort();
    expect(files).toContain('grouped_glu.wgsl');
    expect(files).toContain('route_rows.wgsl');
    for (const f of files) expect(readFileSync(join(b, 'wgsl', f), 'utf8'), f).toBe(readFileSync(join(a, 'wgsl', f), 'utf8'));
    for (const f of ['qwen3_30b_a3b.program', 'qwen3_30b_a3b.program.json']) expect(readFileSync(join(b, f), 'utf8')).toBe(readFileSync(join(a, f), 'utf8'));
    const program = JSON.parse(readFileSync(join(a, 'qwen3_30b_a3b.program.json'), 'utf8')) as { kernels: { name: string }[]; dispatches: unknown[] };
    expect(program.kernels.map((k) => `${k.name}.wgsl`).sort()).toEqual(files);
  });

  it('removes kernels an earlier compile wrote that the program no longer has', () => {
    const out = join(dir, 'stale');
    expect(moec('compile', model, ...small, '-o', out).code).toBe(0);
    writeFileSync(join(out, 'wgsl', 'old_kernel.wgsl'), '// from an earlier compile\n');
    expect(moec('compile', model, ...small, '-o', out).code).toBe(0);
    expect(existsSync(join(out, 'wgsl', 'old_kernel.wgsl'))).toBe(false);
  });

  it('--target none writes no kernels; --no-opt needs it', () => {
    const out = join(dir, 'none');
    expect(moec('compile', model, ...small, '-o', out, '--target', 'none').code).toBe(0);
    expect(existsSync(join(out, 'wgsl'))).toBe(false);
    const r = moec('compile', model, ...small, '-o', out, '--no-opt');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('kernels need the passes');
  });
});

const gpu = await openTestDevice();

describe.skipIf(!gpu)(gpuSuiteTitle('moec run --backend webgpu', gpu), () => {
  const weights = join(dir, 'w.safetensors');

  it('agrees with --backend cpu and prints a per-kernel profile', () => {
    expect(moec('init-weights', model, ...small, '--seed', '3', '-o', weights).code).toBe(0);
    const [cpu, webgpu] = [join(dir, 'y-cpu.safetensors'), join(dir, 'y-gpu.safetensors')];
    expect(moec('run', model, ...small, '--weights', weights, '--random-input', '13', '-o', cpu).code).toBe(0);
    const r = moec('run', model, ...small, '--weights', weights, '--random-input', '13', '-o', webgpu, '--backend', 'webgpu', '--profile');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/grouped_(glu|up_glu)\s+\d+/);
    expect(r.stderr).toMatch(/^total\s+\d+/m);
    const y = (path: string) => readSafetensors(readFileSync(path)).get('y')!.tensor.data as Float32Array;
    expect(relativeL2(y(webgpu), y(cpu))).toBeLessThan(1e-5);
  });

  it('--profile --format json prints the summary as JSON on stdout', () => {
    const r = moec('run', model, ...small, '--weights', weights, '--random-input', '5', '-o', join(dir, 'y.safetensors'), '--backend', 'webgpu', '--profile', '--format', 'json');
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { kernels: { kernel: string; dispatches: number; totalNs: number }[]; dispatches: number; method: string };
    expect(summary.kernels.reduce((s, k) => s + k.dispatches, 0)).toBe(summary.dispatches);
    expect(summary.kernels.map((k) => k.kernel)).toContain('combine_residual');
  });

  it('--profile without webgpu is a user error', () => {
    const r = moec('run', model, ...small, '--weights', weights, '--random-input', '5', '-o', join(dir, 'y.safetensors'), '--profile');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--backend webgpu');
  });
});
