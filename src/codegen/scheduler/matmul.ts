import type { Dim } from '../../ir/types.js';
import { add, builtin, call, cast, f32, ge, gt, i32, le, lt, mul, sub, type Block } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import { emitMatrixProduct } from './matmul-matrices.js';
import { epilogueStore, productTiles, type Put } from './product-tiles.js';
import { emitSplitSum, planSplitK, sliceRange, storeSlices } from './split-k.js';
import { columnsPerLoad, readWeightColumns, rowBytes } from './weight-columns.js';
import type { Placement, ProgramBuilder } from './program-builder.js';
import type { TensorValue, Value } from './values.js';
import type { Site } from './site.js';

/**
 * Matrix products, dense and grouped, from one template. Each lane owns one output column and
 * `rows` consecutive rows (the schedule's tile); it walks k once and feeds every weight matrix
 * from the same A element, so a gated expert's gate and up projections share their loads.
 * Grouped products run over the permuted rows of a reroute: a tile lies inside one expert's
 * padded run (rows divides the block), finds that expert from the offsets, and stops at the
 * expert's real rows, so padding costs no arithmetic.
 */
export interface MatmulSpec {
  site: Site;
  kernel: string;
  summary: string;
  /** Left operand [rows, K] (a gathered value reads through the permutation). */
  a: Value;
  rows: Dim;
  K: number;
  N: number;
  /** Right operands [K, N], or [count, K, N] stacked per expert when grouped. */
  weights: Value[];
  /** Per weight, a bias [N] (or [count, N] per expert) added to its finished sum before the epilogue. */
  biases?: (Value | undefined)[];
  /** The output element from the accumulators (one per weight), the output row and column. */
  epilogue: (acc: Expr[], row: Expr, bind: Binder, column: Expr) => Expr;
  out: TensorValue;
  grouped?: { placement: Placement; first: number; count: number };
}

/** Binds an extra value into the kernel being built (for epilogues that read more). */
export type Binder = (param: string, v: Value) => (i: Expr) => Expr;

export function emitMatmul(pb: ProgramBuilder, s: MatmulSpec): void {
  // Stacked expert weights beyond the binding limit run as one dispatch per chunk of experts.
  const chunk = s.grouped ? expertsPerBinding(s, pb.schedule.maxBindingBytes) : Infinity;
  if (s.grouped && chunk < s.grouped.count) {
    for (let j = 0; j < s.grouped.count; j += chunk) {
      const n = Math.min(chunk, s.grouped.count - j);
      const view = (v: Value | undefined, size: number) => v && expertView(v, j, n, size);
      emitMatmul(pb, { ...s, weights: s.weights.map((w) => view(w, s.K * s.N)!), biases: s.biases?.map((b) => view(b, s.N)), grouped: { ...s.grouped, first: s.grouped.first + j, count: n } });
    }
    return;
  }
  const M = s.grouped ? s.grouped.placement.tiles.rows : pb.schedule.matmul.rows;
  if (pb.matrices && emitMatrixProduct(pb, s, M)) return;
  const { lanes } = pb.schedule.matmul;
  // Each lane owns `cols` consecutive columns: as many as one word of every stored weight holds.
  const cols = columnsPerLoad(s.weights, s.N);
  const groups = s.N / cols;
  // With shared A loads every lane must reach the broadcasts: lanes past N compute on a clamped column and store nothing.
  const shareA = pb.schedule.matmul.shareA && s.K % lanes === 0;
  // Under f16 arithmetic, products of `run` consecutive k are summed in f16 (k ascending), then
  // added to the f32 accumulator: half-precision multiply-adds, f32 range for the long sum.
  const run = pb.arithmetic === 'f16' && s.K % HALF_RUN === 0 && (!shareA || lanes % HALF_RUN === 0) ? HALF_RUN : 1;
  // A dense weight beyond the binding limit is bound as segments of rows, read one after another: k still ascends.
  const bounds = s.grouped ? [0, s.K] : rowSegments(s, pb.schedule.maxBindingBytes, shareA ? lanes : run);
  // Few tokens: the k range in slices, one workgroup each (split-k.ts); not with shared A loads or row segments.
  const split = shareA || bounds.length > 2 ? undefined : planSplitK(pb, s, run);
  const { grid, tileRows } = productTiles(pb, s, { a: 0, b: groups, per: lanes }, lanes * cols, M, split);
  const launch = pb.launch(s.site.node, s.kernel, s.summary, [lanes, 1, 1]);
  const k = launch.k;
  const A = launch.readRows('a', s.a, s.K);
  const Ws = s.weights.map((w, j) => readWeightColumns(launch, `w${j}`, w, s.K, s.N, cols, bounds));
  const g = k.let('n', add(mul(builtin('workgroup_x'), lanes), builtin('local_x')));
  if (shareA) k.useSubgroups();
  else k.if(ge(g, groups), (b) => b.return());
  const clamped = shareA ? k.let('col', call('min', g, i32(groups - 1))) : g;
  const column = cols === 1 ? clamped : k.let('c0', mul(clamped, cols));
  const slice = split && sliceRange(k, split, s.K);

  const { r0, rowsHere, matrix } = tileRows(launch, true);
  k.if(le(rowsHere, 0), (b) => b.return());
  // The tile's rows are unrolled: acc[w][m][c], weight w's sum for row r0 + m and column
  // column + c, is a scalar, never a dynamically indexed array (which would live in memory);
  // rows past the tile's real ones are skipped by a branch uniform across the workgroup.
  const accs = s.weights.map(() => range(M).map(() => range(cols).map(() => k.var('acc', f32(0)))));
  // Row m's A base; a row past the real ones reads row m_end - 1 (loaded, never used).
  const bases = range(M).map((m) => k.let('abase', A.base(m ? add(r0, call('min', i32(m), sub(rowsHere, 1))) : r0)));
  const eachRow = (b: Block, body: (l: Block, m: number) => void) =>
    range(M).forEach((m) => (m ? b.if(gt(rowsHere, m), (l) => body(l, m)) : body(b, m)));
  const half = run > 1;
  if (half) k.useF16();
  const narrow = (v: Expr) => (half ? cast('f16', v) : v);
  /** One run of k: weight rows kOf(0..run-1) for this lane's columns, then every row's products. */
  const step = (b: Block, segment: number, kOf: (r: number) => Expr, aOf: (m: number, r: number) => Expr) => {
    const bv = range(run).map((r) => Ws.map((W) => W.row(b, matrix, kOf(r), column, segment).map((v) => b.let('b', narrow(v)))));
    eachRow(b, (l, m) => {
      const av = range(run).map((r) => l.let('a', narrow(aOf(m, r))));
      accs.forEach((acc, w) =>
        range(cols).forEach((c) => {
          const sum = av.map((a, r) => mul(a, bv[r]![w]![c]!)).reduce((x, y) => add(x, y));
          acc[m]![c]!.set(add(acc[m]![c]!.get, half ? cast('f32', sum) : sum));
        }),
      );
    });
  };
  if (shareA) {
    // Each lane loads one element of a row's next `lanes` k values (consecutive addresses);
    // subgroupBroadcast hands every lane each of them in turn. k still ascends one by one.
    const lane = builtin('local_x');
    const chunk = range(M).map(() => k.var('achunk', f32(0)));
    segments(bounds).forEach(([from, to], segment) =>
      k.for('k0', from, to, (k0, b) => {
        chunk.forEach((v, m) => v.set(A.at(bases[m]!, add(k0, lane))));
        for (let j = 0; j < lanes; j += run) {
          step(b, segment, (r) => add(k0, j + r), (m, r) => ({ k: 'subgroup', type: 'f32', op: 'broadcast', a: chunk[m]!.get, lane: j + r }));
        }
      }, lanes),
    );
  } else {
    segments(bounds).forEach(([from, to], segment) =>
      k.for('k', slice ? slice.from : from, slice ? slice.to : to, (kk, b) => step(b, segment, (r) => (r ? add(kk, r) : kk), (m, r) => A.at(bases[m]!, r ? add(kk, r) : kk)), run),
    );
  }
  const epilogue = epilogueStore(launch, s, matrix);
  const store = (b: Block, put: Put) =>
    eachRow(b, (l, m) => {
      const row = l.let('row', m ? add(r0, m) : r0);
      for (let c = 0; c < cols; c++) {
        const n = cols === 1 ? column : l.let('n', add(column, c));
        const sums = accs.map((acc, w) => Ws[w]!.finish(l, matrix, n, acc[m]![c]!.get));
        put(l, row, n, sums);
      }
    });
  if (shareA) k.if(lt(g, groups), (b) => store(b, epilogue));
  else storeSlices(k, launch, split, slice, s.N, store, epilogue);
  launch.dispatch(grid);
  if (split) emitSplitSum(pb, s, grid, split, lanes, cols, tileRows);
}

