import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readSafetensors, SafetensorsError, writeSafetensors } from '../src/runtime/safetensors.js';
import { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat } from '../src/runtime/tensor.js';

describe('f16 and bf16 conversions', () => {
  it('every f16 bit pattern survives f16 -> f32 -> f16 (NaNs stay NaN)', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = halfToFloat(h);
      if (Number.isNaN(v)) expect(Number.isNaN(halfToFloat(floatToHalf(v)))).toBe(true);
      else expect(floatToHalf(v)).toBe(h);
    }
  });

  it('every bf16 bit pattern survives bf16 -> f32 -> bf16', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = bf16ToFloat(h);
      if (Number.isNaN(v)) expect(Number.isNaN(bf16ToFloat(floatToBf16(v)))).toBe(true);
      else expect(floatToBf16(v)).toBe(h);
    }
  });

  it('rounds to nearest, ties to even', () => {
    expect(halfToFloat(floatToHalf(1 + 2 ** -11))).toBe(1); // halfway between 1 and 1 + 2^-10: even is 1
    expect(halfToFloat(floatToHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(halfToFloat(floatToHalf(65520))).toBe(Infinity);
    expect(halfToFloat(floatToHalf(2 ** -24))).toBe(2 ** -24); // smallest subnormal
    expect(bf16ToFloat(floatToBf16(1 + 2 ** -8))).toBe(1);
    expect(bf16ToFloat(floatToBf16(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
  });

  it('the rounding error is at most half an ulp', () => {
    fc.assert(
      fc.property(fc.float({ min: -60000, max: 60000, noNaN: true }), (v) => {
        const back = halfToFloat(floatToHalf(v));
        const ulp = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(v) || 2 ** -24)), -14) - 10);
        expect(Math.abs(back - v)).toBeLessThanOrEqual(ulp / 2);
      }),
    );
  });
});

describe('safetensors files', () => {
  const tensors = new Map([
    ['b', { tensor: { dtype: 'f32' as const, shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-3, 7]) }, as: 'BF16' as const }],
    ['a', { tensor: { dtype: 'f32' as const, shape: [3], data: Float32Array.from([0.5, -0.25, 2]) }, as: 'F16' as const }],
    ['ids', { tensor: { dtype: 'i32' as const, shape: [2], data: Int32Array.from([7, -1]) }, as: 'I32' as const }],
  ]);

  it('round-trips, with sorted names and an 8-byte aligned header, byte for byte the same each time', () => {
    const bytes = writeSafetensors(tensors, { note: 'x' });
    expect(writeSafetensors(tensors, { note: 'x' })).toEqual(bytes);
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const back = readSafetensors(bytes);
    expect([...back.keys()]).toEqual(['a', 'b', 'ids']);
    expect(back.get('a')!.stored).toBe('F16');
    expect([...back.get('a')!.tensor.data]).toEqual([0.5, -0.25, 2]);
    expect([...back.get('ids')!.tensor.data]).toEqual([7, -1]);
    expect(back.get('b')!.tensor.data[4]).toBeCloseTo(1e-3, 5);
  });

  it('rejects truncated and inconsistent files with what is wrong', () => {
    const bytes = writeSafetensors(tensors);
    expect(() => readSafetensors(bytes.subarray(0, 4))).toThrow(SafetensorsError);
    expect(() => readSafetensors(bytes.subarray(0, bytes.length - 2))).toThrow(/truncated/);
    const corrupt = Uint8Array.from(bytes);
    corrupt[9] = 0x7b; // break the JSON header
    expect(() => readSafetensors(corrupt)).toThrow(/not valid JSON|invalid/);
  });
});
