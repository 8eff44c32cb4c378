import { affine } from '../../ir/types.js';
import { add, builtin, call, i32, le, mul, select, sub, tokens, type Block } from '../build.js';
import type { Expr } from '../kernel-ir.js';
import type { Grid, GridDim } from '../program.js';
import type { Launch } from './launch.js';
import type { MatmulSpec } from './matmul.js';
import type { ProgramBuilder } from './program-builder.js';
import type { SplitK, TileRows } from './split-k.js';
import { dimExpr } from './values.js';

/**
 * Where a product's workgroups lie: a direct grid of column blocks (x), tiles of M rows (y) and
 * k slices (z) for a dense product; for a grouped one, exactly one workgroup row per real tile
 * of its experts, from an indirect grid a one-invocation kernel writes. Every product template
 * (matmul.ts, matmul-matrices.ts) shares it, and `tileRows` tells a workgroup its rows.
 */
export function productTiles(pb: ProgramBuilder, s: MatmulSpec, x: GridDim, columnsPerWorkgroup: number, M: number, split: SplitK | undefined): { grid: Grid; tileRows: TileRows } {
  if (!s.grouped) {
    const grid: Grid = { kind: 'direct', x, y: { ...affine(s.rows), per: M }, z: { a: 0, b: split?.slices ?? 1, per: 1 } };
    return {
      grid,
      tileRows: (l) => {
        const r0 = l.k.let('r0', mul(builtin('workgroup_y'), M));
        return { r0, rowsHere: l.k.let('m_end', call('min', i32(M), sub(dimExpr(s.rows), r0))) };
      },
    };
  }
  const buffer = emitGridArgs(pb, s, columnsPerWorkgroup, split);
  const { table: tiles } = s.grouped.placement.tiles;
  return {
    grid: { kind: 'indirect', buffer, offset: 0 },
    // The range of experts comes from the grid record, not the kernel: one kernel serves every
    // chunk and every layer of the same shape.
    tileRows: (l, weights) => {
      const record = l.read('grid', { kind: 'tensor', buffer, element: 'i32', shape: [GRID_RECORD] });
      const table = l.read('tiles', tiles);
      const tile = l.k.let('tile', mul(add(record(i32(3)), builtin('workgroup_y')), 3));
      const e = weights ? l.k.let('e', table(tile)) : undefined;
      const r0 = l.k.let('r0', table(add(tile, 1)));
      const rowsHere = l.k.let('m_end', table(add(tile, 2)));
      return { r0, rowsHere, ...(e ? { matrix: l.k.let('we', sub(e, record(i32(4)))) } : {}) };
    },
  };
}

/** Stores a finished (row, n) element of a product, given each weight's finished sum. */
export type Put = (l: Block, row: Expr, n: Expr, sums: Expr[]) => void;

/**
 * The store every product template ends in: each weight's bias at column n added to its
 * finished sum (of matrix `matrix` of a grouped product's biases [count, N], the tile's expert
 * as tileRows gives it, or of a dense one's [N]), after the quantised scale and before the
 * epilogue (x·W + b, then the activation or the routing weight), then the epilogue's value
 * stored in the output. Binds the output, the biases, and what the epilogue reads.
 */
export function epilogueStore(launch: Launch, s: MatmulSpec, matrix: Expr | undefined): Put {
  const bind = launch.binder();
  const o = launch.write('out', s.out);
  const biases = (s.biases ?? []).map((b, w) => b && launch.read(`b${w}`, b));
  const biased = (n: Expr, sums: Expr[]) => sums.map((sum, w) => (biases[w] ? add(sum, biases[w]!(matrix ? add(mul(matrix, s.N), n) : n)) : sum));
  return (l, row, n, sums) => l.store(o, add(mul(row, s.N), n), s.epilogue(biased(n, sums), row, bind, n));
}

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
