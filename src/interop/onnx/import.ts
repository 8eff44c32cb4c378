import onnxPkg from 'onnx-proto';
import { checkSource } from '../../checker/check.js';
import { SourceFile } from '../../diagnostics/source.js';
import { formatSource } from '../../format/format.js';
import { buildGraph } from '../../ir/from-model.js';
import { paramShape, storedDtype } from '../../runtime/init-weights.js';
import { commentText, InteropError, modelName } from '../hf/config.js';
import { closeSync, openSync, readSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { STORED_BYTES, type StoredDType } from '../../runtime/safetensors.js';
import { size } from '../../runtime/tensor.js';
import type { PendingTensor } from '../safetensors-stream.js';
import { bytes, DT } from './builder.js';
import { reverseExperts, transposeStacked } from './fused-moe.js';
import { withOverrides } from './source.js';

const { onnx } = onnxPkg;

/** An imported ONNX model: formatted .moe text and moec weights, each read when it is written. */
export interface OnnxImport {
  text: string;
  weights: Map<string, PendingTensor>;
}

interface Init {
  dims: number[];
  type: number;
  /** Float values, or raw bytes for uint8 (QMoE). */
  floats?: Float32Array;
  bytes?: Uint8Array;
  /** The little-endian bytes of any element type moec weights use. */
  raw?: Uint8Array;
  /** Where the bytes are instead (ONNX external data): a file beside the model. */
  external?: { location: string; offset: number; length: number };
}

/**
 * Read an ONNX model. A graph moec exported carries its .moe source in its metadata and comes
 * back exactly. Any other graph is read as a stack of onnxruntime `com.microsoft.MoE` or
 * `QMoE` nodes, each `x + MoE(x)` (or a single `MoE(x)`) with router logits `x · W (+ b)`:
 * softmax, top-k and optional renormalisation, as the op defines them.
 */
export function importOnnx(bytes: Uint8Array, path: string, name = 'onnx_moe'): OnnxImport {
  let model: onnxPkg.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new InteropError(`${path}: not an ONNX model: ${(e as Error).message}`);
  }
  const graph = model.graph;
  if (!graph) throw new InteropError(`${path}: the ONNX model has no graph`);
  const inits = new Map<string, Init>((graph.initializer ?? []).map((t) => [t.name ?? '', initOf(t)]));
  const meta = new Map((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  return meta.has('moec.source') ? fromSource(meta, inits, graph, path) : fromMoeNodes(graph, inits, path, modelName(name));
}

function initOf(t: onnxPkg.onnx.ITensorProto): Init {
  const dims = (t.dims ?? []).map(Number);
  const type = t.dataType ?? 0;
  const given = t.rawData && t.rawData.length ? t.rawData : undefined;
  // Without raw_data, float32 values are in float_data; 8- and 16-bit ones one per int32_data entry.
  const raw =
    given ??
    (type === DT.FLOAT
      ? bytes(Float32Array.from(t.floatData ?? []))
      : type === DT.INT8 || type === DT.UINT8
        ? Uint8Array.from(t.int32Data ?? [], (v) => v & 0xff)
        : type === DT.FLOAT16 || type === DT.BFLOAT16
          ? bytes(Uint16Array.from(t.int32Data ?? []))
          : undefined);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    return { dims, type, external: { location: kv.get('location') ?? '', offset: Number(kv.get('offset') ?? 0), length: Number(kv.get('length') ?? -1) } };
  }
  if (type === DT.FLOAT && raw) return { dims, type, raw, floats: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) };
  if (type === DT.UINT8) return { dims, type, ...(raw ? { raw, bytes: raw } : {}) };
  return { dims, type, ...(raw ? { raw } : {}) };
}

/** The ONNX element type moec's export stores each weights-file dtype as. */
const ONNX_TYPE: Partial<Record<StoredDType, number>> = { F32: DT.FLOAT, F16: DT.FLOAT16, BF16: DT.BFLOAT16, I8: DT.INT8, U8: DT.UINT8 };

/**
 * A moec export: its source, and its weights from the initializers of the same names, each
 * checked to have the shape and element type the source gives it (experts inside
 * com.microsoft.MoE are recovered from its fc1/fc2). Exports from before `--set` sizes were
 * written into the source carry them in `moec.set`.
 */
