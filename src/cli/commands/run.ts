import { Command, Option } from 'commander';
import { buildGraph } from '../../ir/from-model.js';
import { execute } from '../../runtime/reference/execute.js';
import { validateInputs, validateWeights } from '../../runtime/validate.js';
import { readSafetensors, SafetensorsError, writeSafetensors } from '../../runtime/safetensors.js';
import { CliError, loadModel, readBytes, writeFileAtomic } from '../load.js';
import { modelOptions, type ModelOptions } from '../options.js';

export function runCommand(): Command {
  const cmd = new Command('run')
    .description('run a model on an input: x [tokens, width] in, y [tokens, width] out (safetensors)')
    .argument('<file>', 'the .moe file')
    .requiredOption('--weights <W.safetensors>', 'weights (see moec init-weights, moec inspect --json)')
    .requiredOption('--input <X.safetensors>', "input tensors: 'x', optionally 'ids' (hash routing) and 'requests' (I32 request id per token)")
    .requiredOption('-o, --output <Y.safetensors>', "output file; holds 'y' (F32)")
    .addOption(new Option('--backend <backend>', 'where to run').choices(['cpu']).default('cpu'));
  for (const o of modelOptions()) cmd.addOption(o);
  return cmd.action((file: string, opts: ModelOptions & { weights: string; input: string; output: string }) => {
    const graph = buildGraph(loadModel(file, opts.set, opts.model));
    const weights = validateWeights(graph, readTensors(opts.weights, 'weights file'), opts.weights);
    const inputs = validateInputs(graph, readTensors(opts.input, 'input file'), opts.input);
    const y = execute(graph, weights, inputs);
    writeFileAtomic(opts.output, writeSafetensors(new Map([['y', { tensor: y, as: 'F32' }]])));
  });
}

function readTensors(path: string, what: string) {
  try {
    return readSafetensors(readBytes(path, what));
  } catch (err) {
    if (err instanceof SafetensorsError) throw new CliError(`${path}: ${err.message}`);
    throw err;
  }
}
