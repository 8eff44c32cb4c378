// What the offload benches share: the shared traces, the example model for each, and the
// command-line options every one of them reads.
import { join } from 'node:path';
import { LINKS } from '../dist/offload/link.js';

export const root = join(import.meta.dirname, '..');
export const traces = process.env['MOEC_TRACES'] ?? join(root, '..', 'shared', 'traces');

/** The value after `--name` on the command line. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export const link = LINKS[arg('--link') ?? 'pcie4']!;
/** Slot counts as multiples of the experts a token selects. */
export const multiples = (arg('--times') ?? '1,2,4').split(',').map(Number);

const only = arg('--only');
export const cases = [
  { key: 'mixtral', model: 'mixtral-8x7b.moe', trace: 'mixtral-8x7b-decode.jsonl.gz', k: 2 },
  { key: 'deepseek', model: 'edge-deepseek-v2-lite.moe', trace: 'deepseek-v2-lite-prefill.jsonl.gz', k: 6 },
].filter((c) => !only || c.key === only);
