import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { dequantizeBase } from '../../interop/dequantize.js';
import { Checkpoint } from '../../interop/checkpoint.js';
import { InteropError } from '../../interop/hf/config.js';
import { planHfExport } from '../../interop/hf/export.js';
import { configPath } from '../../interop/hf/import.js';
import { writeHfCheckpoint } from '../../interop/hf/write-checkpoint.js';
import { exportOnnx } from '../../interop/onnx/export.js';
import { buildGraph } from '../../ir/from-model.js';
import { withOverrides } from '../../interop/onnx/source.js';
import { EXTERNAL_DATA_BYTES, lazyWeights, writeOnnx } from '../../interop/onnx/write.js';
import { CliError, loadModel } from '../load.js';
import { modelOptions, type ModelOptions } from '../options.js';
import { progressBar } from '../progress.js';

interface HfOptions extends ModelOptions {
  weights: string;
  output: string;
  base?: string;
  family?: string;
  stack: 'encoder' | 'decoder';
  shardSize: number;
}

export function exportCommand(): Command {
  const hf = new Command('hf')
    .description(
      'export a model whose structure a Hugging Face family expresses exactly (Mixtral, OLMoE, Qwen2-MoE, Qwen3-MoE, DeepSeek-V2/V3, Arctic, the Switch encoder) as config.json and sharded safetensors in that family\'s names',
    )
    .argument('<file>', 'the .moe file')
    .requiredOption('--weights <W.safetensors>', "the model's weights")
    .requiredOption('-o, --output <DIR>', 'the checkpoint directory to write (new, or empty)')
    .option('--base <SRC>', 'the original checkpoint: its attention, embeddings, other tensors, files and config fields are carried over unchanged')
    .option('--family <model_type>', 'the family to export as (default: the first that expresses the model exactly)')
    .addOption(new Option('--stack <stack>', 'Switch Transformers: which stack of the encoder-decoder the model becomes (the other comes from --base)').choices(['encoder', 'decoder']).default('encoder'))
    .option('--shard-size <BYTES>', 'largest shard in bytes', parseBytes, 5_000_000_000);
  for (const o of modelOptions()) hf.addOption(o);
  hf.action((file: string, opts: HfOptions) => {
    const model = loadModel(file, opts.set, opts.model);
    const base = opts.base ? readBase(opts.base) : undefined;
    const plan = planHfExport(model, opts.weights, { ...(opts.family ? { family: opts.family } : {}), ...(base ? { base: base.config } : {}), stack: opts.stack });
    try {
      const { shards, carried } = writeHfCheckpoint(opts.output, { config: plan.config, tensors: plan.tensors, shardBytes: opts.shardSize, ...(base ? { base: base.checkpoint } : {}), progress: progressBar('tensors') });
      process.stderr.write(
        `moec: wrote ${opts.output} as ${plan.family}: config.json and ${shards} shard${shards > 1 ? 's' : ''}; ` +
          (base ? `${carried} tensors carried over from ${opts.base}\n` : 'the MoE/FFN stack only (no attention or embeddings: pass --base with the original checkpoint for a complete model)\n'),
      );
    } finally {
      plan.weights.close();
      base?.checkpoint.close();
    }
  });
  const onnx = new Command('onnx')
    .description(
      "export any model as an ONNX graph, x [tokens, width] (and int32 ids / requests [tokens] when it reads them) -> y, computing what moec run computes: " +
        "com.microsoft.MoE where its semantics are exactly moec's (softmax | topk | normalize), standard ONNX ops elsewhere; the .moe source travels in the metadata for moec import onnx",
    )
    .argument('<file>', 'the .moe file')
    .requiredOption('--weights <W.safetensors>', "the model's weights")
    .requiredOption('-o, --output <model.onnx>', 'the ONNX file to write')
    .option('--standard-ops', 'use standard ONNX ops only, no com.microsoft.MoE')
    .option('--external-data', `keep the weights in <model.onnx>.data beside the model (ONNX external data; automatic above ${EXTERNAL_DATA_BYTES / 2 ** 30} GiB of weights)`);
  for (const o of modelOptions()) onnx.addOption(o);
  onnx.action((file: string, opts: ModelOptions & { weights: string; output: string; standardOps?: boolean; externalData?: boolean }) => {
    const model = loadModel(file, opts.set, opts.model);
    const cp = Checkpoint.open(opts.weights);
    try {
      const { weights, bytes } = lazyWeights(buildGraph(model), cp, opts.weights);
      const source = { text: withOverrides(readFileSync(file, 'utf8'), opts.set), model: model.name };
      const external = opts.externalData === true || bytes > EXTERNAL_DATA_BYTES;
      const out = writeOnnx(opts.output, external, (sink) => exportOnnx(model, weights, { standardOnly: opts.standardOps === true, source, ...(sink ? { external: sink } : {}) }));
      process.stderr.write(`moec: wrote ${opts.output}${external ? ` and ${opts.output}.data (the weights)` : ''} (${out.fusedLayers} MoE layers as com.microsoft.MoE)\n`);
    } finally {
      cp.close();
    }
  });
  return new Command('export').description('export a model to another format').addCommand(hf).addCommand(onnx);
}

function readBase(path: string): { config: Record<string, unknown>; checkpoint: Checkpoint } {
  const cfg = configPath(path);
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(cfg, 'utf8'));
  } catch (e) {
    throw new InteropError(`--base: cannot read ${cfg}: ${(e as Error).message}`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new InteropError(`--base: ${cfg} is not a JSON object`);
  const checkpoint = Checkpoint.open(cfg);
  return { config: dequantizeBase(checkpoint, config as Record<string, unknown>, cfg), checkpoint };
}

function parseBytes(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`--shard-size must be a positive number of bytes, not '${text}'`);
  return n;
}
