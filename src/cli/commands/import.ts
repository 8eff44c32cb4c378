import { Command, Option } from 'commander';
import { planHfImport } from '../../interop/hf/import.js';
import { writeSafetensorsStreaming } from '../../interop/safetensors-stream.js';
import { importOnnx } from '../../interop/onnx/import.js';
import { readBytes, writeFileAtomic } from '../load.js';
import { progressBar } from '../progress.js';

interface HfOptions {
  output?: string;
  weightsOut?: string;
  semantics: 'hf' | 'reference';
  stack: 'encoder' | 'decoder';
  name?: string;
}

export function importCommand(): Command {
  const hf = new Command('hf')
    .description(
      'import a Hugging Face MoE checkpoint (Mixtral, DeepSeek-V2/V3, Qwen2-MoE, Qwen3-MoE, OLMoE, Switch, Arctic, gpt-oss): ' +
        'write its FFN/MoE stack as a formatted .moe file and its weights as safetensors in moec names',
    )
    .argument('<path>', 'the checkpoint directory, or its config.json')
    .option('-o, --output <model.moe>', 'the .moe file to write (default: <name>.moe)')
    .option('--weights-out <W.safetensors>', 'the weights file to write (default: the .moe path with .safetensors)')
    .addOption(
      new Option('--semantics <which>', "where a family's implementations differ, reproduce Hugging Face's code (hf) or the family's own inference code (reference; DeepSeek: dropped groups excluded, not scored 0)")
        .choices(['hf', 'reference'])
        .default('hf'),
    )
    .addOption(new Option('--stack <which>', 'Switch Transformers: the encoder or the decoder stack').choices(['encoder', 'decoder']).default('encoder'))
    .option('--name <NAME>', "the model's name in the .moe file (default: the config's model_type)")
    .action((path: string, opts: HfOptions) => {
      const plan = planHfImport(path, { semantics: opts.semantics, stack: opts.stack, ...(opts.name ? { name: opts.name } : {}) });
      const output = opts.output ?? `${plan.stack.name}.moe`;
      const weights = opts.weightsOut ?? output.replace(/(\.moe)?$/, '.safetensors');
      try {
        // Weights first: they take long and can fail (a shard unreadable midway); the .moe only after.
        writeSafetensorsStreaming(weights, plan.tensors, { model: plan.stack.name, source: 'moec import hf' }, progressBar('tensors'));
      } finally {
        plan.checkpoint.close();
      }
      writeFileAtomic(output, plan.text);
      process.stderr.write(
        `moec: wrote ${output} and ${weights} (${plan.tensors.length} tensors); ${plan.leftOut} checkpoint tensors (attention, embeddings, ...) are outside the language and were left out\n`,
      );
    });
  const onnx = new Command('onnx')
    .description("import an ONNX model: moec's own exports exactly, or a stack of onnxruntime com.microsoft.MoE / QMoE nodes (x + MoE(x), router logits x · W)")
    .argument('<model.onnx>', 'the ONNX file')
    .option('-o, --output <model.moe>', 'the .moe file to write (default: the ONNX path with .moe)')
    .option('--weights-out <W.safetensors>', 'the weights file to write (default: the .moe path with .safetensors)')
    .option('--name <NAME>', "the model's name for a graph not exported by moec", 'onnx_moe')
    .action((path: string, opts: { output?: string; weightsOut?: string; name: string }) => {
      const imported = importOnnx(readBytes(path, 'ONNX model'), path, opts.name);
      const output = opts.output ?? path.replace(/(\.onnx)?$/, '.moe');
      const weights = opts.weightsOut ?? output.replace(/(\.moe)?$/, '.safetensors');
      writeSafetensorsStreaming(weights, [...imported.weights.values()], { source: 'moec import onnx' }, progressBar('tensors'));
      writeFileAtomic(output, imported.text);
      process.stderr.write(`moec: wrote ${output} and ${weights} (${imported.weights.size} tensors)\n`);
    });
  return new Command('import').description('import a model from another format into a .moe file and a weights file').addCommand(hf).addCommand(onnx);
}