function fromSource(meta: Map<string, string>, inits: Map<string, Init>, graph: onnxPkg.onnx.IGraphProto, path: string): OnnxImport {
  let set: Record<string, number>;
  try {
    set = JSON.parse(meta.get('moec.set') ?? '{}') as Record<string, number>;
  } catch {
    throw new InteropError(`${path}: its moec.set metadata is not JSON`);
  }
  const text = withOverrides(meta.get('moec.source')!, set);
  const result = checkSource(new SourceFile(path, text), { overrides: {} });
  const resolved = result.models.find((m) => m.name === meta.get('moec.model'));
  if (!resolved || result.diagnostics.some((d) => d.severity === 'error')) throw new InteropError(`${path}: its moec source does not check`);
  const moeNodes = new Map((graph.node ?? []).filter((n) => n.opType === 'MoE').map((n) => [n.input![2]!.replace(/\.fc1$/, ''), n]));
  const weights = new Map<string, PendingTensor>();
  for (const p of buildGraph(resolved).params) {
    const shape = paramShape(p);
    const as = storedDtype(p);
    const init = inits.get(p.name);
    const pending = (make: PendingTensor['make']) => weights.set(p.name, { name: p.name, shape, as, make });
    if (init) {
      const bytes = size(shape) * STORED_BYTES[as];
      if (init.dims.join() !== shape.join() || init.type !== ONNX_TYPE[as] || (init.raw ?? init.external)?.length !== bytes) {
        throw new InteropError(`${path}: initializer '${p.name}' is ${onnxTypeName(init.type)} [${init.dims.join(', ')}]; the model's source needs ${as} [${shape.join(', ')}]`);
      }
      pending(() => ({ raw: init.raw ?? readExternal(path, p.name, init.external!) }));
      continue;
    }
    const data = fusedWeight(p.name, shape, moeNodes, (name) => floatsOf(path, name, inits.get(name)));
    if (!data) throw new InteropError(`${path}: no initializer for moec weight '${p.name}' [${shape.join(', ')}]`);
    pending(() => ({ tensor: { dtype: 'f32', shape, data }, as }));
  }
  const formatted = formatSource(text, path);
  return { text: formatted.ok ? formatted.text : text, weights };
}

/** A float32 initializer's values, from the model or its external data. */
function floatsOf(path: string, name: string, init: Init | undefined): Float32Array | undefined {
  if (!init || init.type !== DT.FLOAT) return undefined;
  if (init.floats) return init.floats;
  if (!init.external) return undefined;
  const raw = readExternal(path, name, init.external);
  return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
}

