import { UserError } from '../diagnostics/user-error.js';
import { floatToBf16, floatToHalf, bf16ToFloat, halfToFloat, size, type Tensor } from './tensor.js';

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}`, then the
 * tensor bytes. Reading validates everything (a truncated or corrupt file is an error that
 * says what is wrong), converts f16/bf16 to f32 and holds integer types as i32; writing is
 * deterministic (names sorted, header padded to 8 bytes).
 *
 * The header functions need only the file's first `8 + header length` bytes and nothing from
 * Node, so a browser can validate a file's layout before streaming its tensors.
 */
export type StoredDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I8' | 'U8' | 'F8_E4M3';

export const STORED_BYTES: Readonly<Record<StoredDType, number>> = { F32: 4, F16: 2, BF16: 2, I32: 4, I8: 1, U8: 1, F8_E4M3: 1 };

/**
 * The 256 values of F8_E4M3 (OCP's E4M3FN, PyTorch's float8_e4m3fn: DeepSeek-V3's released
 * weights): sign, 4 exponent bits (bias 7), 3 mantissa bits, subnormals, no infinities, NaN at
 * S.1111.111. Every value is exact in f32.
 */
export const E4M3_VALUES: Float32Array = Float32Array.from({ length: 256 }, (_, b) => {
  const [sign, e, m] = [b & 0x80 ? -1 : 1, (b >> 3) & 15, b & 7];
  if (e === 15 && m === 7) return NaN;
  return sign * (e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7));
});
const E4M3_CODES = new Map([...E4M3_VALUES].map((v, b) => [Object.is(v, -0) ? '-0' : String(v), b]));

/** The F8_E4M3 byte of a value it holds exactly (anything else is a caller's bug). */
function e4m3Code(v: number): number {
  const code = E4M3_CODES.get(Object.is(v, -0) ? '-0' : String(v));
  if (code === undefined) throw new Error(`internal: ${v} is not an F8_E4M3 value`);
  return code;
}
/** The largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends UserError {}

/** One tensor's place in the file; `begin` and `end` count from the start of the data section. */
export interface TensorEntry {
  name: string;
  dtype: StoredDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsLayout {
  /** Where the data section starts in the file: 8 + header length. */
  dataStart: number;
  /** Every tensor, sorted by `begin`: together they cover the data section exactly once. */
  tensors: TensorEntry[];
  metadata?: Record<string, string>;
}

/**
 * The header length from the file's first 8 bytes, checked exactly (the stored value is
 * 64-bit) against the format's limit and, when given, the file's size.
 */
export function safetensorsHeaderLength(first8: Uint8Array, fileBytes?: number): number {
  const size = fileBytes ?? first8.length;
  if (first8.length < 8 || size < 8) throw new SafetensorsError(`file is ${Math.min(size, first8.length)} bytes, too short for a safetensors header`);
  const length = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (fileBytes !== undefined && 8n + length > BigInt(fileBytes)) {
    throw new SafetensorsError(`8 + header length ${length} exceeds the file (${fileBytes} bytes): truncated or not a safetensors file`);
  }
  if (length > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(`header length ${length} exceeds the limit of ${MAX_HEADER_BYTES} bytes: corrupt or not a safetensors file`);
  return Number(length);
}

/**
 * Parse and validate the header: `prefix` holds at least the file's first 8 + header length
 * bytes, `fileBytes` is the whole file's size. Checks every dtype, shape and byte count, that
 * each tensor lies inside the file, and that the tensors neither overlap nor leave holes in
 * the data section (the format forbids both).
 */
export function parseSafetensorsHeader(prefix: Uint8Array, fileBytes: number): SafetensorsLayout {
  const headerLength = safetensorsHeaderLength(prefix, fileBytes);
  const dataStart = 8 + headerLength;
  if (prefix.length < dataStart) throw new RangeError(`parseSafetensorsHeader needs the file's first ${dataStart} bytes, got ${prefix.length}`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8, dataStart)));
  } catch {
    throw new SafetensorsError('header is not valid JSON: corrupt or not a safetensors file');
  }
  if (!isObject(header)) throw new SafetensorsError('header is not a JSON object');
  const tensors: TensorEntry[] = [];
  let metadata: Record<string, string> | undefined;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') metadata = parseMetadata(entry);
    else tensors.push(parseEntry(name, entry));
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkCoverage(tensors, fileBytes - dataStart);
  return { dataStart, tensors, ...(metadata ? { metadata } : {}) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseMetadata(entry: unknown): Record<string, string> {
  if (!isObject(entry) || !Object.values(entry).every((v) => typeof v === 'string')) throw new SafetensorsError("'__metadata__' must map names to strings");
  return entry as Record<string, string>;
}

function parseEntry(name: string, entry: unknown): TensorEntry {
  if (!isObject(entry)) throw new SafetensorsError(`tensor '${name}': expected {dtype, shape, data_offsets}`);
  const dtype = entry['dtype'];
  if (!(typeof dtype === 'string' && Object.hasOwn(STORED_BYTES, dtype))) {
    throw new SafetensorsError(`tensor '${name}' has unsupported dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(STORED_BYTES).join(', ')}`);
  }
  const shape = entry['shape'];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
  const offsets = entry['data_offsets'];
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    throw new SafetensorsError(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}: expected [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  // Exact, whatever the shape: a product past 2^53 cannot match any real byte count.
  const needed = (shape as number[]).reduce((a, d) => a * BigInt(d), BigInt(STORED_BYTES[dtype as StoredDType]));
  const typeText = `${dtype}[${(shape as number[]).join(', ')}]`;
  if (BigInt(end - begin) !== needed) throw new SafetensorsError(`tensor '${name}' has ${end - begin} bytes, but ${typeText} needs ${needed}`);
  return { name, dtype: dtype as StoredDType, shape: shape as number[], begin, end };
}

/** Sorted tensors must tile [0, dataBytes): each begins where the previous one ended. */
function checkCoverage(sorted: readonly TensorEntry[], dataBytes: number): void {
  let at = 0;
  let previous: TensorEntry | undefined;
  const where = (t: TensorEntry) => `'${t.name}' (bytes ${t.begin}..${t.end})`;
  for (const t of sorted) {
    if (t.end > dataBytes) throw new SafetensorsError(`tensor ${where(t)} ends past the ${dataBytes}-byte data section: the file is truncated`);
    if (t.begin < at) throw new SafetensorsError(`tensors ${where(previous!)} and ${where(t)} overlap in the data section`);
    if (t.begin > at) throw new SafetensorsError(`bytes ${at}..${t.begin} of the data section belong to no tensor (${previous ? `between ${where(previous)} and ${where(t)}` : `before ${where(t)}`})`);
    at = t.end;
    previous = t;
  }
  if (at < dataBytes) throw new SafetensorsError(`bytes ${at}..${dataBytes} of the data section belong to no tensor (${previous ? `after ${where(previous)}` : 'the file declares no tensors'})`);
}

/** The index of the first NaN or infinity in `values`, or -1 when all are finite. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/**
 * Why a float tensor must be rejected, or undefined when all its values are finite: names the
 * tensor, the first bad value and its flat and per-axis index. `values` may be a piece of the
 * tensor that starts at flat index `offset`.
 */
export function nonFiniteProblem(name: string, shape: readonly number[], values: ArrayLike<number>, offset = 0): string | undefined {
  const found = firstNonFinite(values);
  if (found < 0) return undefined;
  const i = offset + found;
  const coords: number[] = [];
  let rest = i;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    coords.unshift(rest % shape[axis]!);
    rest = Math.floor(rest / shape[axis]!);
  }
  return `tensor '${name}' holds ${values[found]} at index ${i} ([${coords.join(', ')}]): values must be finite`;
}

export interface StoredTensor {
  tensor: Tensor;
  /** The dtype in the file (the tensor itself is f32 or i32). */
  stored: StoredDType;
}

/** Read a whole file: its layout validated, every tensor decoded (f32 or i32), in file order. */
export function readSafetensors(bytes: Uint8Array): Map<string, StoredTensor> {
  const layout = parseSafetensorsHeader(bytes, bytes.length);
  const out = new Map<string, StoredTensor>();
  for (const t of layout.tensors) {
    out.set(t.name, { tensor: decode(bytes.subarray(layout.dataStart + t.begin, layout.dataStart + t.end), t.dtype, t.shape), stored: t.dtype });
  }
  return out;
}

/** Stored bytes to a tensor: f32 for float dtypes, i32 for integer ones (one value per stored element). */
export function decode(raw: Uint8Array, dtype: StoredDType, shape: number[]): Tensor {
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
  else if (dtype === 'F8_E4M3') for (let i = 0; i < n; i++) data[i] = E4M3_VALUES[view.getUint8(i)]!;
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
    const bytes = size(tensor.shape) * STORED_BYTES[as];
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
      else if (as === 'F8_E4M3') view.setUint8(at + i, e4m3Code(v));
      else if (as === 'F16') view.setUint16(at + i * 2, floatToHalf(v), true);
      else view.setUint16(at + i * 2, floatToBf16(v), true);
    }
    at += n * STORED_BYTES[as];
  }
  return out;
}
