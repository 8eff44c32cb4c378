import type { ResolvedModel } from '../../model/model.js';
import { buildGraph } from '../../ir/from-model.js';
import { GraphBuilder, type Graph, type Node } from '../../ir/graph.js';
import { evalDim } from '../../ir/types.js';
import { lowerRouters } from '../../passes/lower-routers.js';
import { defaultPassOptions } from '../../passes/pass.js';
import { encodeStored, type ParamDType } from '../../runtime/stored-layout.js';
import type { Tensor } from '../../runtime/tensor.js';
import { DT, OnnxGraph, type ExternalData, type ValueSpec } from './builder.js';
import { fusable, fusedMoe } from './fused-moe.js';
import { emitAct, emitDequant, emitFfn, emitMoe, emitNorm, type Emitted } from './emit-dense.js';
import { emitRouting } from './emit-routing.js';

/**
 * A moec model as an ONNX graph: its IR (the graph `moec run` interprets), node by node, in
 * standard ONNX ops. Routers are lowered by moec's own lower-routers pass and each primitive
 * (docs/ir.md) becomes the ONNX ops that compute the same thing, ties and drop orders
 * included (emit-routing.ts); a `moe` runs each selected expert on its rows (emit-dense.ts).
 * Where a route and its moe are exactly onnxruntime's `com.microsoft.MoE` (fused-moe.ts), that
 * op replaces both. Inputs: `x` [tokens, width], and `ids` / `requests` (int32 [tokens]) when
 * the model reads them; output `y`. Every weight is an initializer under its moec name holding
 * the bytes of moec's weights file (in the model, or in an external data file).
 */
export interface OnnxExport {
  bytes: Uint8Array;
  /** MoE layers that became com.microsoft.MoE. */
  fusedLayers: number;
}

/**
 * The model's .moe source travels in the ONNX metadata (`moec.source`, `moec.model`): with it,
 * `moec import onnx` gives back the same model, its weights the initializers of the same names.
 * The text has any `--set` sizes written into it, so it states the sizes its weights have.
 */
export interface OnnxSource {
  text: string;
  model: string;
}

/** ONNX element type of each stored weight dtype (int4: moec's packed bytes, unpacked in the graph). */
const WEIGHT_TYPE: Readonly<Record<ParamDType, number>> = { f32: DT.FLOAT, f16: DT.FLOAT16, bf16: DT.BFLOAT16, int8: DT.INT8, int4: DT.UINT8 };

/** The model's weights by name, read when the export needs each (a Map, or a lazy checkpoint). */
export interface WeightSource {
  /** A weight's values. */
  get(name: string): Tensor | undefined;
  /** Its bytes as the weights file stores them, where they can be had without decoding (default: the values encoded). */
  raw?(name: string): Uint8Array;
}

export interface OnnxExportOptions {
  /** No com.microsoft.MoE. */
  standardOnly?: boolean;
  source?: OnnxSource;
  /** Weights into an external data file (models past protobuf's 2 GB). */
  external?: ExternalData;
}

