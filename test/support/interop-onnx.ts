import ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { formatSource } from '../../src/format/format.js';
import { exportOnnx } from '../../src/interop/onnx/export.js';
import { importOnnx } from '../../src/interop/onnx/import.js';
import { withOverrides } from '../../src/interop/onnx/source.js';
import type { PendingTensor } from '../../src/interop/safetensors-stream.js';
import { decode, type TensorToWrite } from '../../src/runtime/safetensors.js';
import { encodeStored, type ParamDType } from '../../src/runtime/stored-layout.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { compileText, randomInput, randomWeights, relativeL2, run } from './model.js';

/** What a model reads per token besides x, for a run in onnxruntime and in the reference. */
export interface TokenInputs {
  ids?: Int32Array;
  requests?: Int32Array;
}

/** One ONNX export of a model text: its onnxruntime output beside the CPU reference's, and its import. */
export interface Exported {
  bytes: Uint8Array;
  fusedLayers: number;
  /** Relative L2 error of onnxruntime's y against the reference's. */
  error: number;
  /** The reference's y, and onnxruntime's. */
  ours: Float32Array;
  theirs: Float32Array;
}

export async function runOnnx(bytes: Uint8Array, x: Tensor, extra: TokenInputs = {}): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', x.data as Float32Array, x.shape) };
  for (const name of session.inputNames) {
    if (name === 'x') continue;
    const v = extra[name as keyof TokenInputs] ?? new Int32Array(x.shape[0]!);
    feeds[name] = new ort.Tensor('int32', v, [v.length]);
  }
  return (await session.run(feeds))['y']!.data as Float32Array;
}

/**
 * Export a model (weights random, or from `weights`), run it in onnxruntime-node and on the
 * CPU reference with the same inputs, and compare.
 */
export async function exportAndRun(
  text: string,
  opts: { set?: Record<string, number>; standardOnly?: boolean; tokens?: number; seed?: number; inputs?: TokenInputs; weights?: (w: Map<string, Tensor>) => void } = {},
): Promise<Exported & { weights: Map<string, Tensor> }> {
  const { model, graph } = compileText(text, opts.set ?? {});
  const weights = randomWeights(graph, opts.seed ?? 5);
  opts.weights?.(weights);
  const out = exportOnnx(model, weights, { standardOnly: opts.standardOnly ?? false, source: { text: withOverrides(text, opts.set ?? {}), model: model.name } });
  const tokens = opts.tokens ?? 11;
  const x = randomInput(tokens, model.width, opts.seed ?? 2);
  const inputs = { ids: Int32Array.from({ length: tokens }, (_, i) => i * 7 + 3), ...opts.inputs };
  const ours = run(graph, weights, { x, ...inputs });
  const theirs = await runOnnx(out.bytes, x, inputs);
  return { ...out, error: relativeL2(theirs, ours), ours, theirs, weights };
}

/** Imported weights read now (each pending tensor made and decoded). */
export function loaded(weights: ReadonlyMap<string, PendingTensor>): Map<string, TensorToWrite> {
  return new Map(
    [...weights].map(([name, p]) => {
      const made = p.make();
      return [name, 'raw' in made ? { tensor: decode(made.raw, p.as, p.shape), as: p.as } : made];
    }),
  );
}

/** `moec import onnx` of an export gives the same model (formatted, sizes written in) and byte-identical weights. */
export function expectRoundTrip(bytes: Uint8Array, text: string, weights: Map<string, Tensor>, set: Record<string, number> = {}, path = 'model.onnx'): void {
  const back = importOnnx(bytes, path);
  const weightsBack = loaded(back.weights);
  const formatted = formatSource(withOverrides(text, set));
  expect(formatted.ok && back.text).toBe(formatted.ok && formatted.text);
  const { graph } = compileText(back.text);
  expect([...weightsBack.keys()].sort()).toEqual([...weights.keys()].sort());
  for (const p of graph.params) {
    const got = weightsBack.get(p.name)!;
    const dtype = p.type.dtype as ParamDType;
    const bytesOf = (t: Tensor) => encodeStored(t.data as Float32Array | Int32Array, dtype);
    expect(Buffer.from(bytesOf(got.tensor)).equals(Buffer.from(bytesOf(weights.get(p.name)!))), p.name).toBe(true);
  }
}
