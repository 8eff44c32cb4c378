import { affine, type Dim } from '../../ir/types.js';
import { affineExpr } from '../build.js';
import type { Expr, Scalar } from '../kernel-ir.js';
import type { Affine } from '../program.js';
import type { Encoding } from './stored.js';

/**
 * What the scheduler knows about a graph value on the device: a tensor in a buffer, a
 * quantised weight (values and scales, dequantised where it is read), or a route (ids and
 * weights as two i32/f32 tensors of shape [rows, slots]).
 */
export interface TensorValue {
  kind: 'tensor';
  buffer: string;
  element: Scalar;
  shape: readonly Dim[];
  /** Stored elements before the value's first one (a view of one of stacked weights). */
  offset?: number;
  /** Values per stored element: 2 for int4 weights (two nibbles per stored byte). */
  packing?: number;
  /** A weight kept as its file stores it (u32 words of packed bytes), decoded where read; `element` is what reading yields. */
  encoding?: Encoding;
}
export interface QuantizedValue {
  kind: 'quantized';
  /** The stored values (int8, or int4 bytes of two nibbles) and the per-column scales, whole tensors. */
  q: TensorValue;
  scale: TensorValue;
  bits: 8 | 4;
  shape: readonly Dim[];
  /** One matrix of stacked weights: logical elements before it (its scales follow from the position). */
  offset?: number;
}
export interface RouteValue {
  kind: 'route';
  ids: TensorValue;
  weights: TensorValue;
  shape: readonly Dim[];
}
/** Rows of `x` picked by `perm` (-1: a zero row), read through the permutation instead of copied. */
export interface GatheredValue {
  kind: 'gathered';
  x: TensorValue;
  perm: TensorValue;
  shape: readonly Dim[];
}
export type Value = TensorValue | QuantizedValue | RouteValue | GatheredValue;

/** A quantised weight read through its values and scales; a view of one stacked matrix keeps its position. */
export function dequantValue(q: TensorValue, scale: TensorValue, bits: 8 | 4, shape: readonly Dim[]): QuantizedValue {
  // Tensor offsets count stored elements; a quantised value's offset counts values.
  const offset = (q.offset ?? 0) * (q.packing ?? 1);
  return { kind: 'quantized', q: { ...q, offset: 0 }, scale, bits, shape, ...(offset ? { offset } : {}) };
}

/** Elements of a shape, as an affine function of the token count. */
export function elements(shape: readonly Dim[]): Affine {
  return shape.reduce<Affine>((acc, d) => {
    const { a, b } = affine(d);
    if (acc.a && a) throw new Error(`internal: shape [${shape.join(', ')}] is not affine in T`);
    return { a: acc.a * b + acc.b * a, b: acc.b * b };
  }, { a: 0, b: 1 });
}

export const dimExpr = (d: Dim): Expr => {
  const { a, b } = affine(d);
  return affineExpr(a, b);
};
