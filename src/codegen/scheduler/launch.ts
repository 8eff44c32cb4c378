import type { Node } from '../../ir/graph.js';
import { add, affineExpr, bitAnd, builtin, cast, div, ge, gt, KernelBuilder, load, mod, mul, select, shr, sub } from '../build.js';
import type { Expr, Scalar } from '../kernel-ir.js';
import type { Affine, Grid } from '../program.js';
import type { ProgramBuilder } from './program-builder.js';
import { decodeStored } from './stored.js';
import { elements, type QuantizedValue, type Value, type TensorValue } from './values.js';

/** One kernel being built for one dispatch: binds values to params and records the bindings. */
export class Launch {
  readonly k: KernelBuilder;
  private readonly bindings: string[] = [];

  constructor(
    private readonly program: ProgramBuilder,
    private readonly node: Node,
    name: string,
    summary: string,
    workgroup: readonly [number, number, number],
  ) {
    this.k = new KernelBuilder(name, summary, workgroup);
  }

  private bind(param: string, buffer: string, element: Scalar, access: 'read' | 'read_write'): string {
    this.k.buffer(param, element, access);
    this.bindings.push(buffer);
    return param;
  }

  /** Bind a value for reading; returns its element at a flat index (quantised weights dequantised, as f32). */
  read(param: string, v: Value): (index: Expr) => Expr {
    if (v.kind === 'route') throw new Error(`internal: read a route as ${param}; bind its ids and weights`);
    if (v.kind === 'tensor') return this.stored(param, v, v.offset ?? 0, elements(v.shape).b / (v.packing ?? 1));
    if (v.kind === 'gathered') {
      const x = this.read(param, v.x);
      const perm = this.read(`${param}_perm`, v.perm);
      const d = Number(v.shape[1]);
      return (i) => {
        const source = perm(div(i, d));
        return select(ge(source, 0), x(add(mul(select(ge(source, 0), source, 0), d), mod(i, d))), 0);
      };
    }
    const [inDim, outDim] = [Number(v.shape[v.shape.length - 2]), Number(v.shape[v.shape.length - 1])];
    const value = this.readQuantized(param, v);
    // Scales are per output column of each stacked matrix: [..., out].
    const scales = this.read(`${param}_scale`, quantizedScales(v));
    return (i) => mul(cast('f32', value(i)), scales(add(mul(div(i, inDim * outDim), outDim), mod(i, outDim))));
  }

  /** Bind a quantised weight's stored values; returns value i (an i32), not yet scaled. */
  readQuantized(param: string, v: QuantizedValue): (index: Expr) => Expr {
    const packing = v.bits === 4 ? 2 : 1;
    // Views start at a whole matrix: values at logical / packing.
    const q = this.stored(`${param}_q`, v.q, (v.offset ?? 0) / packing, elements(v.shape).b / packing);
    if (v.bits === 8) return q;
    return (i) => {
      // Two signed nibbles per stored byte, low nibble first.
      const nibble = bitAnd(shr(q(div(i, 2)), mul(mod(i, 2), 4)), 15);
      return select(gt(nibble, 7), sub(nibble, 16), nibble);
    };
  }

  /**
   * Bind `count` stored elements of a tensor from `offset` (a weight binds the buffer or chunk
   * holding them); returns stored element i, relative to `offset`, decoded when the tensor is
   * kept as stored.
   */
  private stored(param: string, v: TensorValue, offset: number, count: number): (index: Expr) => Expr {
    const { p, first } = this.bindStored(param, v, offset, count);
    const index = (i: Expr) => (first ? add(i, first) : i);
    const { encoding } = v;
    if (encoding) return (i) => decodeStored(encoding, (w) => load(p, 'u32', w), index(i));
    return (i) => load(p, v.element, index(i));
  }

