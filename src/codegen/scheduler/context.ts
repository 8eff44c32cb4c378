import type { Node } from '../../ir/graph.js';
import { affine, type Dim } from '../../ir/types.js';
import { add, affineExpr, bitAnd, builtin, cast, div, KernelBuilder, load, mod, mul, select, shr, sub, gt, ge } from '../build.js';
import type { Expr, Kernel, Scalar } from '../kernel-ir.js';
import type { Affine, BufferDecl, BufferRole, Dispatch, Grid } from '../program.js';
import type { Schedule } from '../schedule.js';
import type { Site } from './site.js';

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
}
export interface QuantizedValue {
  kind: 'quantized';
  q: string;
  scale: string;
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
  return { kind: 'quantized', q: q.buffer, scale: scale.buffer, bits, shape, ...(offset ? { offset } : {}) };
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
    if (v.kind === 'tensor') {
      const stored = elements(v.shape).b / (v.packing ?? 1);
      const at = this.program.weightBinding(v.buffer, v.offset ?? 0, stored);
      const p = this.bind(param, at.buffer, v.element, 'read');
      return (i) => load(p, v.element, at.offset ? add(i, at.offset) : i);
    }
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
    const packing = v.bits === 4 ? 2 : 1;
    const logical = v.offset ?? 0;
    const count = elements(v.shape).b;
    // Views start at a whole matrix: values at logical / packing, scales at (matrix · out).
    const qAt = this.program.weightBinding(v.q, logical / packing, count / packing);
    const sAt = this.program.weightBinding(v.scale, (logical / (inDim * outDim)) * outDim, count / inDim);
    const q = this.bind(`${param}_q`, qAt.buffer, 'i32', 'read');
    const s = this.bind(`${param}_scale`, sAt.buffer, 'f32', 'read');
    return (i) => {
      // Scales are per output column of each stacked matrix: [..., out].
      const scale = load(s, 'f32', add(add(mul(div(i, inDim * outDim), outDim), mod(i, outDim)), sAt.offset));
      let value: Expr;
      if (v.bits === 8) value = load(q, 'i32', add(i, qAt.offset));
      else {
        // Two signed nibbles per stored byte, low nibble first.
        const nibble = bitAnd(shr(load(q, 'i32', add(div(i, 2), qAt.offset)), mul(mod(i, 2), 4)), 15);
        value = select(gt(nibble, 7), sub(nibble, 16), nibble);
      }
      return mul(cast('f32', value), scale);
    };
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

/** Where each (row, slot) of a route landed in the permuted rows, and back. */
export interface Placement {
  perm: TensorValue;
  inverse: TensorValue;
  /** The flat (row · slots + slot) index each permuted row came from, -1 for padding. */
  slotOf: TensorValue;
  counts: TensorValue;
  offsets: TensorValue;
  block: number;
  /**
   * The real row tiles of every expert, in expert order: tile t covers `rows` rows of expert
   * expert[t] from row[t]; start[e] is expert e's first tile (start[E]: the total). Grouped
   * matmuls run one workgroup row per tile of their experts, through an indirect grid.
   */
  tiles: { rows: number; expert: TensorValue; row: TensorValue; start: TensorValue };
}

/** Collects buffers, deduplicated kernels and dispatches in order. */
export class ProgramBuilder {
  readonly buffers: BufferDecl[] = [];
  readonly kernels: Kernel[] = [];
  readonly dispatches: Dispatch[] = [];
  private readonly kernelByBody = new Map<string, string>();
  private readonly names = new Set<string>();

  /** The device value of every scheduled graph node. */
  readonly values = new Map<Node, Value>();
  /** What a reader of the program should know (fused kernels that run op by op, and why), with the nodes it concerns. */
  private readonly notes = new Map<string, number[]>();
  /** Buffers the dispatch kernel of a reroute writes, by the offsets node they belong to. */
  readonly placements = new Map<Node, Placement>();

  constructor(readonly schedule: Schedule) {}

