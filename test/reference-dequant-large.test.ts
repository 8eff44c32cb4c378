import { describe, expect, it } from 'vitest';
import { runKernel } from '../src/runtime/reference/kernels.js';
import type { Tensor } from '../src/runtime/tensor.js';

/**
 * Regression: the reference's dequant built its output with Float32Array.from(values, fn), which
 * lists every value first and aborted the whole process (a fatal heap error, not an exception)
 * at 2^27 values: the stacked gate/up matrix of a 64-expert layer of hidden 2048 and ffn 1024,
 * issue 8's bench layer B, in int8.
 */
describe('reference dequant at 2^27 values', () => {
  it('dequantises a [64, 2048, 1024] int8 stack', () => {
    const shape = [64, 2048, 1024];
    const q = new Int32Array(2 ** 27);
    for (let i = 0; i < q.length; i += 4099) q[i] = (i % 255) - 127;
    const scale = Float32Array.from({ length: 64 * 1024 }, (_, i) => 1 + i / 1024);
    const y = runKernel({ op: 'dequant', attrs: { bits: 8 } }, [{ dtype: 'i32', shape, data: q } as Tensor, { dtype: 'f32', shape: [64, 1024], data: scale } as Tensor], shape, { tokens: 1 }) as Tensor;
    expect(y.data.length).toBe(q.length);
    for (const i of [0, 4099, 2 ** 26 + 4099 * 7, q.length - 1 - ((q.length - 1) % 4099)]) {
      const [expert, col] = [Math.floor(i / (2048 * 1024)), i % 1024];
      expect(y.data[i]).toBe(Math.fround(q[i]! * scale[expert * 1024 + col]!));
    }
  });
});
