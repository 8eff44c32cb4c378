import { closeSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Graph } from '../../ir/graph.js';
import { paramShape, storedDtype } from '../../runtime/init-weights.js';
import { nonFiniteProblem } from '../../runtime/safetensors.js';
import type { Checkpoint } from '../checkpoint.js';
import { InteropError } from '../hf/config.js';
import type { ExternalData } from './builder.js';
import type { OnnxExport, WeightSource } from './export.js';

/** Above this many weight bytes an export keeps its weights in an external data file (protobuf stops at 2 GB). */
export const EXTERNAL_DATA_BYTES = 2 ** 30;

/** A model's weights read lazily from its weights file, after checking every name, shape and dtype against the graph. */
export function lazyWeights(graph: Graph, cp: Checkpoint, path: string): { weights: WeightSource; bytes: number } {
  const problems: string[] = [];
  let bytes = 0;
  const known = new Set(graph.params.map((p) => p.name));
  for (const p of graph.params) {
    const [shape, dtype] = [paramShape(p), storedDtype(p)];
    if (!cp.has(p.name)) problems.push(`missing tensor '${p.name}' [${shape.join(', ')}] ${dtype}`);
    else {
      const e = cp.entry(p.name);
      if (e.shape.join() !== shape.join() || e.dtype !== dtype) problems.push(`tensor '${p.name}' is ${e.dtype} [${e.shape.join(', ')}], expected ${dtype} [${shape.join(', ')}]`);
      bytes += e.end - e.begin;
    }
  }
  for (const name of cp.names()) if (!known.has(name)) problems.push(`unexpected tensor '${name}': the model has no such weight (see moec inspect --json)`);
  if (problems.length) throw new InteropError(`${path}: ${problems.length} problem${problems.length > 1 ? 's' : ''} with the weights:\n  ${problems.slice(0, 20).join('\n  ')}`);
  const get = (name: string) => {
    const t = cp.read(name).tensor;
    const bad = t.dtype === 'f32' ? nonFiniteProblem(name, t.shape, t.data) : undefined;
    if (bad) throw new InteropError(`${path}: ${bad}`);
    return t;
  };
  // The stored bytes go out as they are (no decode and encode again), once the values are checked.
  return { weights: { get, raw: (name) => (get(name), cp.readRaw(name)) }, bytes };
}

/**
 * Write an export to `path`, its weights inside it or (`external`) in `<path>.data` beside it,
 * appended tensor by tensor as the export reaches them. Both go to temporary files renamed
 * into place at the end, the data first; on any error nothing is left.
 */
export function writeOnnx(path: string, external: boolean, build: (external?: ExternalData) => OnnxExport): OnnxExport {
  const tmp = (file: string) => join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const dataPath = `${path}.data`;
  let fd: number | undefined;
  try {
    let offset = 0;
    if (external) fd = openSync(tmp(dataPath), 'w');
    const sink: ExternalData | undefined =
      fd === undefined
        ? undefined
        : {
            location: basename(dataPath),
            write: (bytes) => {
              for (let done = 0; done < bytes.length; ) done += writeSync(fd!, bytes, done, bytes.length - done);
              offset += bytes.length;
              return { offset: offset - bytes.length, length: bytes.length };
            },
          };
    const out = build(sink);
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    writeFileSync(tmp(path), out.bytes);
    if (external) renameSync(tmp(dataPath), dataPath);
    renameSync(tmp(path), path);
    return out;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp(dataPath), { force: true });
    rmSync(tmp(path), { force: true });
    throw e instanceof Error && 'code' in e && !(e instanceof InteropError) ? new InteropError(`cannot write '${path}': ${e.message}`) : e;
  }
}
