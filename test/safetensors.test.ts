import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  firstNonFinite,
  nonFiniteProblem,
  parseSafetensorsHeader,
  readSafetensors,
  safetensorsHeaderLength,
  SafetensorsError,
  writeSafetensors,
  type TensorToWrite,
} from '../src/runtime/safetensors.js';
import { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat } from '../src/runtime/tensor.js';
import { root } from './helpers.js';
import { rawSafetensors } from './support/safetensors.js';

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

describe('safetensors layout', () => {
  const f32 = (shape: number[], begin: number) => ({ dtype: 'F32', shape, data_offsets: [begin, begin + 4 * shape.reduce((a, b) => a * b, 1)] });

  it('parses the header from the first 8 + header length bytes alone, tensors sorted by offset', () => {
    const file = rawSafetensors({ __metadata__: { format: 'pt' }, b: f32([2], 8), a: f32([2], 0), empty: f32([0], 16) }, 16);
    const dataStart = 8 + safetensorsHeaderLength(file.subarray(0, 8), file.length);
    const layout = parseSafetensorsHeader(file.subarray(0, dataStart), file.length);
    expect(layout).toEqual({
      dataStart,
      metadata: { format: 'pt' },
      tensors: [
        { name: 'a', dtype: 'F32', shape: [2], begin: 0, end: 8 },
        { name: 'b', dtype: 'F32', shape: [2], begin: 8, end: 16 },
        { name: 'empty', dtype: 'F32', shape: [0], begin: 16, end: 16 },
      ],
    });
  });

  const corrupt: [string, unknown, number, string][] = [
    ['overlapping tensors', { a: f32([4], 0), b: f32([2], 8) }, 16, "tensors 'a' (bytes 0..16) and 'b' (bytes 8..16) overlap in the data section"],
    ['a hole between tensors', { a: f32([1], 0), b: f32([1], 8) }, 12, "bytes 4..8 of the data section belong to no tensor (between 'a' (bytes 0..4) and 'b' (bytes 8..12))"],
    ['a hole before the first tensor', { a: f32([1], 4) }, 8, "bytes 0..4 of the data section belong to no tensor (before 'a' (bytes 4..8))"],
    ['bytes after the last tensor', { a: f32([1], 0) }, 8, "bytes 4..8 of the data section belong to no tensor (after 'a' (bytes 0..4))"],
    ['data but no tensors', {}, 4, 'bytes 0..4 of the data section belong to no tensor (the file declares no tensors)'],
    ['a tensor past the end', { a: f32([4], 0) }, 8, "tensor 'a' (bytes 0..16) ends past the 8-byte data section: the file is truncated"],
    ['a byte count that does not match the shape', { a: { dtype: 'F16', shape: [3], data_offsets: [0, 8] } }, 8, "tensor 'a' has 8 bytes, but F16[3] needs 6"],
    ['a shape whose size overflows', { a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, 8, "tensor 'a' has 8 bytes, but F32[1099511627776, 1099511627776] needs 4835703278458516698824704"],
    ['reversed offsets', { a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, 8, "tensor 'a' has invalid data_offsets [8,4]"],
    ['an unknown dtype', { a: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, 8, 'unsupported dtype "F64"'],
    ['a fractional dimension', { a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 6] } }, 6, "tensor 'a' has an invalid shape [1.5]"],
    ['metadata that is not strings', { __metadata__: { n: 1 } }, 0, "'__metadata__' must map names to strings"],
  ];
  it.each(corrupt)('rejects %s with a precise message', (_what, header, dataBytes, message) => {
    const file = rawSafetensors(header, dataBytes);
    expect(() => parseSafetensorsHeader(file, file.length)).toThrow(SafetensorsError);
    expect(() => readSafetensors(file)).toThrow(message);
  });

  it('prints a 64-bit header length exactly and says that 8 + the length exceeds the file', () => {
    const file = new Uint8Array(16).fill(0xff);
    expect(() => readSafetensors(file)).toThrow('8 + header length 18446744073709551615 exceeds the file (16 bytes)');
    new DataView(file.buffer).setBigUint64(0, 8n, true);
    expect(() => readSafetensors(file)).toThrow('header is not valid JSON'); // 8 + 8 fits: the 0xff bytes are read as the header
    new DataView(file.buffer).setBigUint64(0, 9n, true);
    expect(() => readSafetensors(file)).toThrow('8 + header length 9 exceeds the file (16 bytes)');
    expect(() => safetensorsHeaderLength(file.subarray(0, 5))).toThrow('file is 5 bytes, too short for a safetensors header');
    const big = new Uint8Array(8);
    new DataView(big.buffer).setBigUint64(0, 2n ** 53n + 1n, true);
    expect(() => safetensorsHeaderLength(big)).toThrow('header length 9007199254740993 exceeds the limit of 100000000 bytes');
  });

  it('accepts every file writeSafetensors writes, and rejects it when any non-empty tensor moves', () => {
    const tensor = fc.record({ shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }), as: fc.constantFrom('F32' as const, 'BF16' as const, 'I8' as const) });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }).filter((n) => n !== '__metadata__'), tensor, { minKeys: 1, maxKeys: 5 }), fc.nat(), fc.integer({ min: 1, max: 3 }), (spec, pick, shift) => {
        const tensors = new Map<string, TensorToWrite>(
          Object.entries(spec).map(([name, t]) => [name, { tensor: { dtype: t.as === 'F32' || t.as === 'BF16' ? 'f32' : 'i32', shape: t.shape, data: new Float32Array(t.shape.reduce((a, b) => a * b, 1)) }, as: t.as }]),
        );
        const bytes = writeSafetensors(tensors);
        const layout = parseSafetensorsHeader(bytes, bytes.length);
        expect(layout.tensors.map((t) => t.name).sort()).toEqual([...tensors.keys()].sort());
        const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, layout.dataStart))) as Record<string, { data_offsets: number[] }>;
        const sized = layout.tensors.filter((t) => t.end > t.begin); // an empty tensor may sit at any boundary
        if (sized.length === 0) return;
        const victim = header[sized[pick % sized.length]!.name]!;
        victim.data_offsets = victim.data_offsets.map((o) => o + shift);
        const moved = rawSafetensors(header, bytes.length - layout.dataStart);
        expect(() => parseSafetensorsHeader(moved, moved.length)).toThrow(SafetensorsError);
      }),
    );
  });

  it('finds the first non-finite value and names its tensor and index', () => {
    expect(firstNonFinite([0, 1, -2])).toBe(-1);
    expect(firstNonFinite(Float32Array.from([0, Infinity, NaN]))).toBe(1);
    expect(nonFiniteProblem('w', [2, 3], Float32Array.from([0, 1, 2, 3, NaN, 5]))).toBe("tensor 'w' holds NaN at index 4 ([1, 1]): values must be finite");
    expect(nonFiniteProblem('w', [2], [1, 2])).toBeUndefined();
  });

  it('the header functions are browser-safe: the module and what it imports use nothing from Node', () => {
    const seen = new Set<string>();
    const visit = (path: string) => {
      if (seen.has(path)) return;
      seen.add(path);
      const text = readFileSync(path, 'utf8');
      expect(text, path).not.toMatch(/from ['"]node:|\bprocess\.|\bBuffer\b/);
      for (const m of text.matchAll(/from ['"](\.{1,2}\/[^'"]+)\.js['"]/g)) visit(join(path, '..', `${m[1]}.ts`));
    };
    visit(join(root, 'src/runtime/safetensors.ts'));
    expect(seen.size).toBeGreaterThan(1);
  });
});
