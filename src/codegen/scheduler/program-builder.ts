import { STORED_BYTES, type Encoding } from './stored.js';
import type { Node } from '../../ir/graph.js';
import type { Dim } from '../../ir/types.js';
import { MATRIX, type Kernel, type Scalar } from '../kernel-ir.js';
import type { Affine, Arithmetic, BufferDecl, BufferRole, Dispatch, Grid } from '../program.js';
import type { Schedule } from '../schedule.js';
import { Launch } from './launch.js';
import type { Site } from './site.js';
import { elements, type TensorValue, type Value } from './values.js';

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
   * The real row tiles of every expert, in expert order: record t of `table` ([tiles, 3]) is
   * the tile's expert, its first permuted row and how many of its at most `rows` rows are real;
   * start[e] is expert e's first tile (start[E]: the total). Grouped matmuls run one workgroup
   * row per tile of their experts, through an indirect grid, and read only the table (one
   * binding: WebGPU allows as few as 8 storage buffers per kernel).
   */
  tiles: { rows: number; table: TensorValue; start: TensorValue };
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

  constructor(
    readonly schedule: Schedule,
    readonly arithmetic: Arithmetic = 'f32',
  ) {
    if (arithmetic === 'bf16' && !schedule.matmul.tensorCores) throw new Error(`internal: bf16 arithmetic under the ${schedule.name} schedule, which has no tensor cores`);
  }

  /** Products run on subgroup matrices: the schedule has tensor cores and the arithmetic is 16-bit. */
  get matrices(): boolean {
    return Boolean(this.schedule.matmul.tensorCores) && this.arithmetic !== 'f32';
  }

  /** Rows of a grouped product's tile: a subgroup matrix's under tensor cores, the schedule's otherwise. */
  get matmulRows(): number {
    return this.matrices ? MATRIX : this.schedule.matmul.rows;
  }

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
  private readonly weightTensors = new Map<string, { source: string; element: Scalar; count: number; node: number; encoding?: Encoding }>();
  private readonly declared = new Set<string>();

  /**
   * A weight tensor of `count` stored elements, each widened to one 32-bit `element`, or with
   * an `encoding` kept as the file's bytes in u32 words; its buffer appears when a kernel first
   * binds it.
   */
  weight(buffer: string, source: string, element: Scalar, count: number, node: Node, encoding?: Encoding): void {
    this.weightTensors.set(buffer, { source, element: encoding ? 'u32' : element, count, node: node.id, ...(encoding ? { encoding } : {}) });
  }

  /**
   * The buffer to bind for `count` stored elements of a weight from `offset`, and the offset to
   * read at: the whole tensor when it fits the binding limit, else a buffer holding just those
   * elements (a chunk of whole experts). Other buffers bind as they are.
   */
  weightBinding(buffer: string, offset: number, count: number): { buffer: string; offset: number } {
    const w = this.weightTensors.get(buffer);
    if (!w) return { buffer, offset };
    const bytesPer = w.encoding ? STORED_BYTES[w.encoding] : 4;
    const words = (n: number) => Math.ceil((n * bytesPer) / 4);
    const whole = words(w.count) * 4 <= this.schedule.maxBindingBytes || (offset === 0 && count === w.count);
    // A chunk starts on a word: packed elements before `offset` in its first word come along.
    const start = whole ? 0 : offset - (offset % (4 / bytesPer));
    const stored = whole ? w.count : offset + count - start;
    const name = whole ? buffer : `${buffer}_${offset}_${count}`;
    if (!this.declared.has(name)) {
      this.declared.add(name);
      const range = whole ? {} : { sourceRange: { offset: start, count: stored } };
      this.buffer(name, 'weight', w.element, { a: 0, b: words(stored) }, { source: w.source, node: w.node, ...(w.encoding ? { stored: w.encoding } : {}), ...range });
    }
    return whole ? { buffer, offset } : { buffer: name, offset: offset - start };
  }

  /** A buffer of i32 constants, one per distinct list of values. */
  constant(values: readonly number[]): TensorValue {
    const name = `const_${values.join('_').replace(/-/g, 'm')}`;
    if (!this.declared.has(name)) {
      this.declared.add(name);
      this.buffer(name, 'constant', 'i32', { a: 0, b: values.length }, { data: [...values] });
    }
    return { kind: 'tensor', buffer: name, element: 'i32', shape: [values.length] };
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
