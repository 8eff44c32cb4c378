import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { decode, parseSafetensorsHeader, safetensorsHeaderLength, type StoredDType, type StoredTensor, type TensorEntry } from '../runtime/safetensors.js';
import { InteropError } from './hf/config.js';

/**
 * A safetensors checkpoint read lazily, tensor by tensor: one `model.safetensors`, or shards
 * listed by `model.safetensors.index.json`. A shard's header is read when a tensor of it is
 * first asked for; a tensor's bytes only when it is read, so a checkpoint far larger than
 * memory is fine as long as each tensor moec builds fits.
 */
/** A tensor a quantised checkpoint stores in parts, read dequantised under the name the model reads (src/interop/dequantize.ts). */
export interface DerivedTensor {
  entry: TensorEntry;
  /** The stored tensors it is made of (no longer listed on their own). */
  parts: string[];
  /** Its values (each exact in `entry.dtype`, or an error saying why not). */
  values(): Float32Array;
}

export class Checkpoint {
  private readonly shards = new Map<string, Shard>();
  private readonly derived = new Map<string, DerivedTensor>();

  private constructor(
    readonly dir: string,
    /** Tensor name -> shard file name. */
    private readonly files: ReadonlyMap<string, string>,
  ) {}

  /** `path` is the checkpoint directory or a file in it (config.json, an index, a .safetensors). */
  static open(path: string): Checkpoint {
    const dir = existsSync(path) && statSync(path).isDirectory() ? path : dirname(path);
    const index = join(dir, 'model.safetensors.index.json');
    if (existsSync(index)) {
      let map: unknown;
      try {
        map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
      } catch (e) {
        throw new InteropError(`${index}: not valid JSON: ${(e as Error).message}`);
      }
      if (!map || typeof map !== 'object' || Object.values(map).some((f) => typeof f !== 'string' || f.includes('/') || f.includes('\\'))) {
        throw new InteropError(`${index}: 'weight_map' must map tensor names to shard file names in the same directory`);
      }
      return new Checkpoint(dir, new Map(Object.entries(map as Record<string, string>)));
    }
    const single = path.endsWith('.safetensors') ? path : join(dir, 'model.safetensors');
    if (!existsSync(single)) throw new InteropError(path === single ? `cannot read '${path}': no such file` : `${dir}: no model.safetensors or model.safetensors.index.json`);
    const shard = Shard.open(single);
    const cp = new Checkpoint(dir, new Map(shard.entries.map((t) => [t.name, basename(single)])));
    cp.shards.set(basename(single), shard);
    return cp;
  }

  /** Present a tensor stored in parts (quantised) as one tensor; its parts leave the listing. */
  derive(d: DerivedTensor): void {
    this.derived.set(d.entry.name, d);
  }

  names(): string[] {
    const parts = new Set([...this.derived.values()].flatMap((d) => d.parts));
    return [...[...this.files.keys()].filter((n) => !parts.has(n) && !this.derived.has(n)), ...this.derived.keys()];
  }

  has(name: string): boolean {
    return this.derived.has(name) || this.files.has(name);
  }

  /** A tensor's stored dtype and shape (a derived tensor's: the dtype it is read in). */
  entry(name: string): TensorEntry {
    const d = this.derived.get(name);
    if (d) return d.entry;
    const { shard } = this.locate(name);
    return shard.entry(name)!;
  }

  read(name: string): StoredTensor {
    const d = this.derived.get(name);
    if (d) return { tensor: { dtype: 'f32', shape: d.entry.shape, data: d.values() }, stored: d.entry.dtype };
    const { shard } = this.locate(name);
    return shard.read(name);
  }

  /** A stored tensor, never a derived one (what a derived tensor is made from). */
  readStored(name: string): StoredTensor {
    const { shard } = this.locate(name);
    return shard.read(name);
  }

  /** A tensor's stored bytes, undecoded (little-endian, as safetensors stores them; a derived tensor's in its dtype). */
  readRaw(name: string): Uint8Array {
    const d = this.derived.get(name);
    if (d) return encodeExact(d.values(), d.entry.dtype, name);
    const { shard } = this.locate(name);
    return shard.readRaw(name);
  }

  close(): void {
    for (const s of this.shards.values()) s.close();
  }

  private locate(name: string): { shard: Shard } {
    const file = this.files.get(name);
    if (file === undefined) throw new InteropError(`${this.dir}: the checkpoint has no tensor '${name}'`);
    let shard = this.shards.get(file);
    if (!shard) {
      const path = join(this.dir, file);
      if (!existsSync(path)) throw new InteropError(`${path}: shard missing (model.safetensors.index.json puts '${name}' in it)`);
      shard = Shard.open(path);
      this.shards.set(file, shard);
    }
    if (!shard.entry(name)) throw new InteropError(`${shard.path}: has no tensor '${name}', though model.safetensors.index.json puts it there`);
    return { shard };
  }
}

class Shard {
  private readonly byName: Map<string, TensorEntry>;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly dataStart: number,
    readonly entries: TensorEntry[],
  ) {
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  static open(path: string): Shard {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const first8 = readAt(fd, 0, Math.min(8, size));
      const length = safetensorsHeaderLength(first8, size);
      const layout = parseSafetensorsHeader(readAt(fd, 0, 8 + length), size);
      return new Shard(path, fd, layout.dataStart, layout.tensors);
    } catch (e) {
      closeSync(fd);
      throw e instanceof InteropError ? e : new InteropError(`${path}: ${(e as Error).message}`);
    }
  }

  entry(name: string): TensorEntry | undefined {
    return this.byName.get(name);
  }

  read(name: string): StoredTensor {
    const e = this.byName.get(name)!;
    return { tensor: decode(this.readRaw(name), e.dtype, e.shape), stored: e.dtype as StoredDType };
  }

  readRaw(name: string): Uint8Array {
    const e = this.byName.get(name)!;
    return readAt(this.fd, this.dataStart + e.begin, e.end - e.begin);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Values as F32 or BF16 bytes, each exactly (a BF16 value whose low 16 f32 bits are not zero is an error). */
function encodeExact(values: Float32Array, dtype: StoredDType, name: string): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (dtype !== 'BF16') throw new Error(`internal: derived tensor ${name} as ${dtype}`);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    if (bits[i]! & 0xffff) throw new InteropError(`tensor '${name}': dequantised value ${values[i]} is not exact in bf16`);
    out[i] = bits[i]! >>> 16;
  }
  return new Uint8Array(out.buffer);
}

function readAt(fd: number, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return out.subarray(0, done);
}