/** How many experts' matrices one binding of each weight can hold. */
function expertsPerBinding(s: MatmulSpec, limit: number): number {
  const bytes = (w: Value) => Math.max(rowBytes(w, s.N) * s.K, w.kind === 'quantized' ? s.N * (w.scale.encoding ? 2 : 4) : 0);
  return Math.max(1, Math.floor(limit / Math.max(...s.weights.map(bytes))));
}

/**
 * k boundaries [0, ..., K] of a dense product's weight rows, each segment within one binding;
 * segments are whole multiples of `align` rows (the k loop's step). [0, K] when the weights fit.
 */
function rowSegments(s: MatmulSpec, limit: number, align: number): number[] {
  const widest = Math.max(...s.weights.map((w) => rowBytes(w, s.N)));
  if (widest * s.K <= limit) return [0, s.K];
  // A segment that starts mid-word binds from the word before it: keep a word to spare.
  const rows = Math.floor((limit - 4) / widest / align) * align;
  if (rows < align) throw new Error(`internal: ${align} rows of a ${s.N}-wide weight exceed the ${limit}-byte binding limit`);
  const bounds = [];
  for (let k = 0; k < s.K; k += rows) bounds.push(k);
  return [...bounds, s.K];
}

/** Consecutive pairs of boundaries: the segments. */
const segments = (bounds: readonly number[]): [number, number][] => bounds.slice(1).map((to, i) => [bounds[i]!, to]);

/** Experts j..j+n-1 of a stacked weight [count, K, N], as a view. */
function expertView(w: Value, j: number, n: number, matrix: number): Value {
  const shape = [n, ...w.shape.slice(1)];
  if (w.kind === 'quantized') return { ...w, offset: (w.offset ?? 0) + j * matrix, shape };
  if (w.kind === 'tensor') return { ...w, offset: (w.offset ?? 0) + (j * matrix) / (w.packing ?? 1), shape };
  throw new Error(`internal: a ${w.kind} as grouped weights`);
}

/** k values whose products f16 arithmetic sums in f16 before adding them to the f32 accumulator. */
const HALF_RUN = 4;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
