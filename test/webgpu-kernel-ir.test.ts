import { describe, expect, it } from 'vitest';
import { add, builtin, eq, i32, KernelBuilder, load, lt, mul, tokens } from '../src/codegen/build.js';
import { grid1, threadIndex } from '../src/codegen/scheduler/launch.js';
import type { Kernel } from '../src/codegen/kernel-ir.js';
import { gridSize, type Program } from '../src/codegen/program.js';
import { verifyProgram } from '../src/codegen/verify.js';
import { createRunner } from '../src/runtime/webgpu/launch.js';
import { gpuSuiteTitle, openTestDevice } from './support/webgpu.js';

/**
 * The kernel IR's less common features, printed to WGSL and run: workgroup memory with
 * barriers (a tree reduction of each token's row, exactly the tree-ordered f32 sum) and integer
 * atomics (a count over every token).
 */
const gpu = await openTestDevice();
const W = 64;

/** x and y are [T, W] (the runner's model shape); the kernels use what they need of y. */
function program(kernel: Kernel, workgroups: { a: number; b: number; per: number }): Program {
  const width = W;
  return {
    name: kernel.name,
    width,
    buffers: [
      { name: 'x', role: 'input', element: 'f32', bytes: { a: 4 * W, b: 0 }, slot: 0, source: 'x' },
      { name: 'y', role: 'output', element: kernel.params[1]!.element, bytes: { a: 4 * width, b: 0 }, slot: 1 },
    ],
    slots: [
      { id: 0, bytes: { a: 4 * W, b: 0 }, role: 'input' },
      { id: 1, bytes: { a: 4 * width, b: 0 }, role: 'output' },
    ],
    kernels: [kernel],
    dispatches: [{ kernel: kernel.name, bindings: ['x', 'y'], grid: { kind: 'direct', x: workgroups, y: { a: 0, b: 1, per: 1 }, z: { a: 0, b: 1, per: 1 } }, node: 0 }],
    inputs: [{ name: 'x', buffer: 'x' }],
    output: 'y',
    params: [],
    notes: [],
  };
}

/** One workgroup of W invocations per token: a tree reduction in workgroup memory. */
function treeSum(): Kernel {
  const k = new KernelBuilder('tree_sum', 'row sums by a tree in workgroup memory', [W, 1, 1]);
  k.buffer('x', 'f32', 'read');
  k.buffer('y', 'f32', 'read_write');
  const shared = k.array('partial', 'f32', W, 'workgroup');
  const t = k.let('t', builtin('workgroup_x'));
  const lane = k.let('lane', builtin('local_x'));
  k.set(shared, lane, load('x', 'f32', add(mul(t, W), lane)));
  k.barrier();
  for (let half = W / 2; half >= 1; half /= 2) {
    k.if(lt(lane, half), (b) => b.set(shared, lane, add(shared.at(lane), shared.at(add(lane, half)))));
    k.barrier();
  }
  k.if(eq(lane, 0), (b) => b.store('y', mul(t, W), shared.at(0)));
  return k.finish();
}

/** Integer atomics: y[0] counts the positive values of all rows (i32 elements in y). */
function countPositive(): Kernel {
  const k = new KernelBuilder('count_positive', 'positive values, counted with an atomic add', [64, 1, 1]);
  k.buffer('x', 'f32', 'read');
  k.buffer('y', 'i32', 'read_write', true);
  const i = k.let('i', builtin('global_x'));
  k.if(lt(i, mul(tokens, W)), (b) => b.if({ k: 'binary', type: 'bool', op: '>', a: load('x', 'f32', i), b: { k: 'const', type: 'f32', value: 0 } }, (c) => c.atomicAdd('y', i32(0), i32(1))));
  return k.finish();
}

/** y = 2x + 1 with one invocation per element, on a grid folded onto two axes. */
function doubled(): Kernel {
  const k = new KernelBuilder('doubled', 'one invocation per element of a folded grid', [64, 1, 1]);
  k.buffer('x', 'f32', 'read');
  k.buffer('y', 'f32', 'read_write');
  const i = k.let('i', threadIndex(64));
  k.if(lt(i, mul(tokens, W)), (b) => b.store('y', i, add(mul(load('x', 'f32', i), 2), 1)));
  return k.finish();
}

describe.skipIf(!gpu)(gpuSuiteTitle('kernel IR features on WebGPU', gpu), () => {
  it('a one-dimensional grid past 65535 workgroups folds onto two axes and covers every element once', async () => {
    const grid = grid1({ a: W, b: 0 }, 64);
    const p = { ...program(doubled(), { a: 0, b: 1, per: 1 }), dispatches: [{ kernel: 'doubled', bindings: ['x', 'y'], grid, node: 0 }] };
    // 70,000 tokens of 64 values want 70,000 workgroups of 64 along one axis; WebGPU allows 65,535.
    const big = 70_000;
    if (grid.kind === 'direct') expect([gridSize(grid.x, big), gridSize(grid.y, big)]).toEqual([32768, 3]);
    const r = await createRunner(gpu!.device, p, new Map());
    const input = Float32Array.from({ length: big * W }, (_, i) => (i % 1000) - 500);
    const y = await r.run({ x: input, tokens: big });
    let wrong = 0;
    for (let i = 0; i < y.length; i++) if (y[i] !== input[i]! * 2 + 1) wrong++;
    expect(wrong).toBe(0);
    r.destroy();
  });

  const x = (tokens: number) => Float32Array.from({ length: tokens * W }, (_, i) => Math.sin(i * 0.37) * 3 - 0.5);

  it('workgroup memory and barriers: a tree reduction gives the tree-ordered sum exactly', async () => {
    const p = program(treeSum(), { a: 1, b: 0, per: 1 });
    expect(verifyProgram(p)).toEqual([]);
    const r = await createRunner(gpu!.device, p, new Map());
    for (const tokens of [1, 5, 33]) {
      const input = x(tokens);
      const y = await r.run({ x: input, tokens });
      const want = Array.from({ length: tokens }, (_, t) => {
        const v = Array.from(input.subarray(t * W, (t + 1) * W));
        for (let half = W / 2; half >= 1; half /= 2) for (let l = 0; l < half; l++) v[l] = Math.fround(v[l]! + v[l + half]!);
        return v[0]!;
      });
      expect(Array.from({ length: tokens }, (_, t) => y[t * W]!)).toEqual(want);
    }
    r.destroy();
  });

  it('integer atomics: an atomic count over every token', async () => {
    const p = program(countPositive(), { a: W, b: 0, per: 64 });
    const r = await createRunner(gpu!.device, p, new Map());
    const tokens = 9;
    const input = x(tokens);
    // The output buffer is not cleared between runs: this kernel adds to it, so run once.
    const y = await r.run({ x: input, tokens });
    expect(new Int32Array(y.buffer, y.byteOffset, 1)[0]).toBe(input.filter((v) => v > 0).length);
    r.destroy();
  });
});
