// Benchmark: what `moec export onnx` writes, run in onnxruntime-node (CPU, one thread). One
// Mixtral-style MoE layer (softmax | topk(k) | normalize over SwiGLU experts), exported twice:
// once through onnxruntime's own com.microsoft.MoE kernel, once in standard ops only
// (--standard-ops: moec's route lowering and a Loop over experts that runs each on its rows).
// Per configuration the two sessions run interleaved in pairs (fused first, then standard
// first, ...); the figure is the median over pairs of standard-op time / fused time (1: as fast
// as onnxruntime's kernel). Every output is compared with the CPU reference.
//
// Run: scripts/with-env npx tsx bench/onnx-export.bench.ts
// Environment: ONNX_PAIRS (default 7), ONNX_TOKENS (default "16,128")
import { cpus, loadavg } from 'node:os';
import ort from 'onnxruntime-node';
import { exportOnnx } from '../src/interop/onnx/export.js';
import { compileText, randomInput, randomWeights, relativeL2, run } from '../test/support/model.js';
import { median } from './stats.js';

const env = process.env;
const pairs = Number(env['ONNX_PAIRS'] ?? 7);
const tokenCounts = (env['ONNX_TOKENS'] ?? '16,128').split(',').map(Number);
const shapes = [
  { hidden: 256, ffn: 512, experts: 8, k: 2 },
  { hidden: 256, ffn: 512, experts: 64, k: 4 },
  { hidden: 256, ffn: 256, experts: 128, k: 8 },
];

const layer = (s: (typeof shapes)[number]) => `model onnx_layer {
  dims { hidden = ${s.hidden}  ffn = ${s.ffn}  experts = ${s.experts} }
  expert mlp = swiglu(hidden -> ffn -> hidden)
  block moe {
    router gate = linear(hidden -> experts) | softmax | topk(${s.k}) | normalize
    experts mlp x experts
  }
  layers 1 { x = x + moe(rmsnorm(x)) }
}`;

console.log(`onnx export bench: onnxruntime-node ${ort.env.versions.common}, 1 thread; ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${pairs} pairs`);
console.log('hidden  ffn  experts  k  tokens  fused ms  standard ms  standard/fused (median of pairs)  rel. L2 fused  rel. L2 standard');
for (const s of shapes) {
  const { model, graph } = compileText(layer(s));
  const weights = randomWeights(graph, 1);
  const sessions = await Promise.all([false, true].map(async (standardOnly) => ort.InferenceSession.create(exportOnnx(model, weights, { standardOnly }).bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 })));
  for (const tokens of tokenCounts) {
    const x = randomInput(tokens, s.hidden, 2);
    const feeds = { x: new ort.Tensor('float32', x.data as Float32Array, [tokens, s.hidden]) };
    const reference = run(graph, weights, { x });
    const errors = await Promise.all(sessions.map(async (session) => relativeL2((await session.run(feeds))['y']!.data as Float32Array, reference)));
    const times: [number[], number[]] = [[], []];
    for (let p = 0; p < pairs; p++) {
      for (const i of p % 2 ? [1, 0] : [0, 1]) {
        const start = performance.now();
        await sessions[i]!.run(feeds);
        times[i]!.push(performance.now() - start);
      }
    }
    const ratio = median(times[1].map((t, p) => t / times[0][p]!));
    console.log(
      [s.hidden, s.ffn, s.experts, s.k, tokens, median(times[0]).toFixed(2), median(times[1]).toFixed(2), ratio.toFixed(2), errors[0]!.toExponential(1), errors[1]!.toExponential(1)].join('  '),
    );
  }
}
