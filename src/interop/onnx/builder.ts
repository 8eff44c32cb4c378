import onnxPkg from 'onnx-proto';

const { onnx } = onnxPkg;

export const DT = onnx.TensorProto.DataType;

type Attr = number | number[] | string | { float: number } | { graph: onnxPkg.onnx.IGraphProto };

/** A graph input or output: a name, an element type and dims (a string names a symbolic dim). */
export interface ValueSpec {
  name: string;
  type: number;
  dims?: readonly (number | string)[];
}

/**
 * Where large initializers go instead of the model file (ONNX external data): `write` appends
 * a tensor's bytes to the data file and says where they are; `location` is that file's path
 * relative to the model.
 */
export interface ExternalData {
  location: string;
  write(bytes: Uint8Array): { offset: number; length: number };
}

/** The opset every export uses: 18 has the bitwise ops (hash routing); Reduce* take their axes as an input. */
export const OPSET = 18;

/**
 * A small ONNX graph builder: nodes get fresh output names, constants and weights become
 * initializers, attributes are given as plain values (an integer, a list of integers, a
 * string, `{ float }` or `{ graph }` for a Loop body). A body built with `subgraph` shares the
 * root's names and constants (subgraphs read the outer scope). Opset 18 plus com.microsoft.
 */
export class OnnxGraph {
  private readonly nodes: onnxPkg.onnx.INodeProto[] = [];
  private readonly inits: onnxPkg.onnx.ITensorProto[];
  private readonly constants: Map<string, string>;
  private readonly counter: { next: number };

  private readonly external: ExternalData | undefined;

