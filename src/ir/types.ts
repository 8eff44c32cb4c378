/**
 * IR value types. A dim is a number or a symbol: `T` is the token count, fixed only when
 * the graph runs; `T*h` appears where multi-head blocks split tokens into sub-tokens.
 */
/** Activations and weights; int8/int4 only for stored weights; `route` is a routing decision. */
export type DType = 'f32' | 'f16' | 'bf16' | 'int8' | 'int4' | 'i32' | 'route';

export type Dim = number | string;

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

/** The value of a dim once the token count is known. */
export function evalDim(d: Dim, tokens: number): number {
  if (typeof d === 'number') return d;
  if (d === TOKENS) return tokens;
  const m = /^T\*(\d+)$/.exec(d);
  if (m) return tokens * Number(m[1]);
  throw new Error(`internal: cannot evaluate dim ${d}`);
}

export function mulTokens(d: Dim, factor: number): Dim {
  if (factor === 1) return d;
  if (d === TOKENS) return `T*${factor}`;
  if (typeof d === 'number') return d * factor;
  throw new Error(`internal: cannot scale dim ${d}`);
}
