/**
 * The builds scripts/gpu-check.sh runs, one line each: "label file arithmetic tolerance --set ...".
 * Every example at its test sizes in f32, then the tensor-core builds (test/support/cuda.ts), whose
 * .moe is written into DIR (the first argument) when the build edits the example (fewer layers).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildName, exampleText, HALF_TOLERANCE, TENSOR_CORE_BUILDS } from '../test/support/cuda.js';
import { small } from '../test/support/small.js';

const dir = process.argv[2] ?? '.';
const sets = (dims: Record<string, number>) => Object.entries(dims).map(([k, v]) => `--set ${k}=${v}`);
for (const [file, dims] of Object.entries(small)) console.log([file.replace(/\.moe$/, ''), `examples/${file}`, 'f32', '1e-5', ...sets(dims)].join(' '));
for (const b of TENSOR_CORE_BUILDS) {
  const file = b.edit ? join(dir, `${buildName(b)}.moe`) : `examples/${b.example}`;
  if (b.edit) writeFileSync(file, exampleText(b));
  console.log([buildName(b), file, b.arithmetic, HALF_TOLERANCE, ...sets({ ...small[b.example], ...b.sizes })].join(' '));
}