/** An initializer's bytes from its external data file, which must lie beside the model. */
function readExternal(path: string, name: string, at: NonNullable<Init['external']>): Uint8Array {
  if (!at.location || isAbsolute(at.location) || at.location.split(/[\\/]/).includes('..')) throw new InteropError(`${path}: initializer '${name}' is in '${at.location}', not a file beside the model`);
  const file = join(dirname(path), at.location);
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const out = new Uint8Array(at.length);
    let done = 0;
    while (done < at.length) {
      const n = readSync(fd, out, done, at.length - done, at.offset + done);
      if (n === 0) throw new InteropError(`${path}: ${file} ends before initializer '${name}' (${at.length} bytes at ${at.offset})`);
      done += n;
    }
    return out;
  } catch (e) {
    if (e instanceof InteropError) throw e;
    throw new InteropError(`${path}: cannot read the external data of '${name}' from ${file}: ${(e as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function onnxTypeName(type: number): string {
  return onnx.TensorProto.DataType[type] ?? `type ${type}`;
}

/** w_gate, w_up or w_down of experts exported as com.microsoft.MoE (fc1 [E, I or 2I interleaved, H], fc2 [E, H, I], experts in reverse order). */
function fusedWeight(name: string, shape: number[], nodes: Map<string, onnxPkg.onnx.INodeProto>, floats: (name: string) => Float32Array | undefined): Float32Array | undefined {
  const m = /^(.*)\.w_(gate|up|down)$/.exec(name);
  const node = m && nodes.get(m[1]!);
  if (!m || !node || shape.length !== 3) return undefined;
  const [E, a, b] = shape as [number, number, number];
  const [f1, f2] = [floats(`${m[1]}.fc1`), floats(`${m[1]}.fc2`)];
  if (f1?.length !== E * a * b * (attr(node, 'swiglu_fusion') ? 2 : 1) || f2?.length !== E * a * b) return undefined;
  // moec's exports give the op its experts in reverse order (fused-moe.ts: ties).
  const [fc1, fc2] = [reverseExperts(f1, E), reverseExperts(f2, E)];
  if (m[2] === 'down') return transposeStacked(fc2, E, b, a);
  if (!attr(node, 'swiglu_fusion')) return transposeStacked(fc1, E, b, a);
  const [gate, up] = deinterleave(fc1, E, b, a);
  return transposeStacked(m[2] === 'gate' ? gate : up, E, b, a);
}

/** [E, 2n, h] with rows a0, b0, a1, b1, ... -> two [E, n, h] (the inverse of interleaveRows). */
function deinterleave(w: Float32Array, E: number, n: number, h: number): [Float32Array, Float32Array] {
  const [a, b] = [new Float32Array(E * n * h), new Float32Array(E * n * h)];
  for (let e = 0; e < E; e++) {
    for (let i = 0; i < n; i++) {
      a.set(w.subarray((e * 2 * n + 2 * i) * h, (e * 2 * n + 2 * i + 1) * h), (e * n + i) * h);
      b.set(w.subarray((e * 2 * n + 2 * i + 1) * h, (e * 2 * n + 2 * i + 2) * h), (e * n + i) * h);
    }
  }
  return [a, b];
}

function attr(node: onnxPkg.onnx.INodeProto, name: string): number | string | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  if (!a) return undefined;
  if (a.type === onnx.AttributeProto.AttributeType.STRING) return new TextDecoder().decode(a.s!);
  if (a.type === onnx.AttributeProto.AttributeType.FLOAT) return a.f!;
  return Number(a.i);
}

interface MoeLayer {
  node: onnxPkg.onnx.INodeProto;
  gate: Init;
  bias?: Init;
  residual: boolean;
}

/** A graph of MoE/QMoE nodes in sequence: x -> (x + MoE(x))... -> y. */
function fromMoeNodes(graph: onnxPkg.onnx.IGraphProto, inits: Map<string, Init>, path: string, name: string): OnnxImport {
  const producer = new Map<string, onnxPkg.onnx.INodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  const fail = (what: string): never => {
    throw new InteropError(`${path}: ${what}; moec imports graphs made of com.microsoft.MoE or QMoE nodes, each x + MoE(x) with router logits x · W (+ b), or moec's own exports`);
  };
  const inputs = (graph.input ?? []).filter((i) => !inits.has(i.name ?? ''));
  const output = graph.output?.[0]?.name;
  if (inputs.length !== 1 || !output) return fail(`the graph has ${inputs.length} inputs and ${graph.output?.length ?? 0} outputs, not one of each`);
  const input = inputs[0]!.name!;
  const layers: MoeLayer[] = [];
  const walk = (value: string): void => {
    if (value === input) return;
    const n = producer.get(value) ?? fail(`'${value}' is neither the input nor a node's output`);
    if (n.opType === 'Identity') return walk(n.input![0]!);
    if ((n.opType === 'Add' || n.opType === 'Sum') && n.input!.length === 2) {
      const moeSide = n.input!.findIndex((i) => ['MoE', 'QMoE'].includes(producer.get(i)?.opType ?? ''));
      if (moeSide < 0) fail(`node ${n.opType} adds no MoE output`);
      const stream = n.input![1 - moeSide]!;
      walk(stream);
      return layers.push(layerOf(producer.get(n.input![moeSide]!)!, stream, true)), undefined;
    }
    if ((n.opType === 'MoE' || n.opType === 'QMoE') && layers.length === 0 && n.input![0] === input) return layers.push(layerOf(n, input, false)), undefined;
    return fail(`node ${n.opType} (${n.name || n.output![0]}) is not part of an MoE layer`);
  };
  const layerOf = (node: onnxPkg.onnx.INodeProto, stream: string, residual: boolean): MoeLayer => {
    if (node.domain !== 'com.microsoft') fail(`node ${node.opType} is not in the com.microsoft domain`);
    if (node.input![0] !== stream) fail(`an MoE node reads '${node.input![0]}', not the residual stream`);
    let logits = producer.get(node.input![1]!) ?? fail('the router logits are not computed in the graph');
    let bias: Init | undefined;
    if (logits.opType === 'Add') {
      bias = inits.get(logits.input![1]!) ?? fail('the router bias is not an initializer');
      logits = producer.get(logits.input![0]!) ?? fail('the router logits are not a MatMul');
    }
    if (logits.opType !== 'MatMul' || logits.input![0] !== stream) fail('the router logits are not x · W');
    const gate = inits.get(logits.input![1]!) ?? fail('the router weight is not an initializer');
    return { node, gate, ...(bias ? { bias } : {}), residual };
  };
  walk(output);
  if (!layers.length) fail('no MoE node');
  return stackText(layers, inits, path, name);
}

