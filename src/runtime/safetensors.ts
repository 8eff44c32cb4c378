import { UserError } from '../diagnostics/user-error.js';
import { floatToBf16, floatToHalf, bf16ToFloat, halfToFloat, size, type Tensor } from './tensor.js';

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}`, then the
 * tensor bytes. Reading validates everything (a truncated or corrupt file is an error that
 * says what is wrong), converts f16/bf16 to f32 and holds integer types as i32; writing is deterministic (names sorted,
 * header padded to 8 bytes).
 */
export type StoredDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I8' | 'U8';

const BYTES: Record<StoredDType, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I8: 1, U8: 1 };
const MAX_HEADER = 100 * 1024 * 1024;

export class SafetensorsError extends UserError {}

export interface StoredTensor {
  tensor: Tensor;
  /** The dtype in the file (the tensor itself is f32 or i32). */
  stored: StoredDType;
}

export function readSafetensors(bytes: Uint8Array): Map<string, StoredTensor> {
  if (bytes.length < 8) throw new SafetensorsError(`file is ${bytes.length} bytes, too short for a safetensors header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length) {
    throw new SafetensorsError(`header length ${headerLen} exceeds the file (${bytes.length} bytes): truncated or not a safetensors file`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch {
    throw new SafetensorsError('header is not valid JSON: corrupt or not a safetensors file');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const out = new Map<string, StoredTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = e.dtype as StoredDType;
    if (!(typeof dtype === 'string' && dtype in BYTES)) throw new SafetensorsError(`tensor '${name}' has unsupported dtype ${JSON.stringify(e.dtype)}; supported: ${Object.keys(BYTES).join(', ')}`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`tensor '${name}' has an invalid shape`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0)) throw new SafetensorsError(`tensor '${name}' has invalid data_offsets`);
    const [begin, end] = offs as [number, number];
    const count = size(shape as number[]);
    if (end - begin !== count * BYTES[dtype]) throw new SafetensorsError(`tensor '${name}' has ${end - begin} bytes, but ${dtype}[${(shape as number[]).join(', ')}] needs ${count * BYTES[dtype]}`);
    if (end > dataLen) throw new SafetensorsError(`tensor '${name}' ends at byte ${end} of a ${dataLen}-byte data section: the file is truncated`);
    out.set(name, { tensor: decode(bytes.subarray(dataStart + begin, dataStart + end), dtype, shape as number[]), stored: dtype });
  }
  return out;
}

function decode(raw: Uint8Array, dtype: StoredDType, shape: number[]): Tensor {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = size(shape);
  if (dtype === 'I32' || dtype === 'I8' || dtype === 'U8') {
    // Integer tensors (indices, quantised weights, packed int4 bytes) are held as i32.
    const data = new Int32Array(n);
    for (let i = 0; i < n; i++) data[i] = dtype === 'I32' ? view.getInt32(i * 4, true) : dtype === 'I8' ? view.getInt8(i) : view.getUint8(i);
    return { dtype: 'i32', shape, data };
  }
  const data = new Float32Array(n);
  if (dtype === 'F32') for (let i = 0; i < n; i++) data[i] = view.getFloat32(i * 4, true);
  else if (dtype === 'F16') for (let i = 0; i < n; i++) data[i] = halfToFloat(view.getUint16(i * 2, true));
  else for (let i = 0; i < n; i++) data[i] = bf16ToFloat(view.getUint16(i * 2, true));
  return { dtype: 'f32', shape, data };
}

export interface TensorToWrite {
  tensor: Tensor;
  /** Stored dtype; f32 tensors may be stored as F16 or BF16 (rounded to nearest even). */
  as: StoredDType;
}

export function writeSafetensors(tensors: ReadonlyMap<string, TensorToWrite>, metadata: Record<string, string> = {}): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header['__metadata__'] = metadata;
  let offset = 0;
  for (const name of names) {
    const { tensor, as } = tensors.get(name)!;
    const bytes = size(tensor.shape) * BYTES[as];
    header[name] = { dtype: as, shape: tensor.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20);
  headerBytes.set(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const { tensor, as } = tensors.get(name)!;
    const n = size(tensor.shape);
    for (let i = 0; i < n; i++) {
      const v = tensor.data[i]!;
      if (as === 'F32') view.setFloat32(at + i * 4, v, true);
      else if (as === 'I32') view.setInt32(at + i * 4, v, true);
      else if (as === 'I8') view.setInt8(at + i, v);
      else if (as === 'U8') view.setUint8(at + i, v);
      else if (as === 'F16') view.setUint16(at + i * 2, floatToHalf(v), true);
      else view.setUint16(at + i * 2, floatToBf16(v), true);
    }
    at += n * BYTES[as];
  }
  return out;
}
