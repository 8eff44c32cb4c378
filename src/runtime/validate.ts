import { UserError } from '../diagnostics/user-error.js';
import type { Graph } from '../ir/graph.js';
import { formatType } from '../ir/types.js';
import { paramShape, storedDtype } from './init-weights.js';
import { nonFiniteProblem, type StoredTensor } from './safetensors.js';
import type { Tensor } from './tensor.js';

/** A user-facing problem with weights or inputs: names the tensor, expected and actual. */
export class InputError extends UserError {}

const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Check a weights file against the graph's manifest: no missing, extra, misshapen, mistyped or non-finite tensor. */
export function validateWeights(graph: Graph, file: ReadonlyMap<string, StoredTensor>, path: string): Map<string, Tensor> {
  const problems: string[] = [];
  const out = new Map<string, Tensor>();
  for (const p of graph.params) {
    const got = file.get(p.name);
    if (!got) {
      problems.push(`missing tensor '${p.name}' (${formatType(p.type)})`);
      continue;
    }
    const problem = weightProblem(p.name, got, paramShape(p), storedDtype(p));
    if (problem) problems.push(problem);
    else out.set(p.name, got.tensor);
  }
  const known = new Set(graph.params.map((p) => p.name));
  for (const name of file.keys()) if (!known.has(name)) problems.push(`unexpected tensor '${name}': the model has no such weight (see moec inspect --json)`);
  if (problems.length) throw new InputError(`${path}: ${problems.length} problem${problems.length > 1 ? 's' : ''} with the weights:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : ''}`);
  return out;
}

function weightProblem(name: string, got: StoredTensor, shape: readonly number[], dtype: StoredTensor['stored']): string | undefined {
  if (shapeText(got.tensor.shape) !== shapeText(shape)) return `tensor '${name}' has shape ${shapeText(got.tensor.shape)}, expected ${shapeText(shape)}`;
  if (got.stored !== dtype) return `tensor '${name}' is ${got.stored}, expected ${dtype}`;
  return got.tensor.dtype === 'f32' ? nonFiniteProblem(name, got.tensor.shape, got.tensor.data) : undefined;
}

export interface ModelInputs {
  x: Tensor;
  ids?: Int32Array;
  requests?: Int32Array;
}

/** Check an input file: `x` of shape [tokens, width] (float, finite), optional `ids` and `requests` (I32, [tokens]). */
export function validateInputs(graph: Graph, file: ReadonlyMap<string, StoredTensor>, path: string): ModelInputs {
  const width = graph.inputs.find((n) => n.attrs.name === 'x')!.type.shape[1] as number;
  const x = file.get('x');
  if (!x) throw new InputError(`${path}: missing tensor 'x' of shape [tokens, ${width}]`);
  if (x.stored === 'I32') throw new InputError(`${path}: tensor 'x' is I32, expected F32, F16 or BF16`);
  if (x.tensor.shape.length !== 2 || x.tensor.shape[1] !== width) {
    throw new InputError(`${path}: tensor 'x' has shape ${shapeText(x.tensor.shape)}, expected [tokens, ${width}] (the model width is ${width})`);
  }
  const nonFinite = nonFiniteProblem('x', x.tensor.shape, x.tensor.data);
  if (nonFinite) throw new InputError(`${path}: ${nonFinite}`);
  const tokens = x.tensor.shape[0]!;
  const out: ModelInputs = { x: x.tensor };
  for (const name of ['ids', 'requests'] as const) {
    const t = file.get(name);
    if (!t) continue;
    if (t.stored !== 'I32') throw new InputError(`${path}: tensor '${name}' is ${t.stored}, expected I32`);
    if (shapeText(t.tensor.shape) !== shapeText([tokens])) throw new InputError(`${path}: tensor '${name}' has shape ${shapeText(t.tensor.shape)}, expected [${tokens}] (one per token of x)`);
    out[name] = t.tensor.data as Int32Array;
  }
  for (const name of file.keys()) if (!['x', 'ids', 'requests'].includes(name)) throw new InputError(`${path}: unexpected tensor '${name}'; inputs are x, and optionally ids and requests`);
  if (graph.inputs.some((n) => n.attrs.name === 'ids') && !out.ids) throw new InputError(`${path}: the model routes by token id (hash routing): add an I32 tensor 'ids' of shape [${tokens}]`);
  return out;
}
