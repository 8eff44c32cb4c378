/// <reference types="@webgpu/types" />
import type { Program } from '../../codegen/program.js';
import type { ByteStream } from '../byte-stream.js';
import { decode, nonFiniteProblem, parseSafetensorsHeader, safetensorsHeaderLength, STORED_BYTES, type SafetensorsLayout, type TensorEntry } from '../safetensors.js';
import { STORED_DTYPE, storedShape } from '../stored-layout.js';
import { WeightsError } from './errors.js';
import { writeBytes, type FillWeights, type WeightTarget } from './launch.js';

/**
 * A safetensors file streamed into a program's weight buffers: the header is read and checked
 * against the program's params (every name, dtype and shape) before a byte is uploaded, then
 * each tensor is read in pieces, decoded, checked for non-finite values and written to the
 * buffers that hold it (a tensor split across several buffers goes to each in turn). Memory
 * use is one piece at a time, whatever the file's size.
 */

export interface LoadProgress {
  /** Bytes of the file read so far, and in all (undefined when the server did not say). */
  loadedBytes: number;
  totalBytes: number | undefined;
  /** Tensors uploaded so far, of how many; and the one just finished. */
  tensorsDone: number;
  tensors: number;
  tensor: string;
}

/** Bytes read, decoded and uploaded at a time. */
const PIECE_BYTES = 16 << 20;
/** Let the queue drain after this many bytes are written, so staging copies do not pile up. */
const DRAIN_BYTES = 256 << 20;

export function streamWeights(stream: ByteStream, program: Program, onProgress?: (p: LoadProgress) => void): FillWeights {
  return async (device, targets) => {
    const layout = await readHeader(stream);
    checkAgainstProgram(layout, program, stream.label);
    let loaded = layout.dataStart;
    let sinceDrain = 0;
    for (const [done, entry] of layout.tensors.entries()) {
      const bytesPer = STORED_BYTES[entry.dtype];
      const count = (entry.end - entry.begin) / bytesPer;
      const perPiece = Math.max(1, Math.floor(PIECE_BYTES / bytesPer));
      const float = entry.dtype === 'F32' || entry.dtype === 'F16' || entry.dtype === 'BF16';
      for (let first = 0; first < count; first += perPiece) {
        const n = Math.min(perPiece, count - first);
        const raw = await stream.read(n * bytesPer);
        if (raw.length < n * bytesPer) throw new WeightsError(`${stream.label}: the file ends inside tensor '${entry.name}' (at byte ${loaded + raw.length}): it is truncated`);
        loaded += raw.length;
        const values = decode(raw, entry.dtype, [n]).data;
        const bad = float ? nonFiniteProblem(entry.name, entry.shape, values, first) : undefined;
        if (bad) throw new WeightsError(`${stream.label}: ${bad}`);
        for (const t of targets.get(entry.name) ?? []) sinceDrain += writeOverlap(device, t, first, values, raw, bytesPer);
        if (sinceDrain >= DRAIN_BYTES) {
          await device.queue.onSubmittedWorkDone();
          sinceDrain = 0;
        }
      }
      onProgress?.({ loadedBytes: loaded, totalBytes: stream.size, tensorsDone: done + 1, tensors: layout.tensors.length, tensor: entry.name });
    }
    if ((await stream.read(1)).length) throw new WeightsError(`${stream.label}: the file continues past its last tensor (byte ${loaded}): corrupt or not a safetensors file`);
  };
}

/**
 * Write the part of a piece (stored elements first..first+length of a param, as decoded `values`
 * and as the file's `raw` bytes) that this buffer holds: the raw bytes when the buffer keeps
 * them as stored, else the decoded values. Returns the bytes written.
 */
function writeOverlap(device: GPUDevice, t: WeightTarget, first: number, values: Float32Array | Int32Array, raw: Uint8Array, bytesPer: number): number {
  const from = Math.max(first, t.offset);
  const to = Math.min(first + values.length, t.offset + t.count);
  if (from >= to) return 0;
  if (t.decl.stored) {
    // Pieces and chunks start on whole words, so the offset is a multiple of 4.
    const part = raw.subarray((from - first) * bytesPer, (to - first) * bytesPer);
    writeBytes(device, t.buffer, (from - t.offset) * bytesPer, part);
    return part.length;
  }
  const part = values.subarray(from - first, to - first);
  device.queue.writeBuffer(t.buffer, (from - t.offset) * 4, part);
  return part.byteLength;
}

async function readHeader(stream: ByteStream): Promise<SafetensorsLayout> {
  const first8 = (await stream.read(8)).slice();
  const headerLength = safetensorsHeaderLength(first8, stream.size);
  const header = await stream.read(headerLength);
  if (header.length < headerLength) throw new WeightsError(`${stream.label}: the file ends inside its ${headerLength}-byte header: it is truncated`);
  const prefix = new Uint8Array(8 + headerLength);
  prefix.set(first8);
  prefix.set(header, 8);
  // Without a known size, the file must end where its last tensor does (checked after the data).
  return parseSafetensorsHeader(prefix, stream.size ?? 8 + headerLength + dataEnd(prefix.subarray(8)));
}

/** The end of the last tensor a header declares (its data section's length), read leniently: the full parse checks it. */
function dataEnd(header: Uint8Array): number {
  try {
    const entries = Object.values(JSON.parse(new TextDecoder().decode(header)) as Record<string, { data_offsets?: unknown }>);
    return Math.max(0, ...entries.map((e) => (Array.isArray(e?.data_offsets) && Number.isSafeInteger(e.data_offsets[1]) ? (e.data_offsets[1] as number) : 0)));
  } catch {
    return 0;
  }
}

/** Every tensor the program needs, with its dtype and shape, and nothing else. */
function checkAgainstProgram(layout: SafetensorsLayout, program: Program, label: string): void {
  const file = new Map<string, TensorEntry>(layout.tensors.map((t) => [t.name, t]));
  const problems: string[] = [];
  const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;
  for (const p of program.params) {
    const want = { dtype: STORED_DTYPE[p.dtype], shape: storedShape(p.dtype, p.shape) ?? p.shape };
    const got = file.get(p.name);
    if (!got) problems.push(`missing tensor '${p.name}' (${want.dtype}${shapeText(want.shape)})`);
    else if (got.dtype !== want.dtype) problems.push(`tensor '${p.name}' is ${got.dtype}, expected ${want.dtype}`);
    else if (shapeText(got.shape) !== shapeText(want.shape)) problems.push(`tensor '${p.name}' has shape ${shapeText(got.shape)}, expected ${shapeText(want.shape)}`);
  }
  const known = new Set(program.params.map((p) => p.name));
  for (const t of layout.tensors) if (!known.has(t.name)) problems.push(`unexpected tensor '${t.name}': the model has no such weight`);
  if (!problems.length) return;
  const shown = problems.slice(0, 20).join('\n  ');
  const more = problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : '';
  throw new WeightsError(`${label} does not match the compiled model ${program.name} (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${shown}${more}\nWeights for this model can be made with: moec init-weights`);
}