  /**
   * Bind the buffer (or chunk) holding `count` stored elements of a tensor from `offset`:
   * its param (u32 words when the tensor is kept as stored) and where element `offset` lies in it.
   */
  bindStored(param: string, v: TensorValue, offset: number, count: number): { p: string; first: number } {
    const at = this.program.weightBinding(v.buffer, offset, count);
    return { p: this.bind(param, at.buffer, v.encoding ? 'u32' : v.element, 'read'), first: at.offset };
  }

  /**
   * Bind a matrix [rows, width] for reading row by row: `base(row)` is computed once per row
   * (through the permutation for a gathered value), `at(base, k)` per element. Only real
   * rows may be asked for: a gathered padding row has no source.
   */
  readRows(param: string, v: Value, width: number): { base: (row: Expr) => Expr; at: (base: Expr, k: Expr) => Expr } {
    if (v.kind === 'gathered') {
      const x = this.read(param, v.x);
      const perm = this.read(`${param}_perm`, v.perm);
      return { base: (row) => mul(perm(row), width), at: (base, k) => x(add(base, k)) };
    }
    const flat = this.read(param, v);
    return { base: (row) => mul(row, width), at: (base, k) => flat(add(base, k)) };
  }

  /** Reads of extra values for a matmul's epilogue: each param bound once, however often it is asked for. */
  binder(): (param: string, v: Value) => (index: Expr) => Expr {
    const bound = new Map<string, (index: Expr) => Expr>();
    return (param, v) => bound.get(param) ?? bound.set(param, this.read(param, v)).get(param)!;
  }

  /** Bind a tensor for writing (and reading back); returns the param name for stores. */
  write(param: string, v: TensorValue): string {
    return this.bind(param, v.buffer, v.element, 'read_write');
  }

  dispatch(grid: Grid): void {
    this.program.dispatch(this.k.finish(), this.bindings, grid, this.node);
  }
}

/**
 * Workgroups per row of a folded one-dimensional grid. WebGPU allows 65535 workgroups along an
 * axis; an elementwise kernel over T·18432 values needs more, so grids of one invocation per
 * item run FOLD workgroups wide and as many rows as needed.
 */
const FOLD = 32768;

/** Enough workgroups of `per` invocations for `threads` (affine) invocations, folded onto x and y. */
export function grid1(threads: Affine, per: number): Grid {
  return { kind: 'direct', x: { ...threads, per, max: FOLD }, y: { ...threads, per: per * FOLD }, z: { a: 0, b: 1, per: 1 } };
}

/** The invocation's index in a grid1 grid of `per`-wide workgroups. */
export function threadIndex(per: number): Expr {
  return add(builtin('global_x'), mul(builtin('global_y'), per * FOLD));
}

/** The workgroup's index in a grid1 grid of one item per workgroup (`per` = 1). */
export function workgroupIndex(): Expr {
  return add(builtin('workgroup_x'), mul(builtin('workgroup_y'), FOLD));
}

/**
 * A kernel with one invocation per item: `threads` items (affine in T) on a folded grid of
 * `per`-wide workgroups. `body` builds what item `t` does; invocations past the end return.
 */
export function perThread(pb: ProgramBuilder, node: Node, name: string, summary: string, threads: Affine, per: number, body: (launch: Launch, t: Expr) => void): void {
  const launch = pb.launch(node, name, summary, [per, 1, 1]);
  const t = launch.k.let('t', threadIndex(per));
  launch.k.if(ge(t, affineExpr(threads.a, threads.b)), (b) => b.return());
  body(launch, t);
  launch.dispatch(grid1(threads, per));
}

/** A quantised weight view's scales, one per output column of each of its matrices. */
export function quantizedScales(v: QuantizedValue): TensorValue {
  const [inDim, outDim] = [Number(v.shape[v.shape.length - 2]), Number(v.shape[v.shape.length - 1])];
  return { ...v.scale, offset: ((v.offset ?? 0) / (inDim * outDim)) * outDim, shape: [elements(v.shape).b / inDim] };
}
