import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { STORED_BYTES, writeSafetensors, type StoredDType, type TensorToWrite } from '../runtime/safetensors.js';
import { size } from '../runtime/tensor.js';
import { InteropError } from './hf/config.js';

/**
 * A tensor to be written: its header entry now, its values when `make` is called, as a tensor
 * to encode or as bytes already in the stored dtype (a copy that needs no conversion).
 */
export interface PendingTensor {
  name: string;
  shape: number[];
  as: StoredDType;
  make(): TensorToWrite | { raw: Uint8Array };
}

/**
 * Write a safetensors file one tensor at a time, with the same bytes as `writeSafetensors`
 * (names sorted, header padded to 8 bytes), into a temporary file renamed over `path` at the
 * end: a failure (a missing shard, a bad shape) leaves nothing behind.
 */
export function writeSafetensorsStreaming(path: string, tensors: readonly PendingTensor[], metadata: Record<string, string>, progress?: (done: number, total: number) => void): void {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header['__metadata__'] = metadata;
  let offset = 0;
  for (const t of sorted) {
    const bytes = size(t.shape) * STORED_BYTES[t.as];
    header[t.name] = { dtype: t.as, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = new Uint8Array(8 + json.length + ((8 - (json.length % 8)) % 8)).fill(0x20);
  new DataView(headerBytes.buffer).setBigUint64(0, BigInt(headerBytes.length - 8), true);
  headerBytes.set(json, 8);

  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    writeAll(fd, headerBytes);
    sorted.forEach((t, i) => {
      const made = t.make();
      const bytes = 'raw' in made ? made.raw : made.as === t.as && made.tensor.shape.join() === t.shape.join() ? encodeTensor(t.name, made) : undefined;
      if (bytes?.length !== size(t.shape) * STORED_BYTES[t.as]) throw new Error(`internal: tensor ${t.name} was announced as ${t.as} [${t.shape}]`);
      writeAll(fd!, bytes);
      progress?.(i + 1, sorted.length);
    });
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if (e instanceof InteropError || (e instanceof Error && e.message.startsWith('internal:'))) throw e;
    throw e instanceof Error && 'code' in e ? new InteropError(`cannot write '${path}': ${e.message}`) : e;
  }
}

/** A tensor's bytes as safetensors stores them: the data section of a file holding it alone. */
function encodeTensor(name: string, t: TensorToWrite): Uint8Array {
  const file = writeSafetensors(new Map([[name, t]]));
  const headerLength = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  return file.subarray(8 + headerLength);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}
