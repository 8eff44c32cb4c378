import type { Op } from '../../ir/ops.js';
import { affine, type Dim, type TensorType } from '../../ir/types.js';
import { add, ge, i32, mul, type ArrayRef, type Block } from '../build.js';
import type { Expr, Scalar } from '../kernel-ir.js';
import { grid1, type Launch, threadIndex } from './launch.js';
import type { ProgramBuilder } from './program-builder.js';
import { dimExpr, type TensorValue, type Value } from './values.js';
import type { Node } from '../../ir/graph.js';

/**
 * Row fusion: a chain of row-wise ops runs as one kernel with one invocation per row. Each op
 * reads its operands' rows and writes its own row into a private array (or, for the chain's
 * last op, straight into the output buffer); so the gate matmul, scoring, selection and
 * weighting of a router are one dispatch and their intermediates never touch memory.
 */

/** One row of a value: `len` entries, read by index. */
export interface RowVec {
  len: number;
  type: Scalar;
  get(i: Expr): Expr;
}

/** Where an op writes its row. */
export interface RowSink extends RowVec {
  set(b: Block, i: Expr, v: Expr): void;
}

/** An operand as a row op sees it: its row (when it has one per row) and flat access to all of it. */
export interface RowArg {
  row?: RowVec;
  /** Element at a flat index of the whole tensor (weights, biases). */
  flat: (i: Expr) => Expr;
  /** Static dims (the row dim, if any, as -1). */
  dims: number[];
}

export interface RowCx {
  b: Block;
  /** This invocation's row. */
  r: Expr;
}

export type RowEmitter = (cx: RowCx, args: RowArg[], attrs: never, out: RowSink) => void;

/** One op of a row chain: operands index the chain's inputs, then earlier items. */
export interface RowItem {
  op: Op;
  attrs: unknown;
  type: TensorType;
  src: number[];
}

const rowsOf = (t: TensorType): Dim => t.shape[0]!;
const rowLength = (t: TensorType): number => (t.shape.length === 1 ? 1 : Number(t.shape[t.shape.length - 1]));
const elementOf = (t: TensorType): Scalar => (t.dtype === 'i32' ? 'i32' : 'f32');

/**
 * Emit one kernel computing `items` row by row. `inputs` are the chain's operands; `outputs`
 * names, per item index, the tensor to store that item's row into (the rest stay private).
 */
export function emitRowKernel(pb: ProgramBuilder, node: Node, name: string, summary: string, items: RowItem[], inputs: Value[], outputs: Map<number, TensorValue>, emitters: Partial<Record<Op, RowEmitter>>): void {
  const launch = pb.launch(node, name, summary, [pb.schedule.rows, 1, 1]);
  const k = launch.k;
  const rows = rowsOf(items[items.length - 1]!.type);
  const r = k.let('r', threadIndex(pb.schedule.rows));
  k.if(ge(r, dimExpr(rows)), (b) => b.return());
  const args: RowArg[] = inputs.map((v, i) => inputArg(launch, `in${i}`, v, r, rows));
  items.forEach((item, j) => {
    const emit = emitters[item.op];
    if (!emit) throw new Error(`internal: no row kernel for ${item.op}`);
    const out = outputs.get(inputs.length + j);
    const len = rowLength(item.type);
    const sink = out ? bufferSink(launch, `out${j}`, out, r, len) : arraySink(k.array('v', elementOf(item.type), len), len);
    emit({ b: k, r }, item.src.map((s) => args[s]!), item.attrs as never, sink);
    args.push({ row: sink, flat: () => i32(0), dims: [-1, len] });
  });
  launch.dispatch(grid1(affine(rows), pb.schedule.rows));
}

function inputArg(launch: Launch, param: string, v: Value, r: Expr, rows: Dim): RowArg {
  if (v.kind === 'route') throw new Error('internal: a route operand in a row kernel');
  const flat = launch.read(param, v);
  const dims = v.shape.map((d) => (typeof d === 'number' ? d : -1));
  if (v.shape[0] !== rows) return { flat, dims };
  const len = v.shape.length === 1 ? 1 : Number(v.shape[v.shape.length - 1]);
  const base = mul(r, len);
  return { row: { len, type: v.kind === 'tensor' ? v.element : 'f32', get: (i) => flat(add(base, i)) }, flat, dims };
}

function bufferSink(launch: Launch, param: string, v: TensorValue, r: Expr, len: number): RowSink {
  const p = launch.write(param, v);
  const base = mul(r, len);
  const at = (i: Expr) => add(base, i);
  return { len, type: v.element, get: (i) => ({ k: 'load', type: v.element, buffer: p, index: at(i) }), set: (b, i, value) => b.store(p, at(i), value) };
}

function arraySink(a: ArrayRef, len: number): RowSink {
  return { len, type: a.type, get: (i) => a.at(i), set: (b, i, value) => b.set(a, i, value) };
}
