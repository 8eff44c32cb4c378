import { affine } from '../../ir/types.js';
import { add, builtin, div, eq, f32, ge, gt, i32, le, mul, select, tokens, type Block } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import type { Grid } from '../program.js';
import type { Launch } from './launch.js';
import type { MatmulSpec } from './matmul.js';
import { epilogueStore, type Put } from './product-tiles.js';
import type { ProgramBuilder } from './program-builder.js';
import type { TensorValue } from './values.js';

/**
 * Split-K for products with few rows (the schedule's `matmul.splitK`: the cuda schedule). At one
 * token a product has one workgroup per block of columns and expert: a few hundred at most,
 * too few to keep a GPU's memory system busy while each lane walks all of K. Run at most
 * `tokens` tokens, the product's k range is cut into `slices` equal parts, one workgroup each
 * (the grid's z): each stores its finished partial sums in a workspace, and a second kernel
 * adds a column's slices in increasing order, then applies the epilogue. Deterministic: no
 * atomics, one fixed order of sums (not k ascending, so results differ from an unsplit
 * product's in the last bits, within the f32 tolerance). Past `tokens` tokens the grid is
 * large enough: the product runs whole (one slice, storing through the epilogue) and the second
 * kernel returns at once; both decide from the token count on the device, so one launch
 * sequence serves every token count.
 */
export interface SplitK {
  slices: number;
  /** Split only when the run has at most this many tokens. */
  tokens: number;
  /** Rows the workspace holds per slice: the product's rows at `tokens` tokens. */
  rows: number;
  /** Finished partial sums [weights, slices, rows, N] (f32). */
  partial: TensorValue;
}

/** The fewest k values a slice may have (small enough that test-sized models split too). */
const MIN_SPAN = 4;

/** How the product splits its k range (undefined: it does not), with slices a multiple of `step` k values each. */
export function planSplitK(pb: ProgramBuilder, s: MatmulSpec, step: number): SplitK | undefined {
  const want = pb.schedule.matmul.splitK;
  if (!want) return undefined;
  let slices = 1;
  while (slices * 2 <= want.slices && s.K % (slices * 2 * step) === 0 && s.K / (slices * 2) >= MIN_SPAN) slices *= 2;
  if (slices === 1) return undefined;
  const { a, b } = affine(s.rows);
  const rows = a * want.tokens + b;
  const partial = pb.workspace(`${s.site.name}_split${pb.dispatches.length}`, 'f32', [s.weights.length * slices * rows * s.N], s.site.node);
  return { slices, tokens: want.tokens, rows, partial };
}

/**
 * In the product kernel: how many slices this run uses (1 past `tokens` tokens) and this
 * workgroup's k range; workgroups past the slices in use return (uniformly: z is the workgroup's).
 */
export function sliceRange(k: Block, split: SplitK, K: number): { slices: Expr; from: Expr; to: Expr } {
  const slices = k.let('slices', select(le(tokens, split.tokens), i32(split.slices), i32(1)));
  const z = builtin('workgroup_z');
  k.if(ge(z, slices), (b) => b.return());
  const span = k.let('span', div(i32(K), slices));
  const from = k.let('k_from', mul(z, span));
  return { slices, from, to: add(from, span) };
}

/** Where weight w's partial sum of slice z for (row, n) lies in the workspace. */
export function partialIndex(split: SplitK, N: number, w: number, z: Expr, row: Expr, n: Expr): Expr {
  return add(mul(add(mul(add(mul(i32(w), split.slices), z), split.rows), row), N), n);
}

/** The product kernel's store when it split: finished sums into the workspace, epilogue left to the second kernel. */
export function storePartial(launch: Launch, split: SplitK, N: number): (l: Block, row: Expr, n: Expr, sums: Expr[]) => void {
  const p = launch.write('partial', split.partial);
  return (l, row, n, sums) => sums.forEach((v, w) => l.store(p, partialIndex(split, N, w, builtin('workgroup_z'), row, n), v));
}

/**
 * A product kernel's stores, through `store(block, put)`: when it split, a branch on the slices
 * this run uses: one slice (many tokens) stores through `epilogue`, several leave their finished
 * sums for the second kernel.
 */
export function storeSlices(k: Block, launch: Launch, split: SplitK | undefined, slice: { slices: Expr } | undefined, N: number, store: (b: Block, put: Put) => void, epilogue: Put): void {
  if (split && slice) k.if(eq(slice.slices, 1), (b) => store(b, epilogue), (b) => store(b, storePartial(launch, split, N)));
  else store(k, epilogue);
}

/** The tile of rows a workgroup of a product covers: its first row, how many are real, and (grouped, when it reads `weights`) the expert's matrix. */
export type TileRows = (launch: Launch, weights: boolean) => { r0: Expr; rowsHere: Expr; matrix?: Expr };

/**
 * The second kernel: on the product's grid, workgroup (x, y, z) adds the slices of its
 * columns for rows z, z + slices, ... of its tile, in slice order, and stores the epilogue.
 */
export function emitSplitSum(pb: ProgramBuilder, s: MatmulSpec, grid: Grid, split: SplitK, lanes: number, cols: number, tile: TileRows): void {
  const launch = pb.launch(s.site.node, `${s.kernel}_sum`, `${s.summary}: the sum of its k slices, in order`, [lanes, 1, 1]);
  const k = launch.k;
  const groups = s.N / cols;
  k.if(gt(tokens, split.tokens), (b) => b.return());
  const g = k.let('n', add(mul(builtin('workgroup_x'), lanes), builtin('local_x')));
  k.if(ge(g, groups), (b) => b.return());
  const column = cols === 1 ? g : k.let('c0', mul(g, cols));
  const { r0, rowsHere, matrix } = tile(launch, Boolean(s.biases?.some(Boolean)));
  const partial = launch.read('partial', split.partial);
  const put = epilogueStore(launch, s, matrix);
  k.for('m', builtin('workgroup_z'), rowsHere, (m, l) => {
    const row = l.let('row', add(r0, m));
    for (let c = 0; c < cols; c++) {
      const n = c === 0 ? column : l.let('n', add(column, c));
      const sums = s.weights.map((_, w) => {
        const acc = l.var('acc', f32(0));
        l.for('z', 0, split.slices, (z) => acc.set(add(acc.get, partial(partialIndex(split, s.N, w, z, row, n)))));
        return acc.get;
      });
      put(l, row, n, sums);
    }
  }, split.slices);
  launch.dispatch(grid);
}
