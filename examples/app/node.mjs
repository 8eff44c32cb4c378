// A Node application using a compiled model: compile, import the generated module, load, run.
//   node examples/app/node.mjs
import { prepare } from './prepare.mjs';

prepare();
const { load, info } = await import('./out/mixtral_8x7b.js');

const model = await load(new URL('./out/weights.safetensors', import.meta.url), {
  onProgress: (p) => process.stderr.isTTY && process.stderr.write(`\rloading ${p.tensorsDone}/${p.tensors} tensors`),
});
if (process.stderr.isTTY) process.stderr.write('\n');

for (const tokens of [1, 16, 64]) {
  const x = Float32Array.from({ length: tokens * info.width }, (_, i) => Math.sin(i));
  const started = performance.now();
  const y = await model.forward(x);
  const ms = performance.now() - started;
  console.log(`${info.name}: ${tokens} token${tokens > 1 ? 's' : ''} -> y[0..3] = ${[...y.slice(0, 3)].map((v) => v.toFixed(4)).join(', ')} (${ms.toFixed(1)} ms)`);
}
model.dispose();
