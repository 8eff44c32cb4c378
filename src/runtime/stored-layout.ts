import { STORED_DTYPE, storedShape, type ProgramParam } from '../codegen/program.js';
import { bf16FromBits, halfFromBits } from './tensor.js';

/**
 * How a weight is laid out in a safetensors file. The dtype and shape there are defined with
 * the Program (STORED_DTYPE, storedShape), which every back end reads; this adds the bytes.
 */
export type ParamDType = ProgramParam['dtype'];
export { STORED_DTYPE, storedShape };

/** Decoded values (f32, or i32 for int8 values and int4 bytes) back to the bytes the file stores. */
export function encodeStored(values: Float32Array | Int32Array, dtype: ParamDType): Uint8Array {
  if (dtype === 'f32') return new Uint8Array(Float32Array.from(values).buffer);
  if (dtype === 'int8') return new Uint8Array(Int8Array.from(values).buffer);
  if (dtype === 'int4') return Uint8Array.from(values);
  // From the f32 bits in a plain loop: a per-element mapping through a DataView took 21 s for 44 M values.
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  const round = dtype === 'bf16' ? bf16FromBits : halfFromBits;
  const out = new Uint16Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = round(bits[i]!);
  return new Uint8Array(out.buffer);
}
