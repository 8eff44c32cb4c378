import { add, bitAnd, cast, load, mul, shr, sub, type Block } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import { quantizedScales, type Launch } from './launch.js';
import { decodeInWord, STORED_BYTES, VALUE_BITS, type Encoding } from './stored.js';
import { elements, type QuantizedValue, type TensorValue, type Value } from './values.js';

/**
 * A matmul's weight matrices [count, K, N] read a word at a time. A u32 word of a stored weight
 * holds 2 (bf16, f16), 4 (int8) or 8 (int4) consecutive values of one row k, so a lane that owns
 * `cols` consecutive columns decodes all of them from one load instead of reloading the word per
 * column. A quantised weight's per-column scale is applied once to the finished sum
 * (Σ a·q)·s instead of to every product: the same function, rounded once less per product, and
 * no scale index or load in the inner loop.
 */
export interface WeightColumns {
  /** Raw values (f32, unscaled) of columns col..col+cols-1 in row kk (of `segment`, when split) of matrix `matrix` (relative to the view). */
  row(b: Block, matrix: Expr | undefined, kk: Expr, col: Expr, segment?: number): Expr[];
  /** A finished sum of column `col` of matrix `matrix`, scaled when the weight is quantised. */
  finish(b: Block, matrix: Expr | undefined, col: Expr, acc: Expr): Expr;
}

/** The most columns a lane takes from one word: more would cost registers for little. */
const MAX_COLUMNS = 4;

/** Values per u32 word of a weight kept as stored, with its encoding, and the value index its view starts at; 1 otherwise. */
function words(w: Value): { perWord: number; encoding?: Encoding; start: number } {
  if (w.kind === 'quantized') {
    const { encoding } = w.q;
    return encoding ? { perWord: 32 / VALUE_BITS[encoding], encoding, start: w.offset ?? 0 } : { perWord: 1, start: 0 };
  }
  if (w.kind === 'tensor' && w.encoding) return { perWord: 32 / VALUE_BITS[w.encoding], encoding: w.encoding, start: (w.offset ?? 0) * (w.packing ?? 1) };
  return { perWord: 1, start: w.kind === 'tensor' ? (w.offset ?? 0) : 0 };
}

/**
 * Columns one lane can take from each word of every weight: a power of two dividing every
 * weight's values per word and N, with every view starting on such a boundary; 1 reads
 * element by element.
 */
export function columnsPerLoad(weights: readonly Value[], N: number): number {
  let cols = MAX_COLUMNS;
  for (const w of weights) {
    const { perWord, start } = words(w);
    cols = Math.min(cols, perWord);
    while (cols > 1 && (N % cols !== 0 || start % cols !== 0)) cols /= 2;
  }
  return cols;
}

/**
 * Columns a lane can take with one 16-byte load of every weight: four words, 4 × the values per
 * word, where every weight is stored (or f32) with the same values per word and N and every
 * view's start are multiples of that; undefined otherwise. readWeightColumns reads that many
 * columns with one load4 (kernel-ir.ts), or four word loads where a binding's start is not
 * aligned.
 */
export function vectorColumns(weights: readonly Value[], N: number): number | undefined {
  const per = weights.map((w) => (words(w).encoding || (w.kind === 'tensor' && w.element === 'f32') ? words(w) : undefined));
  const perWord = per[0]?.perWord;
  if (!perWord || per.some((p) => p?.perWord !== perWord)) return undefined;
  const cols = 4 * perWord;
  return N % cols === 0 && per.every((p) => p!.start % cols === 0) ? cols : undefined;
}

/**
 * Bind weight `w` [count, K, N] into `launch` as `param`, read `cols` columns at a time (cols from
 * columnsPerLoad). `bounds` splits the rows k of a single matrix into segments bound apart
 * (`param`, `param_1`, ...): a dense weight larger than one binding. The default binds it whole.
 */
export function readWeightColumns(launch: Launch, param: string, w: Value, K: number, N: number, cols: number, bounds: readonly number[] = [0, K]): WeightColumns {
  if (w.kind !== 'quantized' && w.kind !== 'tensor') throw new Error(`internal: a ${w.kind} as matmul weights`);
  // Matrix `m` of a stacked weight (undefined: the only one).
  const within = (m: Expr | undefined, size: number, i: Expr) => (m ? add(mul(m, size), i) : i);
  const scale = w.kind === 'quantized' ? launch.read(`${param}_scale`, quantizedScales(w)) : undefined;
  const finish = (b: Block, m: Expr | undefined, col: Expr, acc: Expr) => (scale ? b.let('s', mul(acc, scale(within(m, N, col)))) : acc);
  const { perWord, encoding } = words(w);
  const segments = bounds.slice(1).map((to, i) => {
    const from = bounds[i]!;
    const view = from === 0 && to === K ? w : rowRange(w, from, to, N);
    const name = i ? `${param}_${i}` : param;
    const index = (m: Expr | undefined, kk: Expr, col: Expr) => within(m, K * N, add(mul(from ? sub(kk, from) : kk, N), col));
    return segmentRows(launch, name, view, index, cols, perWord, encoding);
  });
  return { row: (b, m, kk, col, segment = 0) => segments[segment]!(b, m, kk, col), finish };
}

