import { checkSource } from '../../src/checker/check.js';
import type { ResolvedModel } from '../../src/model/model.js';
import { SourceFile } from '../../src/diagnostics/source.js';
import { buildGraph } from '../../src/ir/from-model.js';
import type { Graph } from '../../src/ir/graph.js';
import { initWeights, normalStream } from '../../src/runtime/init-weights.js';
import { execute, type RunInputs } from '../../src/runtime/reference/execute.js';
import type { StoredDType } from '../../src/runtime/safetensors.js';
import { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat, type Tensor } from '../../src/runtime/tensor.js';

/** Check a model text that must be valid, and build its graph. */
export function compileText(text: string, overrides: Record<string, number> = {}): { model: ResolvedModel; graph: Graph } {
  const result = checkSource(new SourceFile('test.moe', text), { overrides });
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new Error(`test model has errors: ${errors.map((d) => `${d.code} ${d.message}`).join('; ')}`);
  const model = result.models[0]!;
  return { model, graph: buildGraph(model) };
}

/** Deterministic weights, rounded to each param's stored dtype (a bf16 weight holds bf16 values). */
export function randomWeights(graph: Graph, seed: number): Map<string, Tensor> {
  return new Map([...initWeights(graph, seed)].map(([name, w]) => [name, asStored(w.tensor, w.as)]));
}

function asStored(t: Tensor, as: StoredDType): Tensor {
  const round = as === 'BF16' ? (v: number) => bf16ToFloat(floatToBf16(v)) : as === 'F16' ? (v: number) => halfToFloat(floatToHalf(v)) : undefined;
  return round ? { ...t, data: Float32Array.from(t.data, round) } : t;
}

export function randomInput(tokens: number, width: number, seed: number): Tensor {
  const rng = normalStream(seed, 'input');
  return { dtype: 'f32', shape: [tokens, width], data: Float32Array.from({ length: tokens * width }, () => rng()) };
}

export function run(graph: Graph, weights: Map<string, Tensor>, inputs: RunInputs): Float32Array {
  return execute(graph, weights, inputs).data as Float32Array;
}

/** ||a - b|| / ||b||, in f64. */
export function relativeL2(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
