import { Command, InvalidArgumentError, Option } from 'commander';
import type { Graph } from '../../ir/graph.js';
import { buildProgram } from '../../codegen/compile.js';
import { scheduleFor } from '../../codegen/schedule.js';
import { buildGraph } from '../../ir/from-model.js';
import { evalDim } from '../../ir/types.js';
import { runPipeline } from '../../passes/pipeline.js';
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
    .addOption(new Option('--backend <backend>', 'cpu: the reference interpreter; webgpu: the compiled kernels, on the first WebGPU adapter (lavapipe on a machine without a GPU)').choices(['cpu', 'webgpu']).default('cpu'))
    .option('--no-opt', 'cpu: run the graph as built, before the passes (default: the optimised graph, what the kernels compute)')
    .option('--profile', 'webgpu: time every dispatch and print a table per kernel (timestamp queries where the adapter has them, otherwise one timed submit per dispatch)')
    .addOption(new Option('--format <format>', 'how --profile prints: a text table on stderr, or JSON on stdout').choices(['text', 'json']).default('text'));
  for (const o of modelOptions()) cmd.addOption(o);
  return cmd.action(async (file: string, opts: RunOptions) => {
    if ((opts.input === undefined) === (opts.randomInput === undefined)) throw new CliError('give exactly one of --input and --random-input');
    if (opts.profile && opts.backend !== 'webgpu') throw new CliError('--profile times kernels: use it with --backend webgpu');
    if (!opts.opt && opts.backend === 'webgpu') throw new CliError('--no-opt runs the unoptimised graph on the CPU only; kernels always come from the optimised graph');
    const graph = buildGraph(loadModel(file, opts.set, opts.model));
    const weights = validateWeights(graph, readTensors(opts.weights, 'weights file'), opts.weights);
    const optimised = opts.opt ? runPipeline(graph) : graph;
    if (opts.randomInput !== undefined) checkRunSize(optimised, opts.randomInput, `--random-input ${opts.randomInput}`);
    const inputs = opts.input !== undefined ? validateInputs(graph, readTensors(opts.input, 'input file'), opts.input) : randomInputs(graph, opts.randomInput!, opts.seed);
    if (opts.input !== undefined) checkRunSize(optimised, inputs.x.shape[0]!, `${opts.input} (${inputs.x.shape[0]} tokens)`);
    const y = opts.backend === 'webgpu' ? await runWebGpu(optimised, weights, inputs, opts) : execute(optimised, weights, inputs);
    const out = new Map<string, TensorToWrite>([['y', { tensor: y, as: 'F32' }]]);
    if (opts.input === undefined) out.set('x', { tensor: inputs.x, as: 'F32' });
    writeFileAtomic(opts.output, writeSafetensors(out));
  });
}

interface RunOptions extends ModelOptions {
  weights: string;
  input?: string;
  randomInput?: number;
  seed: number;
  output: string;
  backend: 'cpu' | 'webgpu';
  opt: boolean;
  profile?: boolean;
  format: 'text' | 'json';
}

/** Compile for the adapter found, run once (or profile), and give y back as the reference does. */
async function runWebGpu(graph: Graph, weights: Map<string, Tensor>, inputs: ModelInputs, opts: RunOptions): Promise<Tensor> {
  // Loaded here so that the CPU path never needs the webgpu package.
  const { openDevice, formatAdapter, NoAdapterError } = await import('../../runtime/webgpu/device.js');
  const { createRunner } = await import('../../runtime/webgpu/launch.js');
  const { summarizeProfile, formatProfile } = await import('../../runtime/webgpu/profile.js');
  let opened;
  try {
    opened = await openDevice();
  } catch (err) {
    if (err instanceof NoAdapterError) throw new CliError(err.message);
    throw err;
  }
  const schedule = scheduleFor(opened.adapter, opened.limits.maxStorageBufferBindingSize);
  const program = buildProgram(graph, schedule);
  process.stderr.write(`webgpu: ${formatAdapter(opened.adapter)}; ${schedule.name} schedule, ${program.kernels.length} kernels, ${program.dispatches.length} dispatches\n`);
  const runner = await createRunner(opened.device, program, weights);
  const tokens = inputs.x.shape[0]!;
  const run = { x: inputs.x.data as Float32Array, tokens, ...(graph.inputs.some((n) => n.attrs.name === 'ids') && inputs.ids ? { ids: inputs.ids } : {}), ...(graph.inputs.some((n) => n.attrs.name === 'requests') ? { requests: inputs.requests ?? new Int32Array(tokens) } : {}) };
  let y: Float32Array;
  if (opts.profile) {
    await runner.run(run); // the first run compiles pipelines and allocates: not what a profile should show
    const profiled = await runner.run(run, { profile: true });
    const summary = summarizeProfile(profiled.profile);
    if (opts.format === 'json') process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stderr.write(formatProfile(summary));
    y = profiled.y;
  } else y = await runner.run(run);
  runner.destroy();
  return { dtype: 'f32', shape: [tokens, program.width], data: y };
}

/** The most elements one value of a run may hold: 1 GiB of f32, well within what Node can allocate. */
const MAX_RUN_ELEMENTS = 2 ** 28;

/** Refuse a run whose largest value (at this many tokens) would not fit, before allocating anything. */
function checkRunSize(graph: Graph, tokens: number, what: string): void {
  let largest: { elements: number; type: string } = { elements: 0, type: '' };
  for (const node of graph.nodes) {
    const shape = node.type.shape.map((d) => evalDim(d, tokens));
    const elements = shape.reduce((a, b) => a * b, 1);
    if (elements > largest.elements) largest = { elements, type: `${node.type.dtype}[${shape.join(', ')}]` };
  }
  if (largest.elements > MAX_RUN_ELEMENTS) {
    throw new CliError(`${what}: the run would hold a value of ${largest.elements.toLocaleString('en-US')} elements (${largest.type}); moec run holds at most ${MAX_RUN_ELEMENTS.toLocaleString('en-US')} (2^28) per value: use fewer tokens`);
  }
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
