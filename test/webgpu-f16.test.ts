import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../src/codegen/compile.js';
import { isSoftwareAdapter, scheduleFor, SCHEDULES } from '../src/codegen/schedule.js';
import { printWgslKernel } from '../src/codegen/wgsl/print.js';
import { runPipeline } from '../src/passes/pipeline.js';
import { createRunner, type WebGpuRunner } from '../src/runtime/webgpu/launch.js';
import { initWeights } from '../src/runtime/init-weights.js';
import { readSafetensors, writeSafetensors } from '../src/runtime/safetensors.js';
import { readExample, root } from './helpers.js';
import { compileText, randomInput, randomWeights, relativeL2, run } from './support/model.js';
import { small } from './support/small.js';
import { gpuSuiteTitle, openTestDevice } from './support/webgpu.js';

/**
 * f16 arithmetic (`buildProgram(…, 'f16')`, `moec compile --arithmetic f16`): the matmuls multiply
 * in f16 and sum runs of 4 products in f16 into f32 accumulators. Results meet the f16 contract
 * (relative L2 < 2e-3 against the CPU reference, DESIGN.md §4) on devices with shader-f16.
 */
const gpu = await openTestDevice();
const runners: WebGpuRunner[] = [];
afterAll(() => runners.forEach((r) => r.destroy()));

/**
 * One MoE layer with a shared expert, its weights in every stored dtype. One layer, because a
 * router downstream of f16 products may pick another expert where two scores nearly tie (an
 * f16 result is close, not equal): that is f16's nature, not an error of the kernels.
 */
const layer = (weights: string) => `model f16_layer {
  weights ${weights}
  dims { hidden = 64  ffn = 96  experts = 8  k = 2 }
  expert mlp = swiglu(hidden -> ffn -> hidden)
  block moe {
    router gate = linear(hidden -> experts) | softmax | topk(k) | normalize
    experts mlp x experts
    shared mlp x 1
  }
  layers 1 { x = x + moe(rmsnorm(x)) }
}`;
const WEIGHTS = ['f32', 'bf16', 'f16', 'int8', 'int4'];

function compile(text: string) {
  const { graph } = compileText(text, {});
  return { graph, optimised: runPipeline(graph), weights: randomWeights(graph, 5), width: Number(graph.inputs[0]!.type.shape[1]) };
}

describe('f16 arithmetic in the kernel program', () => {
  it('marks the program and only the matmul kernels, and their WGSL enables f16', () => {
    const optimised = runPipeline(compileText(readExample('mixtral-8x7b.moe'), small['mixtral-8x7b.moe']).graph);
    const f32 = buildProgram(optimised, SCHEDULES.gpu!);
    const f16 = buildProgram(optimised, SCHEDULES.gpu!, 'f16');
    expect(f32.f16).toBeUndefined();
    expect(f16.f16).toBe(true);
    const halves = f16.kernels.filter((k) => k.f16).map((k) => k.name);
    expect(halves.length).toBeGreaterThan(0);
    expect(halves.every((n) => /matmul|grouped/.test(n))).toBe(true);
    for (const k of f16.kernels) expect(printWgslKernel(k).startsWith('enable f16;')).toBe(Boolean(k.f16));
    // The same dispatches, the same buffers: only the arithmetic inside the matmuls differs.
    expect(f16.dispatches.map((d) => d.kernel)).toEqual(f32.dispatches.map((d) => d.kernel));
    expect(f16.buffers).toEqual(f32.buffers);
  });
});

// lavapipe has shader-f16, so CI (which installs it) runs these; elsewhere a device without it skips them.
const f16Device = gpu?.features.includes('shader-f16') ?? false;
if (gpu && !f16Device && process.env.CI === 'true') throw new Error(`CI=true and the WebGPU device (${gpu.adapter.description ?? 'unknown'}) has no shader-f16`);

