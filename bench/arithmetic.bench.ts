// Benchmark: f16 arithmetic against f32 on the same WebGPU adapter (moec compile --arithmetic f16,
// docs/runtime.md). One MoE layer (layer A of the browser bench: hidden 1024, ffn 3584, 8 experts,
// top-2) with int8 and bf16 expert weights, at 1, 16 and 64 tokens. Per configuration both
// programs run on one device, interleaved in pairs (f32 first, then f16 first, ...); the figure is
// the median over pairs of f32 time / f16 time (above 1: f16 is faster), each time taken on the
// host from the call to the output. Every run is compared with the CPU reference.
//
// Run: scripts/with-env npx tsx bench/arithmetic.bench.ts
// Environment: ARITH_PAIRS (default 5), ARITH_TOKENS (default "1,16,64"), ARITH_WEIGHTS (default "int8,bf16")
import { cpus, loadavg } from 'node:os';
import { buildProgram } from '../src/codegen/compile.js';
import { scheduleFor } from '../src/codegen/schedule.js';
import { runPipeline } from '../src/passes/pipeline.js';
import { openDevice, formatAdapter } from '../src/runtime/webgpu/device.js';
import { createRunner } from '../src/runtime/webgpu/launch.js';
import { compileText, randomInput, randomWeights, relativeL2, run } from '../test/support/model.js';
import { median } from './stats.js';

const env = process.env;
const pairs = Number(env['ARITH_PAIRS'] ?? 5);
const tokenCounts = (env['ARITH_TOKENS'] ?? '1,16,64').split(',').map(Number);
const dtypes = (env['ARITH_WEIGHTS'] ?? 'int8,bf16').split(',');

const layer = (weights: string) => `model arith_layer {
  weights ${weights}
  dims { hidden = 1024  ffn = 3584  experts = 8  k = 2 }
  expert mlp = swiglu(hidden -> ffn -> hidden)
  block moe {
    router gate = linear(hidden -> experts) | softmax | topk(k) | normalize
    experts mlp x experts
  }
  layers 1 { x = moe(x) }
}`;

const opened = await openDevice();
if (!opened.features.includes('shader-f16')) throw new Error(`${formatAdapter(opened.adapter)} has no shader-f16: nothing to compare`);
const schedule = scheduleFor(opened.adapter, opened.limits.maxStorageBufferBindingSize);
console.log(`arithmetic bench: ${formatAdapter(opened.adapter)}; ${schedule.name} schedule; ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${pairs} pairs`);
console.log('weights  tokens  f32 ms  f16 ms  f32/f16 (median of pairs)  rel. L2 f32  rel. L2 f16');

for (const dtype of dtypes) {
  const { graph } = compileText(layer(dtype));
  const optimised = runPipeline(graph);
  const weights = randomWeights(graph, 11);
  const runners = await Promise.all((['f32', 'f16'] as const).map((a) => createRunner(opened.device, buildProgram(optimised, schedule, a), weights)));
  for (const tokens of tokenCounts) {
    const x = randomInput(tokens, 1024, tokens);
    const want = run(graph, weights, { x });
    const times: [number[], number[]] = [[], []];
    const errors = [0, 0];
    const once = async (side: 0 | 1) => {
      const start = performance.now();
      const y = await runners[side]!.run({ x: x.data as Float32Array, tokens });
      times[side].push(performance.now() - start);
      errors[side] = Math.max(errors[side]!, relativeL2(y, want));
    };
    await once(0);
    await once(1);
    times[0].length = times[1].length = 0; // warm-ups
    for (let p = 0; p < pairs; p++) {
      const order: (0 | 1)[] = p % 2 ? [1, 0] : [0, 1];
      for (const side of order) await once(side);
    }
    const ratio = median(times[0].map((t, i) => t / times[1][i]!));
    console.log(`${dtype.padEnd(7)}  ${String(tokens).padStart(6)}  ${median(times[0]).toFixed(1).padStart(6)}  ${median(times[1]).toFixed(1).padStart(6)}  ${ratio.toFixed(2).padStart(25)}  ${errors[0]!.toExponential(1).padStart(11)}  ${errors[1]!.toExponential(1).padStart(11)}`);
  }
  runners.forEach((r) => r.destroy());
}
opened.device.destroy();
