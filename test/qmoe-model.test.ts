import ortPkg from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildQmoeModel, qmoeRows, qmoeScales } from '../bench/browser/qmoe-model.js';
import { root } from './helpers.js';
import { compileText, randomInput, randomWeights, relativeL2, run } from './support/model.js';

/**
 * The browser bench's peer model (bench/browser/qmoe-model.ts): com.microsoft.QMoE built from
 * moec's int8 experts must compute moec's function. onnxruntime-node's CPU QMoE kernel runs it
 * here against moec's CPU reference, so a layout mistake cannot pass for a slow or wrong peer.
 */
const text = readFileSync(join(root, 'bench', 'models', 'moe-layer-int8.moe'), 'utf8');

describe('the QMoE peer of bench/models/moe-layer-int8.moe', () => {
  it('interleaves output channels of int8 [in, out] matrices as uint8 [out, in] rows, zero point 128', () => {
    // Two experts of [2 in, 3 out] holding 0, 1, 2, ... (and a second source shifted by -50).
    const q = (shift: number) => Int32Array.from({ length: 12 }, (_, i) => i + shift);
    expect([...qmoeRows([q(0)], 2, 2, 3)]).toEqual([128, 131, 129, 132, 130, 133, 134, 137, 135, 138, 136, 139]);
    expect([...qmoeRows([q(0), q(-50)], 1, 2, 3)]).toEqual([128, 131, 78, 81, 129, 132, 79, 82, 130, 133, 80, 83]);
    expect([...qmoeScales([Float32Array.of(1, 2, 3), Float32Array.of(4, 5, 6)], 1, 3)]).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it.each([
    { experts: 8, k: 2 },
    { experts: 16, k: 4 },
  ])('matches the CPU reference in onnxruntime-node ($experts experts, top-$k)', async ({ experts, k }) => {
    const dims = { hidden: 32, ffn: 48, experts, k };
    const { graph } = compileText(text, dims);
    const w = randomWeights(graph, 7);
    const get = (name: string) => w.get(`layers.0.moe.${name}`)!.data;
    const quantised = (name: string) => ({ q: get(`experts.mlp.${name}`) as Int32Array, scale: get(`experts.mlp.${name}.scale`) as Float32Array });
    const model = buildQmoeModel({ ...dims, router: get('gate.weight') as Float32Array, gate: quantised('w_gate'), up: quantised('w_up'), down: quantised('w_down') });
    const session = await ortPkg.InferenceSession.create(model);
    for (const tokens of [1, 19]) {
      const x = randomInput(tokens, dims.hidden, tokens);
      const out = await session.run({ x: new ortPkg.Tensor('float32', x.data as Float32Array, [tokens, dims.hidden]) });
      expect(relativeL2(out['y']!.data as Float32Array, run(graph, w, { x }))).toBeLessThan(1e-5);
    }
    await session.release();
  });
});
