import { Command, InvalidArgumentError, Option } from 'commander';
import type { Graph } from '../../ir/graph.js';
import { buildGraph } from '../../ir/from-model.js';
import { execute } from '../../runtime/reference/execute.js';
import { normalStream } from '../../runtime/init-weights.js';
import type { Tensor } from '../../runtime/tensor.js';
import { validateInputs, validateWeights, type ModelInputs } from '../../runtime/validate.js';
import { readSafetensors, SafetensorsError, writeSafetensors, type TensorToWrite } from '../../runtime/safetensors.js';
import { CliError, loadModel, readBytes, writeFileAtomic } from '../load.js';
import { modelOptions, type ModelOptions } from '../options.js';

export function runCommand(): Command {
  const cmd = new Command('run')
    .description('run a model on an input: x [tokens, width] in, y [tokens, width] out (safetensors)')
    .argument('<file>', 'the .moe file')
    .requiredOption('--weights <W.safetensors>', 'weights (see moec init-weights, moec inspect --json)')
    .option('--input <X.safetensors>', "input tensors: 'x', optionally 'ids' (hash routing) and 'requests' (I32 request id per token)")
    .option('--random-input <TOKENS>', "instead of --input: x ~ N(0, 1) for this many tokens (seeded by --seed), token ids 0.., one request", parseCount)
    .option('--seed <N>', 'seed for --random-input', parseCount, 0)
    .requiredOption('-o, --output <Y.safetensors>', "output file; holds 'y' (F32), and the generated 'x' with --random-input")
    .addOption(new Option('--backend <backend>', 'where to run').choices(['cpu']).default('cpu'));
  for (const o of modelOptions()) cmd.addOption(o);
  return cmd.action((file: string, opts: ModelOptions & { weights: string; input?: string; randomInput?: number; seed: number; output: string }) => {
    if ((opts.input === undefined) === (opts.randomInput === undefined)) throw new CliError('give exactly one of --input and --random-input');
    const graph = buildGraph(loadModel(file, opts.set, opts.model));
    const weights = validateWeights(graph, readTensors(opts.weights, 'weights file'), opts.weights);
    const inputs = opts.input !== undefined ? validateInputs(graph, readTensors(opts.input, 'input file'), opts.input) : randomInputs(graph, opts.randomInput!, opts.seed);
    const y = execute(graph, weights, inputs);
    const out = new Map<string, TensorToWrite>([['y', { tensor: y, as: 'F32' }]]);
    if (opts.input === undefined) out.set('x', { tensor: inputs.x, as: 'F32' });
    writeFileAtomic(opts.output, writeSafetensors(out));
  });
}

function randomInputs(graph: Graph, tokens: number, seed: number): ModelInputs {
  const width = graph.inputs.find((n) => n.attrs.name === 'x')!.type.shape[1] as number;
  const rng = normalStream(seed, 'x');
  const x: Tensor = { dtype: 'f32', shape: [tokens, width], data: Float32Array.from({ length: tokens * width }, () => rng()) };
  return { x, ids: Int32Array.from({ length: tokens }, (_, i) => i) };
}

function parseCount(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, not '${text}'`);
  return n;
}

function readTensors(path: string, what: string) {
  try {
    return readSafetensors(readBytes(path, what));
  } catch (err) {
    if (err instanceof SafetensorsError) throw new CliError(`${path}: ${err.message}`);
    throw err;
  }
}
