import type { Op } from '../../ir/ops.js';
import { affine, type Dim, type TensorType } from '../../ir/types.js';
import { add, builtin, eq, ge, i32, mul, type ArrayRef, type Block } from '../build.js';
import type { Expr, Scalar } from '../kernel-ir.js';
import { grid1, type Launch, threadIndex, workgroupIndex } from './launch.js';
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
  /**
   * Invocations that share the row: 1, or a subgroup of `lanes` lanes (the workgroup) that all
   * run every op, lane `lane` taking entries lane, lane + lanes, ... and reductions combining
   * the lanes' partial results by subgroup operations.
   */
  lanes: number;
  lane: Expr;
}

/** One invocation per row: what a row op sees when it runs alone (or on one lane of a subgroup). */
const alone = (b: Block, r: Expr): RowCx => ({ b, r, lanes: 1, lane: i32(0) });

/** `body` for every entry i of a row this lane takes: all of them, or every lanes-th from its own. */
export function each(cx: RowCx, hint: string, len: number, body: (i: Expr, b: Block) => void): void {
  cx.b.for(hint, cx.lanes === 1 ? 0 : cx.lane, len, body, cx.lanes);
}

/**
 * A reduction over a row's entries, as a value every lane holds: `step` folds entry i into the
 * running value (for the entries `when` admits, if given); the lanes' partial results combine
 * by the subgroup op `across`. With one lane it is the plain loop, in index order.
 */
export function reduce(cx: RowCx, hint: string, init: Expr, len: number, step: (acc: Expr, i: Expr, b: Block) => Expr, across: 'sum' | 'max', when?: (i: Expr) => Expr, loop = 'i'): Expr {
  const acc = cx.b.var(hint, init);
  each(cx, loop, len, (i, b) => (when ? b.if(when(i), (t) => acc.set(step(acc.get, i, t))) : acc.set(step(acc.get, i, b))));
  return cx.lanes === 1 ? acc.get : cx.b.let(hint, { k: 'subgroup', type: init.type, op: across, a: acc.get });
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
 *
 * Under a schedule with `rowLanes` > 1 a subgroup of that many lanes (the workgroup) shares
 * each row: ops that take entries by lane (`serial` lists those that do not; they run on lane
 * 0) write their rows into workgroup arrays, with a barrier after each op, and a row that is
 * stored and read again in the chain goes to its buffer from the array.
 */
export function emitRowKernel(pb: ProgramBuilder, node: Node, name: string, summary: string, items: RowItem[], inputs: Value[], outputs: Map<number, TensorValue>, emitters: Partial<Record<Op, RowEmitter>>, serial: ReadonlySet<Op> = new Set()): void {
  const lanes = laneCount(pb, items, inputs.length, outputs);
  const launch = pb.launch(node, name, lanes === 1 ? summary : summary.replace('one invocation per row', 'one subgroup per row'), [lanes === 1 ? pb.schedule.rows : lanes, 1, 1]);
  const k = launch.k;
  const rows = rowsOf(items[items.length - 1]!.type);
  // One row per invocation, or per workgroup when its lanes share the row.
  const r = k.let('r', lanes === 1 ? threadIndex(pb.schedule.rows) : workgroupIndex());
  k.if(ge(r, dimExpr(rows)), (b) => b.return());
  const args: RowArg[] = inputs.map((v, i) => inputArg(launch, `in${i}`, v, r, rows));
  const lane = builtin('local_x');
  if (lanes > 1) k.useSubgroups();
  items.forEach((item, j) => {
    const emit = emitters[item.op];
    if (!emit) throw new Error(`internal: no row kernel for ${item.op}`);
    const index = inputs.length + j;
    const out = outputs.get(index);
    const len = rowLength(item.type);
    const readLater = items.slice(j + 1).some((later) => later.src.includes(index));
    const direct = out && (lanes === 1 || !readLater);
    const sink = direct ? bufferSink(launch, `out${j}`, out, r, len) : arraySink(k.array('v', elementOf(item.type), len, lanes === 1 ? 'private' : 'workgroup'), len);
    const operands = item.src.map((s) => args[s]!);
    if (lanes === 1) emit(alone(k, r), operands, item.attrs as never, sink);
    else if (serial.has(item.op)) k.if(eq(lane, 0), (b) => emit(alone(b, r), operands, item.attrs as never, sink));
    else emit({ b: k, r, lanes, lane }, operands, item.attrs as never, sink);
    // A barrier before anything reads what other lanes wrote (nothing does after a last op stored directly).
    if (lanes > 1 && (j < items.length - 1 || !direct)) {
      k.barrier();
      if (out && !direct) {
        const stored = bufferSink(launch, `out${j}`, out, r, len);
        each({ b: k, r, lanes, lane }, 'i', len, (i, b) => stored.set(b, i, sink.get(i)));
      }
    }
    args.push({ row: sink, flat: () => i32(0), dims: [-1, len] });
  });
  launch.dispatch(lanes === 1 ? grid1(affine(rows), pb.schedule.rows) : grid1(affine(rows), 1));
}

/** Shared workgroup memory a row kernel may use for its rows (CUDA's static limit is 48 KiB). */
const SHARED_ROW_BYTES = 32 * 1024;

/** Lanes per row: the schedule's, unless the chain's rows would not fit in workgroup memory. */
function laneCount(pb: ProgramBuilder, items: RowItem[], base: number, outputs: Map<number, TensorValue>): number {
  const lanes = pb.schedule.rowLanes;
  if (lanes === 1) return 1;
  const shared = items.reduce((bytes, item, j) => {
    const readLater = items.slice(j + 1).some((later) => later.src.includes(base + j));
    return outputs.has(base + j) && !readLater ? bytes : bytes + 4 * rowLength(item.type);
  }, 0);
  return shared <= SHARED_ROW_BYTES ? lanes : 1;
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
