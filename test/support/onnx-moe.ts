import ortPkg from 'onnxruntime-node';
import onnxPkg from 'onnx-proto';
import { interleaveRows, transposeStacked } from '../../src/interop/onnx/fused-moe.js';

/**
 * A one-node ONNX model around onnxruntime's com.microsoft.MoE contrib op (its CPU kernel is
 * an independent MoE implementation): router logits = x · W_gate (a MatMul), then MoE with
 * softmax, top-k and optional renormalisation inside the op. Expert weights are laid out
 * [experts, out, in] as the op expects.
 */
const { onnx } = onnxPkg;
const ort = ortPkg;

export interface OnnxMoeCase {
  tokens: number;
  hidden: number;
  inter: number;
  experts: number;
  k: number;
  normalize: boolean;
  activation: 'relu' | 'gelu' | 'silu';
  x: Float32Array; // [tokens, hidden]
  gate: Float32Array; // [hidden, experts]
  up: Float32Array; // [experts, hidden, inter]  (moec layout: x · W)
  down: Float32Array; // [experts, inter, hidden]
  /** Gated experts: silu(x · gate) ⊙ (x · up), as onnxruntime's fused swiglu with interleaved fc1 rows. */
  gateProj?: Float32Array; // [experts, hidden, inter]
}

function initializer(name: string, dims: number[], data: Float32Array) {
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
}

export async function runOnnxMoe(c: OnnxMoeCase): Promise<Float32Array> {
  const value = (name: string, dims: number[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const graph = onnx.GraphProto.create({
    name: 'moe',
    input: [value('x', [c.tokens, c.hidden])],
    output: [value('y', [c.tokens, c.hidden])],
    initializer: [
      initializer('gate', [c.hidden, c.experts], c.gate),
      c.gateProj
        ? initializer('fc1', [c.experts, 2 * c.inter, c.hidden], interleaveRows(transposeStacked(c.gateProj, c.experts, c.hidden, c.inter), transposeStacked(c.up, c.experts, c.hidden, c.inter), c.experts, c.inter, c.hidden))
        : initializer('fc1', [c.experts, c.inter, c.hidden], transposeStacked(c.up, c.experts, c.hidden, c.inter)),
      initializer('fc2', [c.experts, c.hidden, c.inter], transposeStacked(c.down, c.experts, c.inter, c.hidden)),
    ],
    node: [
      onnx.NodeProto.create({ opType: 'MatMul', input: ['x', 'gate'], output: ['logits'] }),
      onnx.NodeProto.create({
        opType: 'MoE',
        domain: 'com.microsoft',
        input: ['x', 'logits', 'fc1', '', 'fc2'],
        output: ['y'],
        attribute: [
          onnx.AttributeProto.create({ name: 'k', type: onnx.AttributeProto.AttributeType.INT, i: c.k }),
          onnx.AttributeProto.create({ name: 'normalize_routing_weights', type: onnx.AttributeProto.AttributeType.INT, i: c.normalize ? 1 : 0 }),
          onnx.AttributeProto.create({ name: 'activation_type', type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(c.gateProj ? 'swiglu' : c.activation) }),
          // SwiGLU as silu(gate) ⊙ up: rows of fc1 interleave gate and up, alpha 1, no +beta, no clamp.
          ...(c.gateProj
            ? [
                onnx.AttributeProto.create({ name: 'swiglu_fusion', type: onnx.AttributeProto.AttributeType.INT, i: 1 }),
                onnx.AttributeProto.create({ name: 'activation_alpha', type: onnx.AttributeProto.AttributeType.FLOAT, f: 1 }),
                onnx.AttributeProto.create({ name: 'activation_beta', type: onnx.AttributeProto.AttributeType.FLOAT, f: 0 }),
                onnx.AttributeProto.create({ name: 'swiglu_limit', type: onnx.AttributeProto.AttributeType.FLOAT, f: 1e30 }),
              ]
            : []),
        ],
      }),
    ],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph,
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ x: new ort.Tensor('float32', c.x, [c.tokens, c.hidden]) });
  return out['y']!.data as Float32Array;
}