describe.skipIf(!f16Device)(gpuSuiteTitle('f16 arithmetic on WebGPU meets the f16 tolerance', gpu), () => {
  it.each(WEIGHTS)('%s weights at 1, 7 and 64 tokens, under both schedules', async (weights) => {
    const c = compile(layer(weights));
    for (const schedule of [scheduleFor(gpu!.adapter), SCHEDULES.gpu!]) {
      const program = buildProgram(c.optimised, schedule, 'f16');
      expect(program.f16).toBe(true);
      const r = await createRunner(gpu!.device, program, c.weights);
      runners.push(r);
      for (const tokens of [1, 7, 64]) {
        const x = randomInput(tokens, c.width, tokens);
        const want = run(c.graph, c.weights, { x });
        const got = await r.run({ x: x.data as Float32Array, tokens });
        const err = relativeL2(got, want);
        expect(err, `${weights} (${schedule.name}) at ${tokens} tokens`).toBeLessThan(2e-3);
        // Half precision is used: not bit-identical to f32 (products round to 11 bits).
        expect(err, `${weights} (${schedule.name}) at ${tokens} tokens`).toBeGreaterThan(0);
      }
    }
  });
});

/** The runtime's surface as a generated module's caller sees it. */
interface Loaded {
  arithmetic: 'f32' | 'f16';
  forward(x: Float32Array): Promise<Float32Array>;
  dispose(): void;
}
interface Module {
  info: { f16: boolean };
  load(weights: string, options: { device: GPUDevice; arithmetic?: string }): Promise<Loaded>;
}

function moec(...args: string[]) {
  return spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: root });
}

describe.skipIf(!f16Device)(gpuSuiteTitle('moec compile --arithmetic f16: the module runs the f16 twin where the device can', gpu), () => {
  mkdirSync(join(root, 'out'), { recursive: true });
  // Inside the package, so that the module's `moec/runtime` resolves to this checkout (dist/ built).
  const dir = mkdtempSync(join(root, 'out', 'f16-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'layer.moe');
  writeFileSync(file, layer('int8'));

  it('loads the f16 twin on request (by default only on a GPU: lavapipe is a CPU), f32 otherwise, and both match the reference', async () => {
    const out = join(dir, 'f16');
    const r = moec('compile', file, '--arithmetic', 'f16', '--schedule', 'llvmpipe', '--max-tokens', '16', '-o', out);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(out, 'f16_layer.f16.program.json'))).toBe(true);
    expect(readFileSync(join(out, 'wgsl-f16', 'grouped_gate.wgsl'), 'utf8')).toMatch(/^enable f16;/);
    const { graph } = compileText(layer('int8'));
    const weightsPath = join(out, 'w.safetensors');
    writeFileSync(weightsPath, writeSafetensors(initWeights(graph, 5)));
    const weights = new Map([...readSafetensors(readFileSync(weightsPath))].map(([name, t]) => [name, t.tensor]));
    const x = randomInput(9, 64, 3);
    const want = run(graph, weights, { x });
    const module = (await import(pathToFileURL(join(out, 'f16_layer.js')).href)) as Module;
    expect(module.info.f16).toBe(true);
    const half = await module.load(weightsPath, { device: gpu!.device, arithmetic: 'f16' });
    const full = await module.load(weightsPath, { device: gpu!.device });
    try {
      expect(half.arithmetic).toBe('f16');
      // Unasked, the twin runs only where f16 pays: on a GPU, not on a CPU rasteriser.
      expect(full.arithmetic).toBe(isSoftwareAdapter(gpu!.adapter) ? 'f32' : 'f16');
      const h = relativeL2(await half.forward(x.data as Float32Array), want);
      expect(h).toBeLessThan(2e-3);
      expect(h).toBeGreaterThan(0);
      expect(relativeL2(await full.forward(x.data as Float32Array), want)).toBeLessThan(full.arithmetic === 'f32' ? 1e-5 : 2e-3);
    } finally {
      half.dispose();
      full.dispose();
    }
    // Compiled again without it, the twin goes: nothing stale is left beside the module.
    expect(moec('compile', file, '--schedule', 'llvmpipe', '-o', out).status).toBe(0);
    expect(existsSync(join(out, 'f16_layer.f16.program.json'))).toBe(false);
    expect(existsSync(join(out, 'wgsl-f16'))).toBe(false);
    const plain = (await import(`${pathToFileURL(join(out, 'f16_layer.js')).href}?again`)) as Module;
    await expect(plain.load(weightsPath, { device: gpu!.device, arithmetic: 'f16' })).rejects.toMatchObject({ code: 'input', message: expect.stringMatching(/compiled with --arithmetic f16/) });
    await expect(plain.load(weightsPath, { device: gpu!.device, arithmetic: 'f64' })).rejects.toMatchObject({ code: 'input', message: expect.stringMatching(/'f32' or 'f16'/) });
  });
});
