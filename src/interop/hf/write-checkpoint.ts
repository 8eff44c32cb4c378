import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STORED_BYTES } from '../../runtime/safetensors.js';
import { size } from '../../runtime/tensor.js';
import type { Checkpoint } from '../checkpoint.js';
import { writeSafetensorsStreaming, type PendingTensor } from '../safetensors-stream.js';
import { InteropError } from './config.js';

export interface CheckpointWrite {
  config: Record<string, unknown>;
  tensors: PendingTensor[];
  /** Largest shard in bytes; more tensors than fit go to further shards with an index. */
  shardBytes: number;
  /** The original checkpoint: its other tensors and files are carried over unchanged. */
  base?: Checkpoint;
  progress?: (done: number, total: number) => void;
}

/**
 * Write a Hugging Face checkpoint directory: config.json, the tensors in shards of at most
 * `shardBytes` (names sorted, packed in order; `model.safetensors` when one shard is enough,
 * else `model-0000i-of-0000n.safetensors` and `model.safetensors.index.json`). Everything is
 * written into a temporary directory renamed into place at the end, so `dir` is complete or
 * absent; it must not exist, or be empty.
 */
export function writeHfCheckpoint(dir: string, w: CheckpointWrite): { shards: number; carried: number } {
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) throw new InteropError(`${dir} exists and is not an empty directory; choose a new output directory`);
  const ours = new Set(w.tensors.map((t) => t.name));
  const carried = (w.base?.names() ?? []).filter((n) => !ours.has(n)).map((name): PendingTensor => {
    const e = w.base!.entry(name);
    return { name, shape: e.shape, as: e.dtype, make: () => ({ raw: w.base!.readRaw(name) }) };
  });
  const all = [...w.tensors, ...carried].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const shards: PendingTensor[][] = [[]];
  let bytes = 0;
  for (const t of all) {
    const n = size(t.shape) * STORED_BYTES[t.as];
    if (bytes > 0 && bytes + n > w.shardBytes) (shards.push([]), (bytes = 0));
    shards[shards.length - 1]!.push(t);
    bytes += n;
  }
  const file = (i: number) => (shards.length === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const tmp = `${dir.replace(/[\\/]+$/, '')}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp, { recursive: true });
    let done = 0;
    shards.forEach((list, i) => writeSafetensorsStreaming(join(tmp, file(i)), list, { format: 'pt' }, () => w.progress?.(++done, all.length)));
    if (shards.length > 1) {
      const weightMap = Object.fromEntries(shards.flatMap((list, i) => list.map((t) => [t.name, file(i)])));
      const total = all.reduce((a, t) => a + size(t.shape) * STORED_BYTES[t.as], 0);
      writeFileSync(join(tmp, 'model.safetensors.index.json'), `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`);
    }
    writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(w.config, null, 2)}\n`);
    // The base's other files (tokenizer, generation config, ...) travel unchanged.
    if (w.base) {
      for (const f of readdirSync(w.base.dir).sort()) {
        const from = join(w.base.dir, f);
        if (f === 'config.json' || f.endsWith('.safetensors') || f === 'model.safetensors.index.json' || !statSync(from).isFile()) continue;
        copyFileSync(from, join(tmp, f));
      }
    }
    if (existsSync(dir)) rmdirSync(dir);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { shards: shards.length, carried: carried.length };
}