  /** A fresh activation buffer for a site's result. */
  output(site: Site, element: Scalar = site.type.dtype === 'i32' ? 'i32' : 'f32', shape: readonly Dim[] = site.type.shape): TensorValue {
    this.buffer(site.name, 'activation', element, elements(shape), { node: site.node.id });
    return { kind: 'tensor', buffer: site.name, element, shape };
  }

  /** Scratch memory a kernel needs beyond its result. */
  workspace(name: string, element: Scalar, shape: readonly Dim[], node: Node): TensorValue {
    this.buffer(name, 'workspace', element, elements(shape), { node: node.id });
    return { kind: 'tensor', buffer: name, element, shape };
  }

  note(text: string, node: Node): void {
    this.notes.set(text, [...(this.notes.get(text) ?? []), node.id]);
  }

  /** One line per distinct note, naming where it applies. */
  finishNotes(): string[] {
    return [...this.notes].map(([text, ids]) => `${text} (${ids.length === 1 ? `%${ids[0]}` : `${ids.length} times: %${ids.slice(0, 3).join(', %')}${ids.length > 3 ? ', ...' : ''}`})`);
  }

  valueOf(n: Node): Value {
    const v = this.values.get(n);
    if (!v) throw new Error(`internal: %${n.id} (${n.op}) has no device value yet`);
    return v;
  }

  /** Weight tensors, declared as buffers only when a kernel binds them (whole, or in chunks). */
  private readonly weightTensors = new Map<string, { source: string; element: Scalar; count: number; node: number }>();
  private readonly declared = new Set<string>();

  /** A weight tensor of `count` stored elements; its buffer appears when a kernel first binds it. */
  weight(buffer: string, source: string, element: Scalar, count: number, node: Node): void {
    this.weightTensors.set(buffer, { source, element, count, node: node.id });
  }

  /**
   * The buffer to bind for `count` stored elements of a weight from `offset`, and the offset to
   * read at: the whole tensor when it fits the binding limit, else a buffer holding just those
   * elements (a chunk of whole experts). Other buffers bind as they are.
   */
  weightBinding(buffer: string, offset: number, count: number): { buffer: string; offset: number } {
    const w = this.weightTensors.get(buffer);
    if (!w) return { buffer, offset };
    const whole = w.count * 4 <= this.schedule.maxBindingBytes || (offset === 0 && count === w.count);
    const name = whole ? buffer : `${buffer}_${offset}_${count}`;
    if (!this.declared.has(name)) {
      this.declared.add(name);
      this.buffer(name, 'weight', w.element, { a: 0, b: whole ? w.count : count }, { source: w.source, node: w.node, ...(whole ? {} : { sourceRange: { offset, count } }) });
    }
    return whole ? { buffer, offset } : { buffer: name, offset: 0 };
  }

  buffer(name: string, role: BufferRole, element: Scalar, count: Affine, extra: Partial<BufferDecl> = {}): TensorValue & { decl: BufferDecl } {
    const decl: BufferDecl = { name, role, element, bytes: { a: count.a * 4, b: count.b * 4 }, slot: -1, ...extra };
    this.buffers.push(decl);
    return { kind: 'tensor', buffer: name, element, shape: [], decl };
  }

  launch(node: Node, name: string, summary: string, workgroup: readonly [number, number, number]): Launch {
    return new Launch(this, node, name, summary, workgroup);
  }

  /** Identical kernels (same body, params and workgroup) are emitted once and dispatched many times. */
  dispatch(kernel: Kernel, bindings: string[], grid: Grid, node: Node): void {
    const key = JSON.stringify({ ...kernel, name: '' });
    let name = this.kernelByBody.get(key);
    if (!name) {
      name = kernel.name;
      for (let n = 1; this.names.has(name); n++) name = `${kernel.name}_${n}`;
      this.names.add(name);
      this.kernelByBody.set(key, name);
      this.kernels.push({ ...kernel, name });
    }
    this.dispatches.push({ kernel: name, bindings, grid, node: node.id });
  }
}