/** The .moe text and weights of a stack of MoE layers, all of one shape. */
function stackText(layers: MoeLayer[], inits: Map<string, Init>, path: string, name: string): OnnxImport {
  const first = layers[0]!;
  if (first.gate.dims.length !== 2 || !first.gate.floats) throw new InteropError(`${path}: the router weight must be a float32 matrix [hidden, experts]`);
  const [H, E] = first.gate.dims as [number, number];
  const k = Number(attr(first.node, 'k') ?? 1);
  const normalize = Number(attr(first.node, 'normalize_routing_weights') ?? 0) === 1;
  const weights = new Map<string, PendingTensor>();
  let kind = '';
  let I = 0;
  layers.forEach((l, i) => {
    const n = l.node;
    const same = Number(attr(n, 'k') ?? 1) === k && (Number(attr(n, 'normalize_routing_weights') ?? 0) === 1) === normalize && l.gate.dims.join() === first.gate.dims.join();
    if (!same) throw new InteropError(`${path}: MoE layer ${i} differs from layer 0 in k, normalisation or router shape; moec imports stacks of one shape`);
    if (Number(attr(n, 'use_sparse_mixer') ?? 0)) throw new InteropError(`${path}: use_sparse_mixer is not moec's routing`);
    const experts = expertWeights(n, inits, H, E, path);
    kind ||= experts.kind;
    I ||= experts.I;
    const at = `layers.${i}.moe`;
    const put = (suffix: string, shape: number[], data: Float32Array) => weights.set(`${at}.${suffix}`, { name: `${at}.${suffix}`, shape, as: 'F32', make: () => ({ tensor: { dtype: 'f32', shape, data }, as: 'F32' }) });
    // Experts in reverse order: the op breaks ties towards the higher index, moec towards the lower (fused-moe.ts).
    const gate = l.gate.floats!;
    put('gate.weight', [H, E], Float32Array.from(gate, (_, i) => gate[i - (i % E) + E - 1 - (i % E)]!));
    if (l.bias) put('gate.bias', [E], Float32Array.from(l.bias.floats!).reverse());
    for (const [w, data] of Object.entries(experts.matrices)) put(`experts.routed.${w}`, w === 'w_down' ? [E, I, H] : [E, H, I], reverseExperts(data, E));
  });
  const residual = first.residual;
  const text = [
    `// Imported by moec import onnx from ${commentText(path)}: onnxruntime com.microsoft.MoE semantics (softmax over all experts, top-k${normalize ? ', renormalised' : ''}).`,
    `// Expert e here is the op's expert ${E - 1} - e: the op breaks ties towards the higher index, moec towards the lower.`,
    `model ${name} {`,
    `dims { hidden = ${H}, expert_ffn = ${I}, experts = ${E} }`,
    `expert routed = ${kind}(hidden -> expert_ffn -> hidden)`,
    'block moe {',
    `router gate = linear(hidden -> experts${first.bias ? ', bias = true' : ''}) | softmax | topk(${k})${normalize ? ' | normalize' : ''}`,
    'experts routed x experts',
    '}',
    `layers ${layers.length} { x = ${residual ? 'x + ' : ''}moe(x) }`,
    '}',
  ].join('\n');
  const formatted = formatSource(`${text}\n`, path);
  if (!formatted.ok) throw new Error('internal: the imported ONNX model text does not parse');
  const check = checkSource(new SourceFile(path, formatted.text), { overrides: {} });
  const errors = check.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new InteropError(`${path}: describes a model moec rejects: ${errors.map((d) => `${d.code}: ${d.message}`).join('; ')}`);
  return { text: formatted.text, weights };
}

const ACTIVATIONS: Record<string, string> = { relu: 'relu', gelu: 'gelu_tanh', silu: 'silu' };

