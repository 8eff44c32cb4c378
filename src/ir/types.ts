/**
 * IR value types. A dim is a number or a symbol: `T` is the token count, fixed only when
 * the graph runs; `T*h` appears where multi-head blocks split tokens into sub-tokens.
 */
/** Activations and weights; int8/int4 only for stored weights; `route` is a routing decision. */
export type DType = 'f32' | 'f16' | 'bf16' | 'int8' | 'int4' | 'i32' | 'route';

export type Dim = number | string;

/** Bytes per element: int4 packs two per byte; a route slot holds an i32 id and an f32 weight. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, f16: 2, bf16: 2, int8: 1, int4: 0.5, i32: 4, route: 8 };

export interface TensorType {
  dtype: DType;
  shape: readonly Dim[];
}

export const TOKENS = 'T';

export function formatType(t: TensorType): string {
  return `${t.dtype}[${t.shape.join(', ')}]`;
}

export function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A dim as `a·T + b`; every symbolic dim in the IR is affine in the token count. */
export interface Affine {
  a: number;
  b: number;
}

export function affine(d: Dim): Affine {
  if (typeof d === 'number') return { a: 0, b: d };
  const m = /^T(?:\*(\d+))?(?:\+(\d+))?$/.exec(d);
  if (!m) throw new Error(`internal: malformed dim ${d}`);
  return { a: m[1] ? Number(m[1]) : 1, b: m[2] ? Number(m[2]) : 0 };
}

export function dimOf({ a, b }: Affine): Dim {
  if (a === 0) return b;
  return `T${a === 1 ? '' : `*${a}`}${b ? `+${b}` : ''}`;
}

/** The value of a dim once the token count is known. */
export function evalDim(d: Dim, tokens: number): number {
  const { a, b } = affine(d);
  return a * tokens + b;
}

export function mulTokens(d: Dim, factor: number): Dim {
  const { a, b } = affine(d);
  return dimOf({ a: a * factor, b: b * factor });
}
