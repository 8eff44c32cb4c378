import type { StoredDType } from '../../runtime/safetensors.js';
import type { Quantization } from '../dequantize.js';
import { InteropError, type ConfigReader } from './config.js';
import type { FfnKind, MoeStack } from './stack.js';
import type { HfLayout, Role } from './weights.js';

/**
 * Which reference an import reproduces where a family's implementations differ:
 * `hf` the Hugging Face transformers code (the default), `reference` the family's own
 * inference code (DeepSeek's: dropped groups are excluded, not scored 0).
 */
export type Semantics = 'hf' | 'reference';

export interface ImportOptions {
  semantics: Semantics;
  /** Switch Transformers: which stack to import. */
  stack: 'encoder' | 'decoder';
  /** The model's name in the .moe file. */
  name: string;
}

/** A family's reading of its config: the stack and where its tensors are. */
export interface FamilyImport {
  stack: MoeStack;
  layout: HfLayout;
  /** The checkpoint's weights are quantised this way: read dequantised (src/interop/dequantize.ts). */
  quantization?: Quantization;
}

export interface Family {
  /** The `model_type` values it reads. */
  modelTypes: readonly string[];
  read(config: ConfigReader, opts: ImportOptions): FamilyImport;
}

/** The checkpoint dtype from `torch_dtype` (or `dtype`); absent means f32, as in transformers. */
export function weightDtype(config: ConfigReader): StoredDType {
  const name = config.has('torch_dtype') ? 'torch_dtype' : 'dtype';
  const d = config.choice(name, ['float32', 'bfloat16', 'float16'], 'float32');
  return d === 'float32' ? 'F32' : d === 'bfloat16' ? 'BF16' : 'F16';
}

/** The expert kind of a gated MLP `down(act(gate(x)) * up(x))` from `hidden_act`. */
export function gatedKind(config: ConfigReader, field = 'hidden_act'): FfnKind {
  const act = config.choice(field, ['silu', 'gelu', 'gelu_pytorch_tanh', 'gelu_new'], 'silu');
  return act === 'silu' ? 'swiglu' : act === 'gelu' ? 'geglu' : 'geglu_tanh';
}

/** The expert kind of a plain MLP `down(act(up(x)))`. */
export function plainKind(config: ConfigReader, field: string): FfnKind {
  const act = config.choice(field, ['relu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh', 'silu']);
  return act === 'relu' ? 'relu' : act === 'gelu' ? 'gelu' : act === 'silu' ? 'silu' : 'gelu_tanh';
}

/** The layers that hold an MoE block, as a family's code decides them. */
export function checkLayers(config: ConfigReader, field: string, layers: number, list: readonly number[]): void {
  const bad = list.find((l) => l >= layers);
  if (bad !== undefined) throw new InteropError(`${config.path}: field '${field}' names layer ${bad}, but the model has ${layers} layers`);
}

/** Names of a decoder-only family's projections: Mixtral's w1/w3/w2 or the gate_proj/up_proj/down_proj of the others. */
export const PROJ = {
  llama: { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' },
  mixtral: { gate: 'w1', up: 'w3', down: 'w2' },
} satisfies Record<string, Record<Role, string>>;
