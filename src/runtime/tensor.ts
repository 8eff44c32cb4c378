/** A dense row-major tensor as the CPU reference holds it: f32 values or i32 indices. */
export interface Tensor {
  dtype: 'f32' | 'i32';
  shape: number[];
  data: Float32Array | Int32Array;
}

export function f32(shape: number[], data?: Float32Array): Tensor & { data: Float32Array } {
  return { dtype: 'f32', shape, data: data ?? new Float32Array(size(shape)) };
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** One expert's matrix out of a stacked [count, ...] weight (the whole tensor without an index). */
export function stackedSlice(w: Tensor, index: number | undefined): Float32Array {
  const d = w.data as Float32Array;
  if (index === undefined) return d;
  const per = size(w.shape.slice(1));
  return d.subarray(index * per, (index + 1) * per);
}

const scratch = new DataView(new ArrayBuffer(4));

/** IEEE half to f32 (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** f32 to IEEE half, round to nearest even. */
export function floatToHalf(v: number): number {
  scratch.setFloat32(0, v);
  return halfFromBits(scratch.getUint32(0));
}

/** An f32, given by its bits, to IEEE half, round to nearest even. */
export function halfFromBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

export function bf16ToFloat(h: number): number {
  scratch.setUint32(0, h << 16);
  return scratch.getFloat32(0);
}

/** f32 to bfloat16, round to nearest even. */
export function floatToBf16(v: number): number {
  scratch.setFloat32(0, v);
  return bf16FromBits(scratch.getUint32(0));
}

/** An f32, given by its bits, to bfloat16, round to nearest even. */
export function bf16FromBits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
