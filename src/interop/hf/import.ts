import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkSource } from '../../checker/check.js';
import { SourceFile } from '../../diagnostics/source.js';
import type { Graph } from '../../ir/graph.js';
import { buildGraph } from '../../ir/from-model.js';
import { paramShape, storedDtype } from '../../runtime/init-weights.js';
import { STORED_BYTES } from '../../runtime/safetensors.js';
import { Checkpoint } from '../checkpoint.js';
import { dequantize } from '../dequantize.js';
import type { PendingTensor } from '../safetensors-stream.js';
import { commentText, ConfigReader, InteropError, modelName } from './config.js';
import { arctic, deepseekV2, deepseekV3, gptOss, mixtral, olmoe, qwen2Moe, qwen3Moe } from './decoder.js';
import type { Family, ImportOptions } from './family.js';
import { stackToMoe } from './moe-text.js';
import type { MoeStack } from './stack.js';
import { switchTransformers } from './switch.js';
import { sourceShape, stackSources, type Source } from './weights.js';

/** Every family `moec import hf` reads, by `model_type`. */
export const FAMILIES: readonly Family[] = [mixtral, qwen2Moe, qwen3Moe, olmoe, deepseekV2, deepseekV3, arctic, switchTransformers, gptOss];

export interface HfImport {
  /** The formatted .moe text. */
  text: string;
  stack: MoeStack;
  graph: Graph;
  /** The weights file's tensors, each read from the checkpoint when written. */
  tensors: PendingTensor[];
  /** Checkpoint tensors left out (attention, embeddings, ...). */
  leftOut: number;
  checkpoint: Checkpoint;
}

/** The config.json of a checkpoint directory (or the file itself). */
export function configPath(path: string): string {
  return existsSync(path) && statSync(path).isDirectory() ? join(path, 'config.json') : path;
}

export function familyOf(config: ConfigReader): Family {
  const type = config.raw('model_type');
  const family = FAMILIES.find((f) => typeof type === 'string' && f.modelTypes.includes(type));
  if (!family) throw new InteropError(`${config.path}: model_type ${JSON.stringify(type ?? null)} is not one moec imports (${FAMILIES.flatMap((f) => f.modelTypes).join(', ')})`);
  return family;
}

/**
 * Read a Hugging Face checkpoint's config and tensor headers and plan the import: the .moe
 * text and, for every moec weight, where it comes from. Nothing is written here and no tensor
 * data is read; every tensor the plan needs is checked to exist with the shape the config
 * implies, so a missing shard or an inconsistent size fails before anything is written.
 */
