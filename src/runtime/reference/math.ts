import type { OpAttrs } from '../../ir/ops.js';

/**
 * Scalar and matrix kernels of the CPU reference: f32 values, f64 accumulation, a rounding
 * to f32 at the end of every op (as a real f32 kernel stores its result).
 */
const fround = Math.fround;

/** y[n, b] = x[n, a] · w[a, b], accumulating each output in f64 in order of a. */
export function matmul(x: Float32Array, n: number, a: number, w: Float32Array, b: number): Float32Array {
  const y = new Float32Array(n * b);
  const acc = new Float64Array(b);
  for (let r = 0; r < n; r++) {
    acc.fill(0);
    for (let k = 0; k < a; k++) {
      const xv = x[r * a + k]!;
      if (xv === 0) continue;
      const row = k * b;
      for (let j = 0; j < b; j++) acc[j]! += xv * w[row + j]!;
    }
    for (let j = 0; j < b; j++) y[r * b + j] = acc[j]!;
  }
  return y;
}

/** Adds a bias [b] to every row of a [rows, b] block, rounding each sum to f32. */
export function addRowBias(y: Float32Array, bias: Float32Array): void {
  for (let i = 0; i < y.length; i++) y[i] = fround(y[i]! + bias[i % bias.length]!);
}

export function sigmoid(v: number): number {
  return v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
}

export const activations = {
  silu: (v: number) => fround(v * sigmoid(v)),
  gelu: (v: number) => fround(0.5 * v * (1 + erf(v / Math.SQRT2))),
  gelu_tanh: (v: number) => fround(0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)))),
  relu: (v: number) => (v > 0 ? v : 0),
} as const;

/** The IR's `act`: fn_α(clamp(v, min, max)) + shift, each step rounded to f32 as a kernel computes it. */
export function activate({ fn, alpha, min, max, shift }: Readonly<OpAttrs['act']>, v: number): number {
  const u = Math.max(min ?? -Infinity, Math.min(max ?? Infinity, v));
  const y = fn === 'identity' ? u : fn === 'sigmoid' ? fround(sigmoid(u)) : fn === 'silu' && alpha !== undefined ? fround(u * sigmoid(fround(alpha * u))) : activations[fn](u);
  return shift === undefined ? y : fround(y + shift);
}

/** erf to double precision: Taylor series near 0, a continued fraction for erfc beyond 3. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  if (ax < 3) {
    let term = x;
    let sum = x;
    const x2 = x * x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated bottom-up.
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}