/**
 * The experts of one MoE/QMoE node in moec's layout [E, in, out]. fc1 is [E, I, H] (SwiGLU:
 * [E, 2I, H], rows interleaved with swiglu_fusion = 1, gate block then up block with 2), or gate
 * in fc1 and up in fc3 (unfused SwiGLU); fc2 is [E, H, I]. QMoE weights are uint8, symmetric
 * per output row with zero point 128 (8-bit) or 8 (4-bit, two values a byte, low nibble first).
 */
function expertWeights(node: onnxPkg.onnx.INodeProto, inits: Map<string, Init>, H: number, E: number, path: string) {
  const quantized = node.opType === 'QMoE';
  const ins = node.input!;
  const [fc1Name, fc2Name, fc3Name] = quantized ? [ins[2], ins[5], ins[8]] : [ins[2], ins[4], ins[6]];
  const biases = quantized ? [ins[4], ins[7], ins[10]] : [ins[3], ins[5], ins[7]];
  if (biases.some((b) => b)) throw new InteropError(`${path}: expert biases (fc1/fc2/fc3 bias inputs) are not in moec's experts`);
  const bits = Number(attr(node, 'expert_weight_bits') ?? 8);
  const read = (n: string | undefined, scalesAt: number): Float32Array | undefined => {
    if (!n) return undefined;
    const t = inits.get(n) ?? fail(`'${n}' is not an initializer`);
    if (!quantized) return t.floats ?? fail(`'${n}' is not float32`);
    const scales = inits.get(ins[scalesAt]!)?.floats ?? fail(`the scales of '${n}' are not a float32 initializer`);
    const perRow = t.dims[2]! * (bits === 4 ? 2 : 1);
    const q = t.bytes ?? fail(`'${n}' is not uint8`);
    return Float32Array.from({ length: q.length * (bits === 4 ? 2 : 1) }, (_, i) => {
      const v = bits === 4 ? (q[i >> 1]! >> ((i & 1) * 4)) & 15 : q[i]!;
      return (v - (bits === 4 ? 8 : 128)) * scales[Math.floor(i / perRow)]!;
    });
  };
  const fail = (what: string): never => {
    throw new InteropError(`${path}: ${what}`);
  };
  const act = String(attr(node, 'activation_type') ?? 'relu');
  const fusion = Number(attr(node, 'swiglu_fusion') ?? 0);
  const fc1 = read(fc1Name, 3);
  const fc2 = read(fc2Name, 6) ?? fail('no fc2');
  const I = fc2.length / (E * H);
  const fc3 = read(fc3Name, 9);
  const rows = (act === 'swiglu' && !fc3 ? 2 : 1) * I;
  if (!Number.isInteger(I) || I < 1 || fc1?.length !== E * rows * H || (fc3 && fc3.length !== E * I * H)) fail(`expert weights of ${E * rows * H} (fc1) and ${E * H * I} (fc2) elements do not match ${E} experts of width ${H}`);
  const T = (w: Float32Array) => transposeStacked(w, E, I, H);
  if (act === 'swiglu' || fc3) {
    const alpha = Number(attr(node, 'activation_alpha') ?? 1);
    const beta = Number(attr(node, 'activation_beta') ?? 0);
    const limit = attr(node, 'swiglu_limit');
    if (alpha !== 1 || beta !== 0 || (limit !== undefined && Number(limit) < 1e30)) fail(`SwiGLU with alpha ${alpha}, beta ${beta}, limit ${limit}: moec's swiglu is silu(gate) · up`);
    let gate: Float32Array;
    let up: Float32Array;
    if (fc3) [gate, up] = [fc1!, fc3];
    else if (fusion === 1) [gate, up] = deinterleave(fc1!, E, I, H);
    else if (fusion === 2) [gate, up] = [Float32Array.from({ length: E * I * H }, (_, i) => fc1![Math.floor(i / (I * H)) * 2 * I * H + (i % (I * H))]!), Float32Array.from({ length: E * I * H }, (_, i) => fc1![Math.floor(i / (I * H)) * 2 * I * H + I * H + (i % (I * H))]!)];
    else return fail(`activation swiglu without swiglu_fusion or fc3`);
    return { kind: 'swiglu', I, matrices: { w_gate: T(gate), w_up: T(up), w_down: transposeStacked(fc2, E, H, I) } };
  }
  const kind = ACTIVATIONS[act] ?? fail(`activation_type '${act}'`);
  return { kind, I, matrices: { w_up: T(fc1!), w_down: transposeStacked(fc2, E, H, I) } };
}

