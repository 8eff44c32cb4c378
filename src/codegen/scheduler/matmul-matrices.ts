import { add, builtin, call, cast, div, f32, le, lt, mod, mul, select, sub, type Block } from '../build.js';
import { MATRIX, type Scalar } from '../kernel-ir.js';
import type { MatmulSpec } from './matmul.js';
import { epilogueStore, productTiles, type Put } from './product-tiles.js';
import type { ProgramBuilder } from './program-builder.js';
import { emitSplitSum, planSplitK, sliceRange, storeSlices } from './split-k.js';
import { columnsPerLoad, readWeightColumns, rowBytes, vectorColumns } from './weight-columns.js';

/**
 * Products on subgroup matrices (tensor cores), for schedules that have them under f16 or bf16
 * arithmetic. A workgroup is one subgroup of 32 lanes and computes a tile of 16 rows by
 * `16 · fragments` columns of every weight (a gated expert's gate and up share the A tile):
 * for each 16 k, the lanes round A's 16 x 16 tile and each weight's 16 x columns tile to the
 * arithmetic's type in workgroup memory (stored weights decoded from 16-byte loads where the
 * layout allows, a word at a time otherwise; quantised ones unscaled), then multiply them into
 * f32 result matrices. The results go through workgroup
 * memory to the same stores as the scalar template's: quantised scales, the epilogue, or split-K's
 * partial sums (split-k.ts), so grids, tiles and split-K are shared with matmul.ts.
 *
 * Rows past a tile's real ones are zeros in the A tile and never stored. Products whose K or N
 * is not a multiple of 16 keep the scalar template (returns false).
 */
export function emitMatrixProduct(pb: ProgramBuilder, s: MatmulSpec, M: number): boolean {
  if (s.K % MATRIX || s.N % MATRIX || M > MATRIX) return false;
  // A dense weight beyond one binding is read in row segments, which only the scalar template does.
  if (!s.grouped && Math.max(...s.weights.map((w) => rowBytes(w, s.N))) * s.K > pb.schedule.maxBindingBytes) return false;
  const type: Scalar = pb.arithmetic === 'bf16' ? 'bf16' : 'f16';
  let fragments = MAX_FRAGMENTS;
  while (s.N % (fragments * MATRIX)) fragments /= 2;
  const width = fragments * MATRIX;
  // Weight tiles load 16 bytes per lane where the layout allows (and the lanes share the loads evenly).
  const vector = vectorColumns(s.weights, s.N);
  const cols = vector && width % vector === 0 && ((MATRIX * width) / vector) % LANES === 0 ? vector : columnsPerLoad(s.weights, s.N);
  const split = planSplitK(pb, s, MATRIX);
  const { grid, tileRows } = productTiles(pb, s, { a: 0, b: s.N / width, per: 1 }, width, M, split);
  const launch = pb.launch(s.site.node, s.kernel, `${s.summary}, on ${type} subgroup matrices`, [LANES, 1, 1]);
  const k = launch.k;
  k.useMatrices();
  const A = launch.readRows('a', s.a, s.K);
  const Ws = s.weights.map((w, j) => readWeightColumns(launch, `w${j}`, w, s.K, s.N, cols));
  const lane = builtin('local_x');
  const c0 = k.let('c0', mul(builtin('workgroup_x'), width));
  const slice = split && sliceRange(k, split, s.K);
  const { r0, rowsHere, matrix } = tileRows(launch, true);
  k.if(le(rowsHere, 0), (b) => b.return());

  // A lane fills column `ka` of the A tile in rows lane / 16, + 2, ...: 16 consecutive k of a row per half-warp.
  const ka = k.let('ka', mod(lane, MATRIX));
  const aRows = range(MATRIX / ROWS_PER_PASS).map((j) => {
    const m = k.let('am', add(div(lane, MATRIX), j * ROWS_PER_PASS));
    // A row past the real ones reads the last real row (in bounds) and stores zero.
    return { m, base: k.let('abase', A.base(add(r0, call('min', m, sub(rowsHere, 1))))) };
  });
  const aTile = k.array('a_tile', type, MATRIX * MATRIX, 'workgroup');
  const bTiles = Ws.map(() => k.array('b_tile', type, MATRIX * width, 'workgroup'));
  const left = k.matrix('left', 'left', type);
  const right = k.matrix('right', 'right', type);
  const results = Ws.map(() => range(fragments).map(() => k.matrix('acc', 'result', 'f32')));
  // A weight tile row is `width / cols` loads; the lanes take them in turn.
  const loadsPerRow = width / cols;
  k.for('k0', slice ? slice.from : 0, slice ? slice.to : s.K, (k0, b) => {
    for (const { m, base } of aRows) b.set(aTile, add(mul(m, MATRIX), ka), cast(type, select(lt(m, rowsHere), A.at(base, add(k0, ka)), f32(0))));
    Ws.forEach((W, w) =>
      range((MATRIX * loadsPerRow) / LANES).forEach((j) => {
        const item = add(lane, j * LANES);
        const kk = b.let('kk', div(item, loadsPerRow));
        const col = b.let('bc', mul(mod(item, loadsPerRow), cols));
        W.row(b, matrix, add(k0, kk), add(c0, col)).forEach((v, c) => b.set(bTiles[w]!, add(add(mul(kk, width), col), c), cast(type, v)));
      }),
    );
    b.barrier();
    b.matrixLoad(left, aTile, 0, MATRIX);
    results.forEach((fragment, w) =>
      fragment.forEach((acc, f) => {
        b.matrixLoad(right, bTiles[w]!, f * MATRIX, width);
        b.mma(acc, left, right);
      }),
    );
    b.barrier();
  }, MATRIX);

  // The result matrices through workgroup memory, then each lane stores elements lane, lane + 32, ...
  const cTiles = Ws.map(() => k.array('c_tile', 'f32', MATRIX * width, 'workgroup'));
  results.forEach((fragment, w) => fragment.forEach((acc, f) => k.matrixStore(acc, cTiles[w]!, f * MATRIX, width)));
  k.barrier();
  const store = (b: Block, put: Put) =>
    b.for('i', lane, MATRIX * width, (i, l) => {
      const m = l.let('m', div(i, width));
      l.if(lt(m, rowsHere), (r) => {
        const row = r.let('row', add(r0, m));
        const n = r.let('n', add(c0, mod(i, width)));
        put(r, row, n, Ws.map((W, w) => W.finish(r, matrix, n, cTiles[w]!.at(i))));
      });
    }, LANES);
  storeSlices(k, launch, split, slice, s.N, store, epilogueStore(launch, s, matrix));
  launch.dispatch(grid);
  if (split) emitSplitSum(pb, s, grid, split, width, 1, tileRows);
  return true;
}

/** One subgroup: a subgroup matrix belongs to one warp. */
const LANES = 32;
/** Rows of the A tile one pass of the lanes fills (16 k each). */
const ROWS_PER_PASS = LANES / MATRIX;
/** Result matrices per weight along N: 64 columns, 4 x 8 registers per lane for each weight. */
const MAX_FRAGMENTS = 4;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
