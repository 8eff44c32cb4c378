import onnxPkg from 'onnx-proto';

const { onnx } = onnxPkg;

type Attr = number | number[] | string | { float: number };

/**
 * A small ONNX graph builder: nodes get fresh output names, constants and weights become
 * initializers, attributes are given as plain values (an integer, a list of integers, a
 * string, or `{ float }`). Opset 17 plus com.microsoft.
 */
export class OnnxGraph {
  private readonly nodes: onnxPkg.onnx.INodeProto[] = [];
  private readonly inits: onnxPkg.onnx.ITensorProto[] = [];
  private readonly constants = new Map<string, string>();
  private next = 0;

  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, domain = ''): string {
    return this.nodeOutputs(op, inputs, 1, attrs, domain)[0]!;
  }

  /** A node with several outputs (TopK: values, indices). */
  nodeOutputs(op: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}, domain = ''): string[] {
    const id = this.next++;
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

  /** A float32 initializer (weights keep their moec names). */
  floats(name: string, dims: readonly number[], data: Float32Array): string {
    this.inits.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes(data) }));
    return name;
  }

  /** A uint8 initializer (quantised weights, as QMoE takes them). */
  uint8(name: string, dims: readonly number[], data: Uint8Array): string {
    this.inits.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.UINT8, rawData: data }));
    return name;
  }

  /** A shared int64 constant vector. */
  ints(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.constants.size}`;
      this.inits.push(onnx.TensorProto.create({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: bytes(BigInt64Array.from(values.map(BigInt))) }));
      this.constants.set(key, name);
    }
    return name;
  }

  /** A shared float32 scalar constant. */
  scalar(value: number): string {
    const key = `f32:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.constants.size}`;
      this.inits.push(onnx.TensorProto.create({ name, dims: [], dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes(Float32Array.of(value)) }));
      this.constants.set(key, name);
    }
    return name;
  }

  /** The model bytes: input `x` [tokens, width], output `y` the same. */
  encode(name: string, width: number, output: string, docString: string, metadata: Record<string, string> = {}): Uint8Array {
    const value = (n: string) =>
      onnx.ValueInfoProto.create({ name: n, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'tokens' }, { dimValue: width }] } } } });
    this.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [output], output: ['y'] }));
    const graph = onnx.GraphProto.create({ name, input: [value('x')], output: [value('y')], initializer: this.inits, node: this.nodes, docString });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'moec',
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      opsetImport: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
      graph,
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function attribute(name: string, v: Attr): onnxPkg.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return onnx.AttributeProto.create({ name, type: T.INT, i: v });
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: T.INTS, ints: v });
  return onnx.AttributeProto.create({ name, type: T.FLOAT, f: v.float });
}

function bytes(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}
