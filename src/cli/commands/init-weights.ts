import { Command } from 'commander';
import { buildGraph } from '../../ir/from-model.js';
import { initWeights, paramShape } from '../../runtime/init-weights.js';
import { writeSafetensors } from '../../runtime/safetensors.js';
import { loadModel, writeFileAtomic, CliError } from '../load.js';
import { modelOptions, type ModelOptions } from '../options.js';

/**
 * Random weights are for tests and examples: a full-size model would exhaust memory (and disk)
 * first. 2^28 elements are 1 GiB as f32, which every tensor passes through, and the file is
 * written from one buffer.
 */
const MAX_PARAMS = 2 ** 28;

export function initWeightsCommand(): Command {
  const cmd = new Command('init-weights')
    .description('write deterministic, sensibly scaled random weights for a model (safetensors)')
    .argument('<file>', 'the .moe file')
    .requiredOption('--seed <N>', 'random seed (an integer)', parseSeed)
    .requiredOption('-o, --output <W.safetensors>', 'weights file to write');
  for (const o of modelOptions()) cmd.addOption(o);
  return cmd.action((file: string, opts: ModelOptions & { seed: number; output: string }) => {
    const graph = buildGraph(loadModel(file, opts.set, opts.model));
    const params = graph.params.reduce((n, p) => n + paramShape(p).reduce((a, b) => a * b, 1), 0);
    if (params > MAX_PARAMS) {
      throw new CliError(`${graph.name} has ${params.toExponential(2)} weight elements; init-weights writes random weights for tests and examples and stops at ${MAX_PARAMS.toLocaleString('en-US')} (2^28). Shrink the model with --set, e.g. --set hidden=64`);
    }
    const weights = initWeights(graph, opts.seed);
    writeFileAtomic(opts.output, writeSafetensors(weights, { model: graph.name, seed: String(opts.seed) }));
  });
}

function parseSeed(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new CliError(`--seed must be an integer, not '${text}'`);
  return n;
}
