import { describe, expect, it } from 'vitest';
import { add, builtin, cast, div, eq, KernelBuilder, load, lt, mul, sub, tokens, u32 } from '../src/codegen/build.js';
import type { Expr, Kernel } from '../src/codegen/kernel-ir.js';
import type { Affine, BufferDecl, BufferRole, Dispatch, Grid, Program, Slot } from '../src/codegen/program.js';
import { createRunner } from '../src/runtime/webgpu/launch.js';
import { WgslCompileError } from '../src/runtime/webgpu/pipelines.js';
import { formatProfile, summarizeProfile } from '../src/runtime/webgpu/profile.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { gpuSuiteTitle, openTestDevice, type GpuCounter } from './support/webgpu.js';

const gpu = await openTestDevice();
const TOKENS = [1, 7, 64, 300];
const W = 12; // model width: x and y are [T, W]
const PER = 64;

// ---- programs built by hand with the kernel DSL ----

const direct = (threads: Affine, per = PER): Grid => ({ kind: 'direct', x: { ...threads, per }, y: { a: 0, b: 1, per: 1 }, z: { a: 0, b: 1, per: 1 } });
/** Bytes of n f32 per token, and n elements per token. */
const perToken = (n: number): Affine => ({ a: n * 4, b: 0 });
const elements = (n: number): Affine => ({ a: n, b: 0 });

/** out[i] = f(in[i]) for i < T·W. */
function elementwise(name: string, f: (v: Expr) => Expr): Kernel {
  const k = new KernelBuilder(name, `elementwise ${name}`, [PER, 1, 1]);
  k.buffer('src', 'f32', 'read');
  k.buffer('dst', 'f32', 'read_write');
  const i = k.let('i', builtin('global_x'));
  k.if(lt(i, mul(tokens, W)), (b) => b.store('dst', i, f(load('src', 'f32', i))));
  return k.finish();
}

class ProgramSketch {
  readonly buffers: BufferDecl[] = [];
  readonly slots: Slot[] = [];
  readonly kernels: Kernel[] = [];
  readonly dispatches: Dispatch[] = [];

  buffer(name: string, role: BufferRole, element: BufferDecl['element'], bytes: Affine, slot?: number, source?: string): string {
    if (slot === undefined) {
      slot = this.slots.length;
      this.slots.push({ id: slot, bytes, role: role === 'workspace' ? 'activation' : role });
    } else {
      const s = this.slots[slot]!;
      s.bytes = { a: Math.max(s.bytes.a, bytes.a), b: Math.max(s.bytes.b, bytes.b) };
    }
    this.buffers.push({ name, role, element, bytes, slot, ...(source ? { source } : {}) });
    return name;
  }

  dispatch(kernel: Kernel, bindings: string[], grid: Grid): void {
    if (!this.kernels.includes(kernel)) this.kernels.push(kernel);
    this.dispatches.push({ kernel: kernel.name, bindings, grid, node: this.dispatches.length });
  }

  finish(name: string): Program {
    return { name, width: W, buffers: this.buffers, slots: this.slots, kernels: this.kernels, dispatches: this.dispatches, inputs: [{ name: 'x', buffer: 'x' }], output: 'y', params: [], notes: [] };
  }
}

/** y = 2x + 1: one dispatch. */
function affineProgram(): Program {
  const p = new ProgramSketch();
  p.buffer('x', 'input', 'f32', perToken(W));
  p.buffer('y', 'output', 'f32', perToken(W));
  p.dispatch(
    elementwise('scale', (v) => add(mul(v, 2), 1)),
    ['x', 'y'],
    direct(elements(W)),
  );
  return p.finish('affine');
}

/**
 * y = (x·M) ⊙ q + c, M an f32 [W, W] weight, q an i32 [W] weight (int8 values), c an f32 [W]
 * weight: a kernel reading three weights, two of them f32, one i32.
 */
