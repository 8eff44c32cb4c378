/**
 * The builds scripts/gpu-check.sh runs, one line each: "label file arithmetic tolerance --set ...".
 * Every example at its test sizes in f32, then the tensor-core builds (test/support/cuda.ts), whose
 * .moe is written into DIR (the first argument) when the build changes its layer count.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readExample } from '../test/helpers.js';
import { buildName, HALF_TOLERANCE, TENSOR_CORE_BUILDS } from '../test/support/cuda.js';
import { small } from '../test/support/small.js';

const dir = process.argv[2] ?? '.';
const sets = (dims: Record<string, number>) => Object.entries(dims).map(([k, v]) => `--set ${k}=${v}`);
for (const [file, dims] of Object.entries(small)) console.log([file.replace(/\.moe$/, ''), `examples/${file}`, 'f32', '1e-5', ...sets(dims)].join(' '));
for (const b of TENSOR_CORE_BUILDS) {
  const file = b.layers ? join(dir, `${buildName(b)}.moe`) : `examples/${b.example}`;
  if (b.layers) writeFileSync(file, readExample(b.example).replace(/layers \d+ \{/, `layers ${b.layers} {`));
  console.log([buildName(b), file, b.arithmetic, HALF_TOLERANCE, ...sets({ ...small[b.example], ...b.sizes })].join(' '));
}