export function planHfImport(path: string, opts: Omit<ImportOptions, 'name'> & { name?: string }): HfImport {
  const cfgPath = configPath(path);
  let text: string;
  try {
    text = readFileSync(cfgPath, 'utf8');
  } catch (e) {
    throw new InteropError(`cannot read '${cfgPath}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const config = ConfigReader.parse(text, cfgPath);
  const family = familyOf(config);
  const name = opts.name !== undefined ? modelName(opts.name) : String(config.raw('model_type')).replace(/[^A-Za-z0-9_]/g, '_');
  const { stack, layout, quantization } = family.read(config, { ...opts, name });
  stack.notes.unshift(`Imported by moec import hf from ${commentText(cfgPath)}${opts.semantics === 'reference' ? ' (--semantics reference)' : ''}.`);
  const moe = stackToMoe(stack);
  const graph = graphOf(moe, cfgPath);

  const checkpoint = Checkpoint.open(cfgPath);
  try {
    if (quantization) dequantize(checkpoint, quantization, stack.weights);
    const firstMoe = stack.layers.findIndex((k) => k !== 'dense');
    const stacked = firstMoe >= 0 && layout.stacked !== undefined && (layout.stacked.only === true || checkpoint.has(layout.stacked.gateUp(firstMoe)));
    // Per-expert tensors are listed one by one: a config with absurdly many experts fails here, not in memory.
    if (stack.moe && !stacked && stack.moe.experts > checkpoint.names().length) {
      throw new InteropError(`${cfgPath}: says ${stack.moe.experts} experts per layer, but the checkpoint holds only ${checkpoint.names().length} tensors`);
    }
    const sources = stackSources(stack, layout, stacked);
    const used = new Set<string>();
    const tensors = graph.params.map((p): PendingTensor => {
      const source = sources.get(p.name);
      const shape = paramShape(p);
      if (!source || sourceShape(source).join() !== shape.join()) throw new Error(`internal: moec weight ${p.name} [${shape}] has no matching checkpoint source`);
      for (const t of source.tensors) {
        checkTensor(checkpoint, t, source.shape);
        used.add(t);
      }
      const as = storedDtype(p);
      // Same dtype in and out: move stored elements without converting them (bit-exact, and fast).
      const width = STORED_BYTES[as];
      const raw = source.tensors.every((t) => checkpoint.entry(t).dtype === as);
      const make = raw
        ? () => ({ raw: bytesOf(assemble(source, (n) => elementsOf(checkpoint.readRaw(n), width), elementArray(width))) })
        : () => ({ tensor: { dtype: 'f32' as const, shape, data: assemble(source, (n) => checkpoint.read(n).tensor.data as Float32Array, (n) => new Float32Array(n)) }, as });
      return { name: p.name, shape, as, make };
    });
    if (sources.size !== graph.params.length) throw new Error('internal: the import plan has weights the model does not');
    return { text: moe, stack, graph, tensors, leftOut: checkpoint.names().filter((n) => !used.has(n)).length, checkpoint };
  } catch (e) {
    checkpoint.close();
    throw e;
  }
}

/** Check the generated model; a config whose values the language rejects (k > experts, ...) is the user's error. */
function graphOf(text: string, cfgPath: string): Graph {
  const result = checkSource(new SourceFile('<import>', text), { overrides: {} });
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new InteropError(`${cfgPath}: describes a model moec rejects: ${errors.map((d) => `${d.code}: ${d.message}`).join('; ')}`);
  return buildGraph(result.models[0]!);
}

function checkTensor(cp: Checkpoint, name: string, shape: readonly number[]): void {
  if (!cp.has(name)) throw new InteropError(`${cp.dir}: the checkpoint has no tensor '${name}', which the config implies`);
  const e = cp.entry(name);
  if (e.shape.join() !== shape.join()) throw new InteropError(`${cp.dir}: tensor '${name}' has shape [${e.shape.join(', ')}], but config.json implies [${shape.join(', ')}]`);
  if (!['F32', 'BF16', 'F16'].includes(e.dtype)) throw new InteropError(`${cp.dir}: tensor '${name}' is ${e.dtype}; moec imports F32, BF16 and F16 weights`);
}

type Elements = Float32Array | Uint32Array | Uint16Array | Uint8Array;

/** One moec tensor from its sources: rows and columns picked, transposed to [in, out] where stored [out, in], stacked (any element type). */
export function assemble<T extends Elements>(s: Source, read: (name: string) => T, make: (n: number) => T): T {
  const out = make(sourceShape(s).reduce((a, b) => a * b, 1));
  let at = 0;
  for (const name of s.tensors) {
    const data = read(name);
    if (s.shape.length < 2) {
      out.set(data, at);
      at += data.length;
      continue;
    }
    const [a, b] = [s.shape[s.shape.length - 2]!, s.shape[s.shape.length - 1]!];
    const lead = data.length / (a * b);
    const { start, count } = s.rows ?? { start: 0, count: a };
    const cols = s.columns ?? { start: 0, step: 1, count: b };
    for (let l = 0; l < lead; l++) {
      for (let i = 0; i < count; i++) {
        const row = l * a * b + (start + i) * b + cols.start;
        for (let j = 0; j < cols.count; j++) out[at + (s.transpose ? j * count + i : i * cols.count + j)] = data[row + j * cols.step]!;
      }
      at += count * cols.count;
    }
  }
  return out;
}

/** Raw little-endian bytes as elements of their size (the copy is aligned), and back. */
export function elementsOf(bytes: Uint8Array, width: number): Elements {
  const copy = bytes.byteOffset % width ? bytes.slice() : bytes;
  return width === 4 ? new Uint32Array(copy.buffer, copy.byteOffset, copy.length / 4) : width === 2 ? new Uint16Array(copy.buffer, copy.byteOffset, copy.length / 2) : copy;
}

export function elementArray(width: number): (n: number) => Elements {
  return (n) => (width === 4 ? new Uint32Array(n) : width === 2 ? new Uint16Array(n) : new Uint8Array(n));
}

export const bytesOf = (e: Elements) => new Uint8Array(e.buffer, e.byteOffset, e.byteLength);