type RowReader = (b: Block, m: Expr | undefined, kk: Expr, col: Expr) => Expr[];

/** One bound range of a weight's rows: raw values of `cols` columns at a time, through `index`. */
function segmentRows(launch: Launch, param: string, w: TensorValue | QuantizedValue, index: (m: Expr | undefined, kk: Expr, col: Expr) => Expr, cols: number, perWord: number, encoding: Encoding | undefined): RowReader {
  if (cols === 4 * perWord) return vectorRows(launch, param, w, index, perWord, encoding);
  if (!encoding || cols === 1) {
    // Element by element: a widened weight, or columns that do not share words.
    const value = w.kind === 'quantized' ? launch.readQuantized(param, w) : launch.read(param, w);
    return (_b, m, kk, col) => Array.from({ length: cols }, (_, c) => cast('f32', value(index(m, kk, add(col, c)))));
  }
  const { p, before } = bindValues(launch, param, w);
  return (b, m, kk, col) => {
    const i = before ? add(index(m, kk, col), before) : index(m, kk, col);
    const word = b.let('wd', load(p, 'u32', shr(i, Math.log2(perWord))));
    // Columns fill whole words when cols = perWord; otherwise the lane's first value lies mid-word.
    const at = cols === perWord ? undefined : b.let('wp', bitAnd(i, perWord - 1));
    return Array.from({ length: cols }, (_, c) => cast('f32', decodeInWord(encoding, word, at ? add(at, c) : c)));
  };
}

/** Four words (16 bytes) of a stored or f32 weight per read: 4 × perWord columns (vectorColumns). */
function vectorRows(launch: Launch, param: string, w: TensorValue | QuantizedValue, index: (m: Expr | undefined, kk: Expr, col: Expr) => Expr, perWord: number, encoding: Encoding | undefined): RowReader {
  // A view that starts mid-vector in its binding (a chunk of the buffer) loads word by word.
  const { p, before } = bindValues(launch, param, w);
  const type = encoding ? 'u32' : 'f32';
  return (b, m, kk, col) => {
    const i = before ? add(index(m, kk, col), before) : index(m, kk, col);
    const word = perWord > 1 ? b.let('wi', shr(i, Math.log2(perWord))) : i;
    const loaded = before % (4 * perWord) === 0 ? b.load4('wd', p, type, word) : [0, 1, 2, 3].map((j) => b.let('wd', load(p, type, j ? add(word, j) : word)));
    return loaded.flatMap((v) => (encoding ? Array.from({ length: perWord }, (_, c) => cast('f32', decodeInWord(encoding, v, c))) : [v]));
  };
}

/**
 * Bind the buffer (or chunk) holding a weight's stored values as `param` (`param_q` for quantised
 * values); `before`: values of the binding before the view's first, so value i of the view is
 * value before + i of the binding.
 */
function bindValues(launch: Launch, param: string, w: TensorValue | QuantizedValue): { p: string; before: number } {
  const tensor = w.kind === 'quantized' ? w.q : w;
  const perStored = w.kind === 'quantized' ? (w.bits === 4 ? 2 : 1) : (w.packing ?? 1);
  const { p, first } = launch.bindStored(w.kind === 'quantized' ? `${param}_q` : param, tensor, words(w).start / perStored, elements(w.shape).b / perStored);
  return { p, before: first * perStored };
}

/** Rows from..to-1 of a single weight matrix [K, N], as a view. */
function rowRange<W extends TensorValue | QuantizedValue>(w: W, from: number, to: number, N: number): W {
  const skipped = w.kind === 'quantized' ? from * N : (from * N) / (w.packing ?? 1);
  return { ...w, offset: (w.offset ?? 0) + skipped, shape: [to - from, N] };
}

/** Bytes one row k of a weight occupies as stored. */
export function rowBytes(w: Value, N: number): number {
  if (w.kind === 'quantized') return (N / (w.bits === 4 ? 2 : 1)) * (w.q.encoding ? 1 : 4);
  if (w.kind === 'tensor') return (N / (w.packing ?? 1)) * (w.encoding ? STORED_BYTES[w.encoding] : 4);
  return 0;
}
