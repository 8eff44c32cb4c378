/// <reference types="@webgpu/types" />
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../src/codegen/compile.js';
import { programJson } from '../src/codegen/program-text.js';
import { SCHEDULES } from '../src/codegen/schedule.js';
import type { Graph } from '../src/ir/graph.js';
import { runPipeline } from '../src/passes/pipeline.js';
import { initWeights } from '../src/runtime/init-weights.js';
import { readSafetensors, writeSafetensors } from '../src/runtime/safetensors.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { openDevice } from '../src/runtime/webgpu/device.js';
import { examplesDir, readExample, root } from './helpers.js';
import { compileText, randomInput, relativeL2, run } from './support/model.js';
import { small } from './support/small.js';
import { gpuSuiteTitle, openTestDevice } from './support/webgpu.js';

/**
 * The generated module, as an application uses it: `moec compile` writes MODEL.js, which
 * imports `moec/runtime` (this package's own export, so dist/ must be built), loads a
 * safetensors file from every kind of source, and runs forward against the CPU reference.
 */

/** The runtime's public surface, as the generated module's callers see it. */
interface Model {
  info: { name: string; width: number; maxTokens: number };
  maxTokens: number;
  forward(x: Float32Array, options?: { ids?: Int32Array; requests?: Int32Array }): Promise<Float32Array>;
  dispose(): void;
}
interface Module {
  info: { name: string; width: number; maxTokens: number; needs: string[]; dims: Record<string, number> };
  load(weights: unknown, options?: { device?: GPUDevice; maxTokens?: number; onProgress?: (p: { loadedBytes: number; totalBytes?: number; tensorsDone: number; tensors: number }) => void }): Promise<Model>;
}

