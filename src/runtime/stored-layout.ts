import type { ProgramParam } from '../codegen/program.js';
import type { StoredDType } from './safetensors.js';

/**
 * How a weight is laid out in a safetensors file: its stored dtype, and its shape there (int4
 * packs two values per U8 byte along the last dim). One definition for init-weights, the CLI's
 * checks and the runtime's loader.
 */
export type ParamDType = ProgramParam['dtype'];

export const STORED_AS: Readonly<Record<ParamDType, StoredDType>> = { f32: 'F32', f16: 'F16', bf16: 'BF16', int8: 'I8', int4: 'U8' };

/** The stored shape, or undefined for an int4 weight whose last dim is odd (it cannot be packed). */
export function storedShape(dtype: ParamDType, shape: readonly number[]): number[] | undefined {
  if (dtype !== 'int4') return [...shape];
  const last = shape[shape.length - 1]!;
  return last % 2 ? undefined : [...shape.slice(0, -1), last / 2];
}
