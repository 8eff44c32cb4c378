import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../src/codegen/compile.js';
import { SCHEDULES, scheduleFor } from '../src/codegen/schedule.js';
import type { Graph } from '../src/ir/graph.js';
import { runPipeline } from '../src/passes/pipeline.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { createRunner, type WebGpuRunner } from '../src/runtime/webgpu/launch.js';
import { exampleFiles, readExample } from './helpers.js';
import { compileText, randomInput, randomWeights, relativeL2, run } from './support/model.js';
import { small } from './support/small.js';
import { gpuSuiteTitle, openTestDevice } from './support/webgpu.js';

/**
 * The WebGPU back end against the CPU reference, on every example at test sizes: the same
 * function (f32 relative L2 < 1e-5), the same bits however requests are batched, the same bytes
 * on every run, and all routing on the device (one submit, one readback per run).
 */
const gpu = await openTestDevice();
const TOKENS = [1, 7, 64, 300];
const runners: WebGpuRunner[] = [];
afterAll(() => runners.forEach((r) => r.destroy()));

interface Compiled {
  graph: Graph;
  optimised: Graph;
  weights: Map<string, Tensor>;
  width: number;
  reads: (name: string) => boolean;
}

function compile(name: string, overrides = small[name]!, text = readExample(name)): Compiled {
  const { graph } = compileText(text, overrides);
  const optimised = runPipeline(graph);
  const inputs = new Set(graph.inputs.map((n) => (n.attrs as { name: string }).name));
  return { graph, optimised, weights: randomWeights(graph, 11), width: Number(graph.inputs[0]!.type.shape[1]), reads: (n) => inputs.has(n) };
}

async function runner(c: Compiled, schedule = scheduleFor(gpu!.adapter)): Promise<WebGpuRunner> {
  const r = await createRunner(gpu!.device, buildProgram(c.optimised, schedule), c.weights);
  runners.push(r);
  return r;
}

