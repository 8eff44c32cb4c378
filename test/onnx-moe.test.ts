import { describe, expect, it } from 'vitest';
import { compileText, randomInput, randomWeights, relativeL2, run } from './support/model.js';
import { runOnnxMoe } from './support/onnx-moe.js';

/**
 * onnxruntime's MoE computes GELU by its tanh approximation, so its gelu cases run against
 * moec's gelu_tanh experts.
 *
 * Differential test of the CPU reference against onnxruntime's com.microsoft.MoE CPU kernel:
 * same weights, same inputs, softmax top-k routing with and without renormalisation.
 */
const cases = [
  { experts: 8, k: 2, normalize: true, activation: 'silu' },
  { experts: 8, k: 2, normalize: false, activation: 'relu' },
  { experts: 4, k: 1, normalize: false, activation: 'gelu' },
  { experts: 16, k: 4, normalize: true, activation: 'gelu' },
  { experts: 16, k: 3, normalize: false, activation: 'silu' },
  { experts: 32, k: 8, normalize: true, activation: 'relu' },
  { experts: 8, k: 2, normalize: true, activation: 'silu', gated: true },
  { experts: 16, k: 4, normalize: false, activation: 'silu', gated: true },
] as const;

describe('CPU reference against onnxruntime com.microsoft.MoE', () => {
  it.each(cases.map((c) => ({ ...c, kind: 'gated' in c ? 'swiglu' : c.activation })))('$experts experts, top-$k, normalize $normalize, $kind experts', async (c) => {
    const [hidden, inter, tokens] = [32, 48, 19];
    const text = `model t {
      dims { hidden = ${hidden}, ffn = ${inter}, experts = ${c.experts} }
      expert e = ${'gated' in c ? 'swiglu' : c.activation === 'gelu' ? 'gelu_tanh' : c.activation}(hidden -> ffn -> hidden)
      block moe {
        router gate = linear(hidden -> experts) | softmax | topk(${c.k}) ${c.normalize ? '| normalize' : ''}
        experts e x experts
      }
      layers 1 { x = moe(x) }
    }`;
    const { graph } = compileText(text);
    const weights = randomWeights(graph, 11);
    const x = randomInput(tokens, hidden, 5);
    const ours = run(graph, weights, { x });
    const theirs = await runOnnxMoe({
      tokens,
      hidden,
      inter,
      experts: c.experts,
      k: c.k,
      normalize: c.normalize,
      activation: c.activation,
      x: x.data as Float32Array,
      gate: weights.get('layers.0.moe.gate.weight')!.data as Float32Array,
      up: weights.get('layers.0.moe.experts.e.w_up')!.data as Float32Array,
      down: weights.get('layers.0.moe.experts.e.w_down')!.data as Float32Array,
      ...('gated' in c ? { gateProj: weights.get('layers.0.moe.experts.e.w_gate')!.data as Float32Array } : {}),
    });
    expect(relativeL2(ours, theirs)).toBeLessThan(1e-5);
  });
});