function weightProgram(): { program: Program; weights: Map<string, Tensor> } {
  const p = new ProgramSketch();
  p.buffer('x', 'input', 'f32', perToken(W));
  p.buffer('y', 'output', 'f32', perToken(W));
  p.buffer('m', 'weight', 'f32', { a: 0, b: W * W * 4 }, undefined, 'layer.m');
  p.buffer('q', 'weight', 'i32', { a: 0, b: W * 4 }, undefined, 'layer.q');
  p.buffer('c', 'weight', 'f32', { a: 0, b: W * 4 }, undefined, 'layer.c');
  const k = new KernelBuilder('matvec', 'y[t, j] = sum_k x[t, k] m[k, j] * q[j] + c[j]', [PER, 1, 1]);
  k.buffer('x', 'f32', 'read');
  k.buffer('m', 'f32', 'read');
  k.buffer('q', 'i32', 'read');
  k.buffer('c', 'f32', 'read');
  k.buffer('y', 'f32', 'read_write');
  const i = k.let('i', builtin('global_x'));
  k.if(lt(i, mul(tokens, W)), (b) => {
    const t = b.let('t', div(i, W));
    const j = b.let('j', sub(i, mul(t, W)));
    const acc = b.var('acc', { k: 'const', type: 'f32', value: 0 });
    b.for('k', 0, W, (kk) => acc.set(add(acc.get, mul(load('x', 'f32', add(mul(t, W), kk)), load('m', 'f32', add(mul(kk, W), j))))));
    b.store('y', i, add(mul(acc.get, cast('f32', load('q', 'i32', j))), load('c', 'f32', j)));
  });
  p.dispatch(k.finish(), ['x', 'm', 'q', 'c', 'y'], direct(elements(W)));
  const m = Float32Array.from({ length: W * W }, (_, n) => ((n * 7) % 5) - 2);
  const q = Int32Array.from({ length: W }, (_, n) => ((n * 3) % 7) - 3);
  const c = Float32Array.from({ length: W }, (_, n) => n - 4);
  const weights = new Map<string, Tensor>([
    ['layer.m', { dtype: 'f32', shape: [W, W], data: m }],
    ['layer.q', { dtype: 'i32', shape: [W], data: q }],
    ['layer.c', { dtype: 'f32', shape: [W], data: c }],
  ]);
  return { program: p.finish('weights'), weights };
}

/**
 * a = x + 1; b = 3a; c = b - x (c reuses a's slot: a is dead after b); an indirect dispatch
 * whose grid a kernel wrote computes d = 2c; a dispatch with an empty grid is skipped; y = d + 0.5.
 */
function chainProgram(): Program {
  const p = new ProgramSketch();
  p.buffer('x', 'input', 'f32', perToken(W));
  p.buffer('y', 'output', 'f32', perToken(W));
  const shared = p.slots.length;
  p.buffer('a', 'activation', 'f32', perToken(W));
  p.buffer('b', 'activation', 'f32', perToken(W));
  p.buffer('c', 'activation', 'f32', perToken(W), shared);
  p.buffer('args', 'workspace', 'u32', { a: 0, b: 16 });
  p.buffer('d', 'activation', 'f32', perToken(W));

  const plusOne = elementwise('plus_one', (v) => add(v, 1));
  p.dispatch(plusOne, ['x', 'a'], direct(elements(W)));
  p.dispatch(elementwise('times_three', (v) => mul(v, 3)), ['a', 'b'], direct(elements(W)));
  const minus = new KernelBuilder('minus', 'dst = lhs - rhs', [PER, 1, 1]);
  minus.buffer('lhs', 'f32', 'read');
  minus.buffer('rhs', 'f32', 'read');
  minus.buffer('dst', 'f32', 'read_write');
  const i = minus.let('i', builtin('global_x'));
  minus.if(lt(i, mul(tokens, W)), (b) => b.store('dst', i, sub(load('lhs', 'f32', i), load('rhs', 'f32', i))));
  p.dispatch(minus.finish(), ['b', 'x', 'c'], direct(elements(W)));

  const grid = new KernelBuilder('write_grid', 'the workgroup counts for T·W elements', [1, 1, 1]);
  grid.buffer('args', 'u32', 'read_write');
  grid.if(eq(builtin('global_x'), 0), (b) => {
    b.store('args', 0, cast('u32', div(add(mul(tokens, W), PER - 1), PER)));
    b.store('args', 1, u32(1));
    b.store('args', 2, u32(1));
  });
  p.dispatch(grid.finish(), ['args'], direct({ a: 0, b: 1 }, 1));
  p.dispatch(elementwise('double', (v) => mul(v, 2)), ['c', 'd'], { kind: 'indirect', buffer: 'args', offset: 0 });
  p.dispatch(plusOne, ['d', 'a'], direct({ a: 0, b: 0 })); // empty grid: never runs
  p.dispatch(elementwise('half_up', (v) => add(v, 0.5)), ['d', 'y'], direct(elements(W)));
  return p.finish('chain');
}