/** Token ids 100.. and requests of 3 tokens each, so coupling routers see several requests. */
function inputs(c: Compiled, tokens: number, seed: number) {
  const x = randomInput(tokens, c.width, seed);
  const ids = Int32Array.from({ length: tokens }, (_, i) => 100 + i);
  const requests = Int32Array.from({ length: tokens }, (_, i) => Math.floor(i / 3));
  return { x, ids, requests, gpu: { x: x.data as Float32Array, tokens, ...(c.reads('ids') ? { ids } : {}), ...(c.reads('requests') ? { requests } : {}) } };
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe.skipIf(!gpu)(gpuSuiteTitle('WebGPU agrees with the CPU reference', gpu), () => {
  it.each(exampleFiles().filter((f) => f in small))('%s at 1, 7, 64 and 300 tokens', async (name) => {
    const c = compile(name);
    const r = await runner(c);
    for (const tokens of TOKENS) {
      const input = inputs(c, tokens, tokens);
      const want = run(c.graph, c.weights, input);
      const got = await r.run(input.gpu);
      expect(got.length).toBe(want.length);
      expect(got.every(Number.isFinite), `${name} at ${tokens} tokens: non-finite output`).toBe(true);
      expect(relativeL2(got, want), `${name} at ${tokens} tokens`).toBeLessThan(1e-5);
    }
  });

  it.each(exampleFiles().filter((f) => f in small))('%s: per-request results are bit-identical however requests are batched, and across runs', async (name) => {
    const c = compile(name);
    const r = await runner(c);
    // Requests of 3, 1 and 5 tokens, run together and one by one.
    const sizes = [3, 1, 5];
    const all = inputs(c, 9, 4);
    const requests = Int32Array.from(sizes.flatMap((n, q) => Array<number>(n).fill(q)));
    const together = await r.run({ ...all.gpu, ...(c.reads('requests') ? { requests } : {}) });
    const again = await r.run({ ...all.gpu, ...(c.reads('requests') ? { requests } : {}) });
    expect(bits(again)).toEqual(bits(together));
    let start = 0;
    for (const n of sizes) {
      const x = (all.x.data as Float32Array).slice(start * c.width, (start + n) * c.width);
      const alone = await r.run({
        x,
        tokens: n,
        ...(c.reads('ids') ? { ids: all.ids.slice(start, start + n) } : {}),
        ...(c.reads('requests') ? { requests: new Int32Array(n) } : {}),
      });
      expect(bits(alone), `${name}: request of ${n} tokens at row ${start}`).toEqual(bits(together.slice(start * c.width, (start + n) * c.width)));
      start += n;
    }
  });

  // Router semantics that imported checkpoints need (Hugging Face's zero keys, a fixed capacity).
  const routers: [string, string, string][] = [
    ['group_limit(dropped = zero)', 'linear(hidden -> 8) | sigmoid | select_bias | group_limit(groups = 4, keep = 1, score = top2, dropped = zero) | topk(3) | normalize | scale(2.5)', ''],
    ['capacity(limit = 1) per request', 'linear(hidden -> 8) | softmax | topk(1) | capacity(limit = 1)', 'scope request'],
  ];
  it.each(routers)('router %s at 1, 7 and 64 tokens', async (_name, pipeline, scope) => {
    const { graph } = compileText(`model t {
      dims { hidden = 16 }
      expert e = swiglu(hidden -> 8 -> hidden)
      block moe {
        router gate = ${pipeline}
        experts e x 8
        ${scope}
      }
      layers 2 { x = x + moe(rmsnorm(x)) }
    }`);
    const inputNames = new Set(graph.inputs.map((n) => (n.attrs as { name: string }).name));
    const c: Compiled = { graph, optimised: runPipeline(graph), weights: randomWeights(graph, 5), width: 16, reads: (n) => inputNames.has(n) };
    const r = await runner(c);
    for (const tokens of TOKENS.slice(0, 3)) {
      const input = inputs(c, tokens, tokens + 1);
      expect(relativeL2(await r.run(input.gpu), run(c.graph, c.weights, input)), `${tokens} tokens`).toBeLessThan(1e-5);
    }
  });

  it('every schedule gives the same bits (a schedule changes speed, never results)', async () => {
    for (const name of ['deepseek-v3.moe', 'mixtral-8x7b.moe', 'union-of-experts.moe']) {
      const c = compile(name);
      const input = inputs(c, 37, 2).gpu;
      // The cuda schedule is for NVIDIA GPUs (warp-wide subgroups, its own fixed order of sums): the CUDA tests check it.
      const outs = await Promise.all(Object.values(SCHEDULES).filter((s) => s.name !== 'cuda').map(async (s) => (await runner(c, s)).run(input)));
      for (const out of outs.slice(1)) expect(bits(out), name).toEqual(bits(outs[0]!));
    }
  });

  it('stacked weights larger than a binding run in chunks of experts, with the same bits', async () => {
    // Bindings of a few experts of each [n, 16, 8] stack (bf16: 256 bytes an expert; int8 as
    // stored: 128), so that every grouped product splits.
    const bindings: Record<string, number> = { 'qwen3-30b-a3b.moe': 2048, 'edge-deepseek-v2-lite.moe': 1024, 'hmoe.moe': 2048 };
    for (const [name, maxBindingBytes] of Object.entries(bindings)) {
      const c = compile(name);
      const input = inputs(c, 19, 5).gpu;
      const whole = buildProgram(c.optimised, scheduleFor(gpu!.adapter));
      const tiny = { ...scheduleFor(gpu!.adapter), maxBindingBytes };
      const chunked = buildProgram(c.optimised, tiny);
      expect(chunked.buffers.some((b) => b.sourceRange), name).toBe(true);
      expect(chunked.dispatches.length, name).toBeGreaterThan(whole.dispatches.length);
      const [a, b] = await Promise.all([runner(c).then((r) => r.run(input)), runner(c, tiny).then((r) => r.run(input))]);
      expect(bits(b), name).toEqual(bits(a));
    }
  }, 240_000);

  it.each([
    ['f32', 8192],
    ['bf16', 4096],
    ['int8', 2048],
  ] as const)('a dense %s weight larger than a binding is read in segments of rows, with the same bits', async (weights, limit) => {
    // [64, 96] and [96, 64] weights of 6 to 24 KiB, bound in segments of a few rows each.
    const text = `model dense_split {
      weights ${weights}
      dims { hidden = 64  ffn = 96 }
      expert mlp = swiglu(hidden -> ffn -> hidden)
      layers 2 { x = x + mlp(rmsnorm(x)) }
    }`;
    const c = compile('dense_split', {}, text);
    const input = inputs(c, 19, 5);
    const whole = buildProgram(c.optimised, scheduleFor(gpu!.adapter));
    const tiny = { ...scheduleFor(gpu!.adapter), maxBindingBytes: limit };
    const split = buildProgram(c.optimised, tiny);
    // The same dispatches; more bindings, each within the limit.
    expect(split.dispatches.length).toBe(whole.dispatches.length);
    expect(split.buffers.filter((b) => b.role === 'weight').length).toBeGreaterThan(whole.buffers.filter((b) => b.role === 'weight').length);
    expect(split.buffers.filter((b) => b.role === 'weight').every((b) => b.bytes.b <= limit)).toBe(true);
    const [a, b] = await Promise.all([runner(c).then((r) => r.run(input.gpu)), runner(c, tiny).then((r) => r.run(input.gpu))]);
    expect(bits(b)).toEqual(bits(a));
    expect(relativeL2(b, run(c.graph, c.weights, input))).toBeLessThan(1e-5);
  }, 240_000);

  it.each([
    ['int8', { hidden: 6, ffn: 5 }, 40],
    ['int4', { hidden: 6, ffn: 2 }, 8],
  ] as const)('%s experts kept as stored decode right when a chunk starts mid-word', async (precision, dims, maxBindingBytes) => {
    // 30 (int8) or 6 (int4) bytes an expert: chunks of one expert start inside a u32 word, so
    // each chunk's buffer begins at the word holding its first byte.
    const text = readExample('mixtral-8x7b.moe')
      .replace('layers 32 {', `offload { budget = 100 GiB, precision = { mlp = ${precision} } }\n  layers 2 {`);
    const c = compile('mixtral-8x7b.moe', dims, text);
    const program = buildProgram(c.optimised, { ...scheduleFor(gpu!.adapter), maxBindingBytes });
    // Chunk buffers are named for the range asked for; a chunk aligned down holds a different one.
    const alignedDown = program.buffers.filter((b) => b.stored === precision && b.sourceRange && !b.name.endsWith(`_${b.sourceRange.offset}_${b.sourceRange.count}`));
    expect(alignedDown.length).toBeGreaterThan(0);
    const r = await runner(c, { ...scheduleFor(gpu!.adapter), maxBindingBytes });
    const input = inputs(c, 9, 2);
    expect(relativeL2(await r.run(input.gpu), run(c.graph, c.weights, input))).toBeLessThan(1e-5);
  });

  it('all routing stays on the device: one submit and one readback per run, dispatches independent of the expert count', async () => {
    const counts: number[] = [];
    for (const experts of [8, 64]) {
      const c = compile('qwen3-30b-a3b.moe', { ...small['qwen3-30b-a3b.moe']!, experts });
      const r = await runner(c);
      const input = inputs(c, 16, 1).gpu;
      await r.run(input);
      gpu!.counter.reset();
      await r.run(input);
      const seen = gpu!.counter.take();
      expect(seen.submits).toBe(1);
      expect(seen.readbacks).toBe(1);
      expect(seen.dispatches).toBe(r.program.dispatches.length);
      counts.push(seen.dispatches);
    }
    expect(counts[1]).toBe(counts[0]);
  });
});
