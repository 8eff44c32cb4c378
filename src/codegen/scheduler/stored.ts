import { add, bitAnd, bitcast, bitOr, cast, eq, f32, mul, select, shl, shr, sub, u32 } from '../build.js';
import type { Expr } from '../kernel-ir.js';

/**
 * Weights kept on the device as their file stores them: the tensor's bytes, little-endian,
 * packed into u32 words, and decoded where a kernel reads them. bf16 and f16 take half the
 * memory of f32 and int8 a quarter of one i32 per value; decoding is exact (every bf16 and f16
 * value is an f32), so results are the same as with widened weights.
 */
export type Encoding = 'bf16' | 'f16' | 'int8' | 'int4';

/** Bytes per stored element: int4 stores two values per byte. */
export const STORED_BYTES: Readonly<Record<Encoding, number>> = { bf16: 2, f16: 2, int8: 1, int4: 1 };

/**
 * Stored element `i` of a packed buffer (`word(j)` loads u32 word j): f32 for bf16 and f16,
 * the signed byte (i32) for int8, the raw byte 0..255 (i32) for int4 (its two nibbles).
 */
export function decodeStored(encoding: Encoding, word: (index: Expr) => Expr, i: Expr): Expr {
  if (encoding === 'int4') return cast('i32', bitAnd(shr(word(shr(i, 2)), mul(bitAnd(i, 3), 8)), u32(0xff)));
  const perWord = 32 / VALUE_BITS[encoding];
  return decodeInWord(encoding, word(shr(i, Math.log2(perWord))), bitAnd(i, perWord - 1));
}

/** Bits of one value: int4 packs two values in each stored byte. */
export const VALUE_BITS: Readonly<Record<Encoding, number>> = { bf16: 16, f16: 16, int8: 8, int4: 4 };

/**
 * Value `p` of a u32 word (values fill it from the low bits): f32 for bf16 and f16, the signed
 * integer (i32) for int8 and int4. A constant `p` decodes without selects.
 */
export function decodeInWord(encoding: Encoding, w: Expr, p: Expr | number): Expr {
  const bits = VALUE_BITS[encoding];
  if (encoding === 'int8' || encoding === 'int4') {
    // Move the value to the top, then an arithmetic shift back sign-extends it.
    const up = typeof p === 'number' ? 32 - bits * (p + 1) : sub(32 - bits, mul(p, bits));
    return shr(bitcast('i32', up === 0 ? w : shl(w, up)), 32 - bits);
  }
  const pick = (low: Expr, high: Expr) => (typeof p === 'number' ? (p ? high : low) : select(eq(p, 1), high, low));
  if (encoding === 'bf16') return bitcast('f32', pick(shl(w, 16), bitAnd(w, u32(0xffff0000))));
  return halfToFloat(pick(bitAnd(w, u32(0xffff)), shr(w, 16)));
}

/**
 * An IEEE half (in the low 16 bits of a u32) as f32. Loaded weights are finite (the loader
 * rejects NaN and infinities), so only normal numbers, subnormals and zeros occur.
 */
function halfToFloat(h: Expr): Expr {
  const sign = shl(bitAnd(h, u32(0x8000)), 16);
  const exponent = bitAnd(shr(h, 10), u32(0x1f));
  const mantissa = bitAnd(h, u32(0x3ff));
  const normal = bitcast('f32', bitOr(bitOr(sign, shl(add(exponent, u32(112)), 23)), shl(mantissa, 13)));
  // A subnormal is mantissa · 2^-24, with the sign.
  const subnormal = mul(select(eq(sign, u32(0)), f32(1), f32(-1)), mul(cast('f32', mantissa), f32(2 ** -24)));
  return select(eq(exponent, u32(0)), subnormal, normal);
}