/** Inputs of small integers (and halves), so every f32 result below is exact whatever the order. */
function input(tokenCount: number): Float32Array {
  return Float32Array.from({ length: tokenCount * W }, (_, n) => ((n * 13) % 17) - 8);
}

const noWeights = new Map<string, Tensor>();

describe.skipIf(!gpu)(gpuSuiteTitle('WebGPU launcher', gpu), () => {
  // The body is collected even when the suite is skipped: no dereference of a missing device here.
  const device = gpu?.device as GPUDevice;
  const counter = gpu?.counter as GpuCounter;

  it('runs one elementwise dispatch exactly at several token counts', async () => {
    const runner = await createRunner(device, affineProgram(), noWeights);
    for (const t of TOKENS) {
      const x = input(t);
      const y = await runner.run({ x, tokens: t });
      expect(y.length).toBe(t * W);
      expect(Array.from(y)).toEqual(Array.from(x, (v) => 2 * v + 1));
    }
    runner.destroy();
  });

  it('uploads f32 and i32 weights once and reads them', async () => {
    const { program, weights } = weightProgram();
    const runner = await createRunner(device, program, weights);
    const m = weights.get('layer.m')!.data;
    const q = weights.get('layer.q')!.data;
    const c = weights.get('layer.c')!.data;
    for (const t of [...TOKENS, 7]) {
      const x = input(t);
      const want = new Float32Array(t * W);
      for (let r = 0; r < t; r++) {
        for (let j = 0; j < W; j++) {
          let acc = 0;
          for (let k = 0; k < W; k++) acc += x[r * W + k]! * m[k * W + j]!;
          want[r * W + j] = acc * q[j]! + c[j]!;
        }
      }
      expect(Array.from(await runner.run({ x, tokens: t }))).toEqual(Array.from(want));
    }
    runner.destroy();
  });

  it('runs dispatches in order through shared slots, an indirect grid and a skipped empty grid', async () => {
    const program = chainProgram();
    expect(program.buffers.find((b) => b.name === 'c')!.slot).toBe(program.buffers.find((b) => b.name === 'a')!.slot);
    const runner = await createRunner(device, program, noWeights);
    for (const t of [300, ...TOKENS]) {
      const x = input(t);
      const y = await runner.run({ x, tokens: t });
      expect(Array.from(y)).toEqual(Array.from(x, (v) => 2 * (3 * (v + 1) - v) + 0.5));
    }
    runner.destroy();
  });

  it('does one submit and one readback per run, and every dispatch that has work', async () => {
    // Uploads per run: the token count and x; the weights went up once, at creation.
    const { program, weights } = weightProgram();
    const withWeights = await createRunner(device, program, weights);
    await withWeights.run({ x: input(7), tokens: 7 });
    counter.reset();
    await withWeights.run({ x: input(7), tokens: 7 });
    expect(counter.take()).toEqual({ submits: 1, commandBuffers: 1, passes: 1, dispatches: 1, indirectDispatches: 0, readbacks: 1, writes: 2 });
    withWeights.destroy();

    const runner = await createRunner(device, chainProgram(), noWeights);
    for (const t of [7, 64]) {
      await runner.run({ x: input(t), tokens: t }); // first run at a token count allocates
      counter.reset();
      await runner.run({ x: input(t), tokens: t });
      expect(counter.take()).toEqual({ submits: 1, commandBuffers: 1, passes: 1, dispatches: 6, indirectDispatches: 1, readbacks: 1, writes: 2 });
    }
    runner.destroy();
  });

  it('gives the same bytes on every run and when runs are issued together', async () => {
    const { program, weights } = weightProgram();
    const runner = await createRunner(device, program, weights);
    const runs = await Promise.all([7, 64, 7, 300, 7].map((t) => runner.run({ x: input(t), tokens: t })));
    expect(Array.from(runs[2]!)).toEqual(Array.from(runs[0]!));
    expect(Array.from(runs[4]!)).toEqual(Array.from(runs[0]!));
    runner.destroy();
  });

  it('names the kernel, line and column when its WGSL does not compile', async () => {
    const k = new KernelBuilder('broken_kernel', 'reads a name nothing declares', [PER, 1, 1]);
    k.buffer('src', 'f32', 'read');
    k.buffer('dst', 'f32', 'read_write');
    k.store('dst', builtin('global_x'), { k: 'ref', type: 'f32', name: 'undeclared_value' });
    const program = affineProgram();
    program.kernels.push(k.finish());
    program.dispatches.push({ kernel: 'broken_kernel', bindings: ['x', 'y'], grid: direct(elements(W)), node: 1 });
    const error = await createRunner(device, program, noWeights).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WgslCompileError);
    expect((error as WgslCompileError).kernel).toBe('broken_kernel');
    expect((error as Error).message).toMatch(/kernel 'broken_kernel'/);
    expect((error as Error).message).toMatch(/broken_kernel\.wgsl:\d+:\d+: error: .*undeclared_value/);
  });

  it('rejects weights that do not match their buffers, naming them', async () => {
    const { program, weights } = weightProgram();
    const missing = new Map(weights);
    missing.delete('layer.c');
    await expect(createRunner(device, program, missing)).rejects.toThrow(/no tensor 'layer\.c'/);
    const wrongType = new Map(weights).set('layer.q', { dtype: 'f32', shape: [W], data: new Float32Array(W) });
    await expect(createRunner(device, program, wrongType)).rejects.toThrow(/'layer\.q' holds f32 values; buffer q stores i32/);
    const runner = await createRunner(device, program, weights);
    await expect(runner.run({ x: new Float32Array(5), tokens: 1 })).rejects.toThrow(/x has 5 values/);
    runner.destroy();
  });

  it('profiles every dispatch that runs, and summarises per kernel', async () => {
    const runner = await createRunner(device, chainProgram(), noWeights);
    const x = input(64);
    const { y, profile } = await runner.run({ x, tokens: 64 }, { profile: true });
    expect(Array.from(y)).toEqual(Array.from(await runner.run({ x, tokens: 64 })));
    expect(profile.method).toBe(device.features.has('timestamp-query') ? 'timestamp-query' : 'submit');
    expect(profile.dispatches.map((d) => d.kernel)).toEqual(['plus_one', 'times_three', 'minus', 'write_grid', 'double', 'half_up']);
    expect(profile.dispatches.map((d) => d.index)).toEqual([0, 1, 2, 3, 4, 6]);
    for (const d of profile.dispatches) expect(d.ns).toBeGreaterThanOrEqual(0);
    expect(profile.dispatches.some((d) => d.ns > 0)).toBe(true);
    const summary = summarizeProfile([profile, profile]);
    expect(summary.dispatches).toBe(6);
    expect(summary.kernels.map((k) => k.kernel).sort()).toEqual(['double', 'half_up', 'minus', 'plus_one', 'times_three', 'write_grid']);
    expect(summary.totalNs).toBeCloseTo(profile.dispatches.reduce((s, d) => s + d.ns, 0));
    const table = formatProfile(summary);
    expect(table).toMatch(/^kernel\s+dispatches\s+total ms\s+mean us\s+share$/m);
    expect(table).toMatch(/^total\s+6\s/m);
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
    runner.destroy();
  });

  it('profiles by timed submits on a device without timestamp queries', async () => {
    const plain = (await openTestDevice({ features: [] }))!;
    const runner = await createRunner(plain.device, chainProgram(), noWeights);
    const x = input(7);
    const { y, profile } = await runner.run({ x, tokens: 7 }, { profile: true });
    expect(Array.from(y)).toEqual(Array.from(x, (v) => 2 * (3 * (v + 1) - v) + 0.5));
    expect(profile.method).toBe('submit');
    expect(profile.dispatches).toHaveLength(6);
    expect(profile.submitOverheadNs).toBeGreaterThan(0);
    for (const d of profile.dispatches) expect(d.ns).toBeGreaterThan(0);
    expect(formatProfile(summarizeProfile(profile))).toMatch(/one submit per dispatch/);
    runner.destroy();
  });
});
