import { affine, type Dim } from '../../ir/types.js';
import { add, builtin, call, cast, eq, f32, ge, gt, i32, le, lt, mul, select, sub, tokens, type Block } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import type { Grid } from '../program.js';
import { emitSplitSum, planSplitK, sliceRange, storePartial, type SplitK, type TileRows } from './split-k.js';
import { columnsPerLoad, readWeightColumns, rowBytes } from './weight-columns.js';
import type { Placement, ProgramBuilder } from './program-builder.js';
import { dimExpr, type TensorValue, type Value } from './values.js';
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
      emitMatmul(pb, { ...s, weights: s.weights.map((w) => expertView(w, j, n, s.K * s.N)), grouped: { ...s.grouped, first: s.grouped.first + j, count: n } });
    }
    return;
  }
  const { lanes } = pb.schedule.matmul;
  const M = s.grouped ? s.grouped.placement.tiles.rows : pb.schedule.matmul.rows;
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
  // A grouped product runs exactly one workgroup row per real tile of its experts: a one-
  // invocation kernel writes the grid, read by an indirect dispatch.
  const grid: Grid = s.grouped ? { kind: 'indirect', buffer: emitGridArgs(pb, s, lanes * cols, split), offset: 0 } : { kind: 'direct', x: { a: 0, b: groups, per: lanes }, y: { ...affine(s.rows), per: M }, z: { a: 0, b: split?.slices ?? 1, per: 1 } };
  const launch = pb.launch(s.site.node, s.kernel, s.summary, [lanes, 1, 1]);
  const k = launch.k;
  const A = launch.readRows('a', s.a, s.K);
  const Ws = s.weights.map((w, j) => readWeightColumns(launch, `w${j}`, w, s.K, s.N, cols, bounds));
  const bound = new Map<string, (i: Expr) => Expr>();
  const bind: Binder = (param, v) => bound.get(param) ?? bound.set(param, launch.read(param, v)).get(param)!;
  const g = k.let('n', add(mul(builtin('workgroup_x'), lanes), builtin('local_x')));
  if (shareA) k.useSubgroups();
  else k.if(ge(g, groups), (b) => b.return());
  const clamped = shareA ? k.let('col', call('min', g, i32(groups - 1))) : g;
  const column = cols === 1 ? clamped : k.let('c0', mul(clamped, cols));
  const slice = split && sliceRange(k, split, s.K);

  const tileRows: TileRows = (l, weights) => {
    if (!s.grouped) {
      const r0 = l.k.let('r0', mul(builtin('workgroup_y'), M));
      return { r0, rowsHere: l.k.let('m_end', call('min', i32(M), sub(dimExpr(s.rows), r0))) };
    }
    // The range of experts comes from the grid record, not the kernel: one kernel serves every
    // chunk and every layer of the same shape.
    const record = l.read('grid', { kind: 'tensor', buffer: (grid as { buffer: string }).buffer, element: 'i32', shape: [GRID_RECORD] });
    const table = l.read('tiles', s.grouped.placement.tiles.table);
    const tile = l.k.let('tile', mul(add(record(i32(3)), builtin('workgroup_y')), 3));
    const e = weights ? l.k.let('e', table(tile)) : undefined;
    const r0 = l.k.let('r0', table(add(tile, 1)));
    const rowsHere = l.k.let('m_end', table(add(tile, 2)));
    return { r0, rowsHere, ...(e ? { matrix: l.k.let('we', sub(e, record(i32(4)))) } : {}) };
  };
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
  const o = launch.write('out', s.out);
  const epilogue = (l: Block, row: Expr, n: Expr, sums: Expr[]) => l.store(o, add(mul(row, s.N), n), s.epilogue(sums, row, bind, n));
  const store = (b: Block, put = epilogue) =>
    eachRow(b, (l, m) => {
      const row = l.let('row', m ? add(r0, m) : r0);
      for (let c = 0; c < cols; c++) {
        const n = cols === 1 ? column : l.let('n', add(column, c));
        const sums = accs.map((acc, w) => Ws[w]!.finish(l, matrix, n, acc[m]![c]!.get));
        put(l, row, n, sums);
      }
    });
  if (shareA) k.if(lt(g, groups), (b) => store(b));
  // A split product's slices leave finished sums for the second kernel; one slice (many tokens) stores as usual.
  else if (slice) k.if(eq(slice.slices, 1), (b) => store(b), (b) => store(b, storePartial(launch, split!, s.N)));
  else store(k);
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

/** A grouped product's grid record: the indirect grid (x, y, z), then its first tile and first expert. */
const GRID_RECORD = 5;

/**
 * The exact grid of a grouped product: [column blocks, real tiles of experts first..first+count-1,
 * 1], followed by the first tile and expert for the product to read. The range arrives as a
 * constant buffer, so one small kernel serves every product.
 */
function emitGridArgs(pb: ProgramBuilder, s: MatmulSpec, columnsPerWorkgroup: number, split?: SplitK): string {
  const { placement, first, count } = s.grouped!;
  const args = pb.workspace(`${s.site.name}_grid${pb.dispatches.length}`, 'i32', [GRID_RECORD], s.site.node);
  const launch = pb.launch(s.site.node, 'grid_args', 'the exact grid of a grouped matmul: its column blocks and the real row tiles of its experts', [1, 1, 1]);
  const range = launch.read('range', pb.constant([first, first + count, Math.ceil(s.N / columnsPerWorkgroup)]));
  const start = launch.read('tile_start', placement.tiles.start);
  const out = launch.write('args', args);
  const firstTile = launch.k.let('first_tile', start(range(i32(0))));
  launch.k.store(out, 0, range(i32(2)));
  launch.k.store(out, 1, sub(start(range(i32(1))), firstTile));
  // A split product's slices (split-k.ts): as many as it uses at this token count.
  launch.k.store(out, 2, split ? select(le(tokens, split.tokens), i32(split.slices), i32(1)) : i32(1));
  launch.k.store(out, 3, firstTile);
  launch.k.store(out, 4, range(i32(0)));
  launch.dispatch({ kind: 'direct', x: { a: 0, b: 1, per: 1 }, y: { a: 0, b: 1, per: 1 }, z: { a: 0, b: 1, per: 1 } });
  return args.buffer;
}