  /** `external`: where weights go (ONNX external data); without it they are in the model. */
  constructor(root?: OnnxGraph, external?: ExternalData) {
    this.inits = root ? root.inits : [];
    this.constants = root ? root.constants : new Map();
    this.counter = root ? root.counter : { next: 0 };
    this.external = root ? root.external : external;
  }

  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, domain = ''): string {
    return this.nodeOutputs(op, inputs, 1, attrs, domain)[0]!;
  }

  /** A node with several outputs (TopK: values, indices). */
  nodeOutputs(op: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}, domain = ''): string[] {
    const id = this.counter.next++;
    const out = Array.from({ length: outputs }, (_, i) => `${op.toLowerCase()}_${id}${outputs > 1 ? `_${i}` : ''}`);
    this.nodes.push(
      onnx.NodeProto.create({
        opType: op,
        domain,
        input: inputs,
        output: out,
        attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
      }),
    );
    return out;
  }

  /** A name no node output has. */
  fresh(prefix: string): string {
    return `${prefix}_${this.counter.next++}`;
  }

  /** ReduceSum/Max/Min/Mean over `axes` (opset 18: the axes are an input). */
  reduce(op: 'ReduceSum' | 'ReduceMax' | 'ReduceMin' | 'ReduceMean', x: string, axes: number[], keepdims: 0 | 1): string {
    return this.node(op, [x, this.ints(axes)], { keepdims });
  }

  /** The k largest (or smallest) along the last axis, sorted, ties to the lower index: [values, indices (int64)]. */
  topk(x: string, k: string, largest = 1, axis = -1): [string, string] {
    const [v, i] = this.nodeOutputs('TopK', [x, k], 2, { axis, largest, sorted: 1 });
    return [v!, i!];
  }

  /** An initializer of any element type from its raw little-endian bytes. */
  raw(name: string, type: number, dims: readonly number[], bytes: Uint8Array): string {
    this.inits.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: type, rawData: bytes }));
    return name;
  }

  /** A weight: in the model, or in the external data file when there is one. */
  weight(name: string, type: number, dims: readonly number[], data: Uint8Array): string {
    if (!this.external) return this.raw(name, type, dims, data);
    const { offset, length } = this.external.write(data);
    const externalData = Object.entries({ location: this.external.location, offset: String(offset), length: String(length) }).map(([key, value]) => ({ key, value }));
    this.inits.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: type, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData }));
    return name;
  }

  /** A float32 initializer. */
  floats(name: string, dims: readonly number[], data: Float32Array): string {
    return this.raw(name, DT.FLOAT, dims, bytes(data));
  }

  /** A uint8 initializer (quantised weights, as QMoE takes them). */
  uint8(name: string, dims: readonly number[], data: Uint8Array): string {
    return this.raw(name, DT.UINT8, dims, data);
  }

  /** A shared int64 constant vector. */
  ints(values: readonly number[]): string {
    return this.constant(`i64:${values.join(',')}`, DT.INT64, [values.length], bytes(BigInt64Array.from(values.map(BigInt))));
  }

  /** A shared int64 scalar. */
  int(value: number): string {
    return this.constant(`i64s:${value}`, DT.INT64, [], bytes(BigInt64Array.of(BigInt(value))));
  }

  /** A shared float32 (or float64) scalar constant. */
  scalar(value: number, type: 'float' | 'double' = 'float'): string {
    const data = type === 'float' ? Float32Array.of(value) : Float64Array.of(value);
    return this.constant(`${type}:${value}`, type === 'float' ? DT.FLOAT : DT.DOUBLE, [], bytes(data));
  }

  /** A shared boolean scalar. */
  bool(value: boolean): string {
    return this.constant(`bool:${value}`, DT.BOOL, [], Uint8Array.of(value ? 1 : 0));
  }

  private constant(key: string, type: number, dims: number[], data: Uint8Array): string {
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.constants.size}`;
      this.raw(name, type, dims, data);
      this.constants.set(key, name);
    }
    return name;
  }

  /** A body graph (Loop): its inputs, what `build` computes on a builder sharing this one's names, and its outputs. */
  subgraph(name: string, inputs: ValueSpec[], build: (body: OnnxGraph) => { name: string; type: number }[]): onnxPkg.onnx.IGraphProto {
    const body = new OnnxGraph(this);
    const outputs = build(body).map((o) => {
      const out = `${name}_${o.name}_out`;
      body.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [o.name], output: [out] }));
      return valueInfo({ name: out, type: o.type });
    });
    return onnx.GraphProto.create({ name, input: inputs.map(valueInfo), output: outputs, node: body.nodes });
  }

  /** The model bytes: `output` as the float output `y` [tokens, width]; inputs `x` [tokens, width] unless given. */
  encode(name: string, width: number, output: string, docString: string, metadata: Record<string, string> = {}, inputs: ValueSpec[] = [{ name: 'x', type: DT.FLOAT, dims: ['tokens', width] }]): Uint8Array {
    this.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [output], output: ['y'] }));
    const graph = onnx.GraphProto.create({
      name,
      input: inputs.map(valueInfo),
      output: [valueInfo({ name: 'y', type: DT.FLOAT, dims: ['tokens', width] })],
      initializer: this.inits,
      node: this.nodes,
      docString,
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'moec',
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      opsetImport: [
        { domain: '', version: OPSET },
        { domain: 'com.microsoft', version: 1 },
      ],
      graph,
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(v: ValueSpec): onnxPkg.onnx.IValueInfoProto {
  const dims = v.dims?.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return onnx.ValueInfoProto.create({ name: v.name, type: { tensorType: { elemType: v.type, ...(dims ? { shape: { dim: dims } } : {}) } } });
}

function attribute(name: string, v: Attr): onnxPkg.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return onnx.AttributeProto.create({ name, type: T.INT, i: v });
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: T.INTS, ints: v });
  if ('graph' in v) return onnx.AttributeProto.create({ name, type: T.GRAPH, g: v.graph });
  return onnx.AttributeProto.create({ name, type: T.FLOAT, f: v.float });
}

export function bytes(a: Float32Array | Float64Array | BigInt64Array | Int8Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}
