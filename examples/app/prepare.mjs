// Compile an example model and make weights for it, into examples/app/out/ (what both apps load).
// Small dims keep it quick; drop the --set flags to compile the real Mixtral-8x7B shape.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const moec = fileURLToPath(new URL('../../bin/moec.js', import.meta.url));
const model = fileURLToPath(new URL('../mixtral-8x7b.moe', import.meta.url));
const dims = ['--set', 'hidden=64', '--set', 'ffn=128'];

export function prepare() {
  const run = (...args) => execFileSync(process.execPath, [moec, ...args], { cwd: here, stdio: ['ignore', 'ignore', 'inherit'] });
  run('compile', model, ...dims, '--max-tokens', '64', '-o', 'out');
  run('init-weights', model, ...dims, '--seed', '1', '-o', 'out/weights.safetensors');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) prepare();
