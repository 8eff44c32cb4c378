import { OnnxGraph } from '../../src/interop/onnx/builder.js';

/**
 * The peer of bench/models/moe-layer-int8.moe as an ONNX model for onnxruntime-web: router
 * logits = x · W_gate (MatMul, f32), then com.microsoft.QMoE with 8-bit experts. The expert
 * values are moec's own int8 weights, re-laid out as the operator reads them, so both sides
 * compute the same function:
 *
 * - moec stores W[e] as [in, out] int8 q with per-output-column scales s[e][out]: W = q · s.
 * - QMoE reads uint8 [E, out, in] rows (one row per output channel), per-row scales [E, out],
 *   and, with no zero-point input, 8-bit values centred at 128: W = (u - 128) · s, so u = q + 128.
 * - fc1 holds gate and up with their rows interleaved (gate 0, up 0, gate 1, ...:
 *   swiglu_fusion = 1); the activation is gate · sigmoid(alpha · gate) · (up + beta), so
 *   alpha = 1, beta = 0 and a limit no value reaches give moec's silu(gate) · up.
 * - Routing inside QMoE is softmax over the experts, top-k, renormalised
 *   (normalize_routing_weights = 1): moec's `softmax | topk(k) | normalize`.
 *
 * The token count is symbolic, so one session serves every batch size.
 */
/** What the builder needs of a moec int8 MoE layer's weights (as `initWeights` makes them). */
export interface Int8MoeLayer {
  hidden: number;
  ffn: number;
  experts: number;
  k: number;
  /** [hidden, experts] f32 */
  router: Float32Array;
  /** int8 values [experts, hidden, ffn] and scales [experts, ffn] */
  gate: { q: Int32Array; scale: Float32Array };
  up: { q: Int32Array; scale: Float32Array };
  /** int8 values [experts, ffn, hidden] and scales [experts, hidden] */
  down: { q: Int32Array; scale: Float32Array };
}

/** The zero point of 8-bit QMoE weights when the model gives none. */
const ZERO_POINT = 128;

/**
 * Per expert, the [rows, cols] int8 matrices of `sources` transposed to [cols, rows] and shifted
 * to uint8, with their output channels (cols) interleaved: channel c of source 0, of source 1,
 * ..., then channel c + 1. One source gives a plain transpose.
 */
export function qmoeRows(sources: readonly Int32Array[], experts: number, rows: number, cols: number): Uint8Array {
  const n = sources.length;
  const out = new Uint8Array(experts * n * cols * rows);
  for (let e = 0; e < experts; e++) {
    for (const [s, q] of sources.entries()) {
      const base = e * rows * cols;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) out[((e * cols + c) * n + s) * rows + r] = q[base + r * cols + c]! + ZERO_POINT;
      }
    }
  }
  return out;
}

/** Per expert, the per-channel scales of `sources` ([experts, cols] each) interleaved like qmoeRows. */
export function qmoeScales(sources: readonly Float32Array[], experts: number, cols: number): Float32Array {
  const n = sources.length;
  const out = new Float32Array(experts * n * cols);
  for (let e = 0; e < experts; e++) for (let c = 0; c < cols; c++) for (const [s, scale] of sources.entries()) out[(e * cols + c) * n + s] = scale[e * cols + c]!;
  return out;
}

/** The serialised ONNX model: input x [tokens, hidden] f32, output y [tokens, hidden] f32. */
export function buildQmoeModel(layer: Int8MoeLayer): Uint8Array {
  const { hidden, ffn, experts, k } = layer;
  const g = new OnnxGraph();
  const logits = g.node('MatMul', ['x', g.floats('router', [hidden, experts], layer.router)]);
  const fc1 = g.uint8('fc1', [experts, 2 * ffn, hidden], qmoeRows([layer.gate.q, layer.up.q], experts, hidden, ffn));
  const fc1Scales = g.floats('fc1_scales', [experts, 2 * ffn], qmoeScales([layer.gate.scale, layer.up.scale], experts, ffn));
  const fc2 = g.uint8('fc2', [experts, hidden, ffn], qmoeRows([layer.down.q], experts, ffn, hidden));
  const fc2Scales = g.floats('fc2_scales', [experts, hidden], layer.down.scale);
  const attrs = {
    k,
    expert_weight_bits: 8,
    normalize_routing_weights: 1,
    activation_type: 'swiglu',
    swiglu_fusion: 1,
    activation_alpha: { float: 1 },
    activation_beta: { float: 0 },
    swiglu_limit: { float: 3e38 },
  };
  // x, router logits, fc1 weights, fc1 scales, no fc1 bias, fc2 weights, fc2 scales.
  const y = g.node('QMoE', ['x', logits, fc1, fc1Scales, '', fc2, fc2Scales], attrs, 'com.microsoft');
  return g.encode('moe_layer_int8', hidden, y, 'the peer of bench/models/moe-layer-int8.moe (bench/browser/qmoe-model.ts)');
}