const gpu = await openTestDevice();
mkdirSync(join(root, 'out'), { recursive: true });
// Inside the package, so that the module's `moec/runtime` resolves to this checkout.
const dir = mkdtempSync(join(root, 'out', 'runtime-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Compiled {
  module: Module;
  graph: Graph;
  weightsPath: string;
  /** The weights as stored (bf16 rounding included), for the reference. */
  weights: Map<string, Tensor>;
  width: number;
}

const HASH_MODEL = `model hashed {
  dims {
    hidden = 16
    ffn = 24
    experts = 4
  }
  expert mlp = swiglu(hidden -> ffn -> hidden)
  block moe {
    router gate = hash(experts, k = 2)
    experts mlp x experts
  }
  layers 2 {
    x = x + moe(rmsnorm(x, eps = 1e-5))
  }
}
`;

function moec(...args: string[]): string {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: root });
  if (r.status !== 0) throw new Error(`moec ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stderr;
}

async function compile(tag: string, file: string, text: string, overrides: Record<string, number>, maxTokens = 64): Promise<Compiled> {
  const out = join(dir, tag);
  const sets = Object.entries(overrides).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  moec('compile', file, ...sets, '--schedule', 'llvmpipe', '--max-tokens', String(maxTokens), '-o', out);
  const { model, graph } = compileText(text, overrides);
  const weightsPath = join(out, 'weights.safetensors');
  writeFileSync(weightsPath, writeSafetensors(initWeights(graph, 5)));
  const stored = readSafetensors(readFileSync(weightsPath));
  const weights = new Map([...stored].map(([name, s]) => [name, s.tensor]));
  const module = (await import(pathToFileURL(join(out, `${model.name}.js`)).href)) as Module;
  return { module, graph, weightsPath, weights, width: model.width };
}

function reference(c: Compiled, x: Tensor, extra: { ids?: Int32Array; requests?: Int32Array } = {}): Float32Array {
  return run(c.graph, c.weights, { x, ...extra });
}

describe.skipIf(!gpu)(gpuSuiteTitle('the generated module on WebGPU', gpu), () => {
  const loaded: Model[] = [];
  afterAll(() => loaded.forEach((m) => m.dispose()));
  const load = async (c: Compiled, source: unknown = c.weightsPath, options: Parameters<Module['load']>[1] = {}) => {
    const m = await c.module.load(source, { device: gpu!.device, ...options });
    loaded.push(m);
    return m;
  };

  let mixtral: Compiled;
  beforeAll(async () => {
    mixtral = await compile('mixtral', join(examplesDir, 'mixtral-8x7b.moe'), readExample('mixtral-8x7b.moe'), small['mixtral-8x7b.moe']!);
  });

  it.each(['mixtral-8x7b.moe', 'deepseek-v3.moe', 'qwen1.5-moe-a2.7b.moe', 'switch-base-8.moe', 'union-of-experts.moe'])(
    '%s: forward at 1, 7 and maxTokens tokens matches the CPU reference',
    async (name) => {
      const c = await compile(name.replace('.moe', ''), join(examplesDir, name), readExample(name), small[name]!);
      const m = await load(c);
      expect(m.maxTokens).toBe(64);
      for (const tokens of [1, 7, 64]) {
        const x = randomInput(tokens, c.width, tokens);
        const requests = Int32Array.from({ length: tokens }, (_, i) => Math.floor(i / 5));
        const y = await m.forward(x.data as Float32Array, { requests });
        expect(y.length).toBe(tokens * c.width);
        expect(relativeL2(y, reference(c, x, { requests }))).toBeLessThan(1e-5);
      }
    },
  );

  it('one module serves 1-token decode and a 3000-token prefill on the same buffers', async () => {
    const c = await compile('mixtral-prefill', join(examplesDir, 'mixtral-8x7b.moe'), readExample('mixtral-8x7b.moe'), small['mixtral-8x7b.moe']!, 4096);
    const m = await load(c);
    expect(m.maxTokens).toBe(4096);
    for (const tokens of [3000, 1]) {
      const x = randomInput(tokens, c.width, tokens);
      expect(relativeL2(await m.forward(x.data as Float32Array), reference(c, x))).toBeLessThan(1e-5);
    }
  });

  it('the module is typed and described for its model', () => {
    const { info } = mixtral.module;
    expect(info).toMatchObject({ name: 'mixtral_8x7b', width: 16, maxTokens: 64, needs: [], dims: { hidden: 16, ffn: 24, experts: 8 } });
    expect(Object.isFrozen(info) && Object.isFrozen(info.dims)).toBe(true);
    const dts = readFileSync(join(dir, 'mixtral', 'mixtral_8x7b.d.ts'), 'utf8');
    expect(dts).toContain('readonly width: 16;');
    expect(dts).toContain("import type { CompiledModel, ForwardOptions, LoadOptions, WeightsSource } from 'moec/runtime';");
  });

  it('loads from a path, a file URL, an ArrayBuffer, a typed array, a Blob and over HTTP, with progress', async () => {
    const bytes = readFileSync(mixtral.weightsPath);
    const server: Server = createServer((req, res) => {
      if (req.url !== '/w.safetensors') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      // In small pieces, so the loader must reassemble reads across chunks.
      for (let at = 0; at < bytes.length; at += 1000) res.write(bytes.subarray(at, at + 1000));
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const x = randomInput(3, 16, 9);
      const want = reference(mixtral, x);
      const sources: unknown[] = [
        mixtral.weightsPath,
        pathToFileURL(mixtral.weightsPath),
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
        new Uint8Array(bytes),
        new Blob([bytes]),
        `${base}/w.safetensors`,
      ];
      for (const source of sources) {
        const progress: { loadedBytes: number; tensorsDone: number; tensors: number }[] = [];
        const m = await load(mixtral, source, { onProgress: (p) => progress.push(p) });
        expect(relativeL2(await m.forward(x.data as Float32Array), want)).toBeLessThan(1e-5);
        expect(progress.length).toBe(mixtral.graph.params.length);
        expect(progress.at(-1)).toMatchObject({ loadedBytes: bytes.length, tensorsDone: progress.length, tensors: progress.length });
        m.dispose();
      }
      await expect(mixtral.module.load(`${base}/missing.safetensors`, { device: gpu!.device })).rejects.toMatchObject({ code: 'weights', message: expect.stringMatching(/HTTP 404/) });
    } finally {
      server.close();
    }
  });

  it('forward calls awaited together run one at a time and give what they give alone', async () => {
    const m = await load(mixtral);
    const xs = [1, 64, 5, 33].map((t) => randomInput(t, 16, 100 + t).data as Float32Array);
    const together = await Promise.all(xs.map((x) => m.forward(x)));
    for (const [i, x] of xs.entries()) expect(await m.forward(x)).toEqual(together[i]);
    expect(await m.forward(new Float32Array(0))).toEqual(new Float32Array(0));
  });

  it('bad inputs are errors that name the fix', async () => {
    const m = await load(mixtral, mixtral.weightsPath, { maxTokens: 8 });
    await expect(m.forward(new Float32Array(17))).rejects.toMatchObject({ code: 'input', message: expect.stringMatching(/17 values, not a whole number of 16-wide tokens/) });
    await expect(m.forward(new Float32Array(16 * 9))).rejects.toMatchObject({ code: 'input', message: expect.stringMatching(/9 tokens exceed maxTokens 8/) });
    const x = new Float32Array(32);
    x[21] = NaN;
    await expect(m.forward(x)).rejects.toMatchObject({ code: 'input', message: expect.stringMatching(/NaN at index 21 \(token 1, column 5\)/) });
    await expect(mixtral.module.load(mixtral.weightsPath, { device: gpu!.device, maxTokens: 65 })).rejects.toMatchObject({ code: 'input', message: expect.stringMatching(/from 1 to 64/) });
  });

  it('a model that routes by hash needs ids and uses them', async () => {
    const file = join(dir, 'hashed.moe');
    writeFileSync(file, HASH_MODEL);
    const c = await compile('hashed', file, HASH_MODEL, {});
    expect(c.module.info.needs).toEqual(['ids']);
    const m = await load(c);
    const x = randomInput(6, 16, 3);
    await expect(m.forward(x.data as Float32Array)).rejects.toMatchObject({ code: 'input', message: expect.stringMatching(/routes by token id: pass \{ ids \}/) });
    const ids = Int32Array.from([5, 9, 1, 5, 77, 3]);
    expect(relativeL2(await m.forward(x.data as Float32Array, { ids }), reference(c, x, { ids }))).toBeLessThan(1e-5);
  });

  it('weights that do not match the program are refused before anything runs, naming each tensor', async () => {
    const stored = new Map([...initWeights(mixtral.graph, 5)]);
    const [first, second] = [...stored.keys()];
    const misshapen = new Map(stored);
    misshapen.delete(first!);
    misshapen.set(second!, { tensor: { dtype: 'f32', shape: [3], data: new Float32Array(3) }, as: 'BF16' });
    misshapen.set('extra.weight', { tensor: { dtype: 'f32', shape: [1], data: new Float32Array(1) }, as: 'F32' });
    await expect(load(mixtral, writeSafetensors(misshapen))).rejects.toMatchObject({
      code: 'weights',
      message: expect.stringMatching(new RegExp(`3 problems[^]*missing tensor '${first!.replace(/\./g, '\\.')}'[^]*'${second!.replace(/\./g, '\\.')}' has shape \\[3\\][^]*unexpected tensor 'extra\\.weight'`)),
    });
    const bytes = readFileSync(mixtral.weightsPath);
    await expect(load(mixtral, bytes.subarray(0, bytes.length - 10))).rejects.toMatchObject({ code: 'weights', message: expect.stringMatching(/truncated/) });
    const poisoned = new Map(stored);
    const gain = [...stored.keys()].find((k) => k.endsWith('rmsnorm.weight'))!;
    poisoned.set(gain, { tensor: { dtype: 'f32', shape: [16], data: Float32Array.from({ length: 16 }, (_, i) => (i === 6 ? Infinity : 1)) }, as: 'F32' });
    // The file stores the gain as F32 here, which the program refuses as the wrong dtype; store it as declared.
    poisoned.set(gain, { ...poisoned.get(gain)!, as: 'BF16' });
    await expect(load(mixtral, writeSafetensors(poisoned))).rejects.toMatchObject({ code: 'weights', message: expect.stringMatching(new RegExp(`'${gain.replace(/\./g, '\\.')}' holds Infinity at index 6`)) });
  });

  it('a weight larger than one binding is split across buffers and still computes the same function', async () => {
    const { graph } = compileText(readExample('mixtral-8x7b.moe'), small['mixtral-8x7b.moe']!);
    // 1 KiB bindings: every stacked expert weight (8 × 16 × 24 f32 = 12 KiB) spans several buffers.
    const program = buildProgram(runPipeline(graph), { ...SCHEDULES.llvmpipe!, maxBindingBytes: 1024 });
    const chunked = program.buffers.filter((b) => b.sourceRange).length;
    expect(chunked).toBeGreaterThan(8);
    const programPath = join(dir, 'chunked.program.json');
    writeFileSync(programPath, programJson(program));
    const { loadCompiled } = (await import('moec/runtime' as string)) as { loadCompiled: (url: URL, info: object, w: unknown, o: object) => Promise<Model> };
    const m = await loadCompiled(pathToFileURL(programPath), { name: program.name, width: 16, maxTokens: 32, needs: [] }, mixtral.weightsPath, { device: gpu!.device });
    loaded.push(m);
    const x = randomInput(20, 16, 4);
    expect(relativeL2(await m.forward(x.data as Float32Array), reference(mixtral, x))).toBeLessThan(1e-5);
  });

  it('a program compiled for another subgroup size is refused, not run wrong', async () => {
    const { graph } = compileText(readExample('mixtral-8x7b.moe'), small['mixtral-8x7b.moe']!);
    const program = buildProgram(runPipeline(graph), { ...SCHEDULES.llvmpipe!, matmul: { lanes: 16, rows: 8, shareA: true } });
    expect(program.subgroupSize).toBe(16);
    const programPath = join(dir, 'subgroups16.program.json');
    writeFileSync(programPath, programJson(program));
    const { loadCompiled } = (await import('moec/runtime' as string)) as { loadCompiled: (url: URL, info: object, w: unknown, o: object) => Promise<Model> };
    await expect(loadCompiled(pathToFileURL(programPath), { name: program.name, width: 16, maxTokens: 32, needs: [] }, mixtral.weightsPath, { device: gpu!.device })).rejects.toMatchObject({
      code: 'limits',
      message: expect.stringMatching(/compiled for subgroups of exactly 16 invocations .* this device has subgroups of 8 invocations: compile with --schedule gpu/),
    });
  });

  it('limits too small for maxTokens are refused up front with the largest count that fits', async () => {
    const c = await compile('mixtral-big', join(examplesDir, 'mixtral-8x7b.moe'), readExample('mixtral-8x7b.moe'), small['mixtral-8x7b.moe']!, 1e9);
    await expect(c.module.load(c.weightsPath, { device: gpu!.device, maxTokens: 1e9 })).rejects.toMatchObject({ code: 'limits', message: expect.stringMatching(/load with maxTokens ≤ \d+/) });
  });

  it('dispose frees the model; a lost device says to load again', async () => {
    const m = await load(mixtral);
    m.dispose();
    await expect(m.forward(new Float32Array(16))).rejects.toMatchObject({ code: 'disposed' });
    const own = await openDevice();
    const n = await mixtral.module.load(mixtral.weightsPath, { device: own.device });
    own.device.destroy();
    await own.device.lost;
    await expect(n.forward(new Float32Array(16))).rejects.toMatchObject({ code: 'device-lost', message: expect.stringMatching(/load the model again/) });
  });
});