export function exportOnnx(model: ResolvedModel, weights: WeightSource, opts: OnnxExportOptions = {}): OnnxExport {
  const graph = buildGraph(model);
  const g = new OnnxGraph(undefined, opts.external);
  const fused = opts.standardOnly ? new Set<Node>() : fusable(graph);
  const inputs: ValueSpec[] = [];
  const values = new Map<Node, Emitted>();
  const tensor = (name: string): Tensor => weights.get(name) ?? fail(`no tensor '${name}' in the weights`);
  // Params become initializers when first read, so experts inside com.microsoft.MoE are stored once (as fc1/fc2).
  const value = (n: Node): Emitted => {
    const known = values.get(n);
    if (known !== undefined) return known;
    if (n.op !== 'param') fail(`node ${n.op} read before it was emitted`);
    const dtype = n.type.dtype as ParamDType;
    const t = tensor(n.attrs.name);
    const stored = g.weight(n.attrs.name, WEIGHT_TYPE[dtype], t.shape, weights.raw?.(n.attrs.name) ?? encodeStored(t.data as Float32Array | Int32Array, dtype));
    const v = dtype === 'f16' || dtype === 'bf16' ? g.node('Cast', [stored], { to: DT.FLOAT }) : stored;
    values.set(n, v);
    return v;
  };
  let fusedLayers = 0;
  for (const n of graph.nodes) {
    if (n.op === 'param' || (n.op === 'route' && fused.has(n))) continue; // params on first use; a fused route inside com.microsoft.MoE
    const src = () => n.src.map(value);
    let v: Emitted;
    if (n.op === 'input') {
      const name = n.attrs.name;
      inputs.push({ name, type: name === 'x' ? DT.FLOAT : DT.INT32, dims: name === 'x' ? ['tokens', model.width] : ['tokens'] });
      v = name === 'x' ? name : g.node('Cast', [name], { to: DT.INT64 });
    } else if (n.op === 'moe' && fused.has(n.src[1]!)) {
      v = fusedMoe(g, n, value(n.src[0]!) as string, (name) => tensor(name).data as Float32Array, (node) => value(node) as string);
      fusedLayers++;
    } else if (n.op === 'route') {
      v = emitLowered(g, lowerRoute(n), src());
    } else v = emitNode(g, n, src());
    values.set(n, v);
  }
  const metadata: Record<string, string> = opts.source ? { 'moec.source': opts.source.text, 'moec.model': opts.source.model } : {};
  return { bytes: g.encode(model.name, model.width, values.get(graph.output) as string, `${model.name}, exported by moec`, metadata, inputs), fusedLayers };
}

function fail(message: string): never {
  throw new Error(`internal: ${message}`);
}

/** One node of the graph (routes excepted: they are lowered first). */
function emitNode(g: OnnxGraph, n: Node, src: Emitted[]): Emitted {
  const s = src as string[];
  switch (n.op) {
    case 'add':
      return g.node('Add', [s[0]!, s[1]!]);
    case 'mul':
      return g.node('Mul', [s[0]!, s[1]!]);
    case 'matmul':
      return g.node('MatMul', [s[0]!, s[1]!]);
    case 'act':
      return emitAct(g, n.attrs, s[0]!);
    case 'reshape':
      return g.node('Reshape', [s[0]!, g.ints(n.type.shape.map((d) => (typeof d === 'number' ? d : -1)))]);
    case 'index':
      return g.node('Gather', [s[0]!, g.int(n.attrs.i)], { axis: 0 });
    case 'dequant':
      return emitDequant(g, n.attrs.bits, s[0]!, s[1]!, n.type.shape.map((d) => evalDim(d, 0)));
    case 'rmsnorm':
    case 'layernorm':
      return emitNorm(g, n.op, n.attrs.eps, s);
    case 'ffn':
      return emitFfn(g, n.attrs.expert, s[0]!, s.slice(1), n.attrs.index);
    case 'moe':
      return emitMoe(g, n.attrs.groups, s[0]!, src[1] as Exclude<Emitted, string>, s.slice(2));
    default:
      return emitRouting(g, n, src);
  }
}

/** A route as its primitives: moec's lower-routers pass run on a graph of this one node. */
function lowerRoute(n: Node<'route'>): Graph {
  const b = new GraphBuilder();
  const operands = n.src.map((s, i) => b.add('input', [], { name: `operand${i}` }, s.type));
  return lowerRouters.run(b.finish('route', b.add('route', operands, n.attrs, n.type)), defaultPassOptions);
}

/** A lowered graph's nodes, its inputs standing for the given values; its output's value. */
function emitLowered(g: OnnxGraph, lowered: Graph, operands: Emitted[]): Emitted {
  const values = new Map<Node, Emitted>();
  for (const n of lowered.nodes) {
    values.set(n, n.op === 'input' ? operands[Number(n.attrs.name.replace('operand', ''))]! : emitNode(g, n, n.src.map((s) => values.get(s)!)));
  }
  return values.get(lowered.output)!;
}
