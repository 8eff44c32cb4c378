import type { ProgramParam } from '../codegen/program.js';
import type { StoredDType } from './safetensors.js';
import { floatToBf16, floatToHalf } from './tensor.js';

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

/** Decoded values (f32, or i32 for int8 values and int4 bytes) back to the bytes the file stores. */
export function encodeStored(values: Float32Array | Int32Array, dtype: ParamDType): Uint8Array {
  if (dtype === 'f32') return new Uint8Array(Float32Array.from(values).buffer);
  if (dtype === 'int8') return new Uint8Array(Int8Array.from(values).buffer);
  if (dtype === 'int4') return Uint8Array.from(values);
  const half = dtype === 'bf16' ? floatToBf16 : floatToHalf;
  return new Uint8Array(Uint16Array.from(values, half).buffer);
}
