import type { Graph, Node } from '../../ir/graph.js';
import { evalDim } from '../../ir/types.js';
import type { KernelNode, Op, OpAttrs } from '../../ir/ops.js';
import type { Arithmetic, Program, ProgramParam } from '../program.js';
import type { Schedule } from '../schedule.js';
import { assignSlots } from './assign-slots.js';
import { ProgramBuilder } from './program-builder.js';
import { dequantValue, elements, type TensorValue, type Value } from './values.js';
import { coupledOps } from './coupled.js';
import { dispatchOps } from './dispatch.js';
import { elementwiseOps } from './elementwise.js';
import { expertKernels, matmulOps } from './experts.js';
import { emitRowKernel, type RowItem } from './rows.js';
import { rowOps, serialRowOps } from './row-ops.js';
import type { Encoding } from './stored.js';
import { opKernel, type OpKernel, type Site, type WorkspaceDecl, type Workspaces } from './site.js';

/**
 * The scheduler: the optimised graph in, the Program out. It alone decides how each op runs:
 * which kernels, which buffers, in which order. Every op has one standalone emitter; a fused
 * `kernel` node is either matched by a template (the expert kernels) or, for a router, run as
 * one row kernel per stretch of row-wise ops. Nothing here changes what is computed.
 */
const standalone: Partial<Record<Op, OpKernel>> = {
  ...elementwiseOps,
  ...dispatchOps,
  ...coupledOps,
  ...matmulOps,
  reshape: opKernel('a view with another shape', (site, [v]) => ({ ...(v as Exclude<Value, { kind: 'route' }>), shape: site.type.shape })),
  index: opKernel('a view of one of stacked weights', (site, [v]) => {
    // One matrix of stacked weights: a view at an offset, never a copy.
    // Tensor offsets count stored elements (int4 weights store two values per element).
    const packed = v!.kind === 'tensor' ? (v!.packing ?? 1) : 1;
    const at = ((site.attrs as OpAttrs['index']).i * elements(site.type.shape).b) / packed;
    if (v!.kind === 'tensor' || v!.kind === 'quantized') return { ...v!, offset: (v!.offset ?? 0) + at, shape: site.type.shape };
    throw new Error(`internal: index of a ${v!.kind}`);
  }),
  dequant: opKernel('a view: values times scales wherever a kernel reads them', (site, [q, scale]) =>
    dequantValue(q as TensorValue, scale as TensorValue, (site.attrs as OpAttrs['dequant']).bits, site.type.shape),
  ),
};


export function scheduleProgram(graph: Graph, schedule: Schedule, arithmetic: Arithmetic = 'f32'): Program {
  const pb = new ProgramBuilder(schedule, arithmetic);
  const inputs: Program['inputs'] = [];
  const folded = new Set<Node>();
  for (const n of graph.nodes) {
    if (folded.has(n)) continue;
    const site: Site = { op: n.op, attrs: n.attrs, type: n.type, node: n, name: `v${n.id}`, src: n.src, graph };
    const residual = residualOf(pb, graph, n);
    if (residual) site.residual = residual.value;
    const args = n.src.map((s) => pb.valueOf(s));
    const value = emitNode(pb, site, args, n, graph, inputs);
    pb.values.set(n, value);
    if (residual) {
      pb.values.set(residual.add, value);
      folded.add(residual.add);
    }
  }
  const out = pb.valueOf(graph.output);
  if (out.kind !== 'tensor') throw new Error(`internal: the graph output is a ${out.kind}`);
  const outDecl = pb.buffers.find((b) => b.name === out.buffer)!;
  outDecl.role = 'output';
  const slots = assignSlots(pb.buffers, pb.dispatches);
  // Kernels with subgroup operations are one subgroup each (verifyProgram checks they agree).
  const sized = pb.kernels.find((k) => k.subgroups);
  const subgroups = sized ? { subgroupSize: sized.workgroup[0] * sized.workgroup[1] * sized.workgroup[2] } : {};
  const f16 = pb.kernels.some((k) => k.f16) ? { f16: true } : {};
  const matrices = pb.kernels.some((k) => k.matrices) ? { matrices: true } : {};
  return { name: graph.name, width: Number(graph.output.type.shape[1]), buffers: pb.buffers, slots, kernels: pb.kernels, dispatches: pb.dispatches, inputs, output: out.buffer, params: programParams(graph), ...subgroups, ...f16, ...matrices, notes: pb.finishNotes() };
}

/**
 * The residual add after a combine (x + moe(x)) folds into the combine's epilogue when its other
 * operand is ready: one pass over y instead of two, one dispatch fewer. The same f32 sum.
 */
function residualOf(pb: ProgramBuilder, graph: Graph, n: Node): { add: Node; value: TensorValue } | undefined {
  const combines = n.op === 'combine' || (n.op === 'kernel' && n.attrs.name === 'down_combine');
  if (!combines || n === graph.output) return undefined;
  const readers = graph.nodes.filter((r) => r.src.includes(n));
  const add = readers[0];
  if (readers.length !== 1 || add?.op !== 'add' || add.src.length !== 2 || add.src[0] === add.src[1]) return undefined;
  const other = pb.values.get(add.src[0] === n ? add.src[1]! : add.src[0]!);
  const same = other?.kind === 'tensor' && other.shape.length === n.type.shape.length && other.shape.every((d, i) => d === n.type.shape[i]);
  return same ? { add, value: other } : undefined;
}

function emitNode(pb: ProgramBuilder, site: Site, args: Value[], n: Node, graph: Graph, inputs: Program['inputs']): Value {
  switch (n.op) {
    case 'input': {
      const name = (n.attrs as OpAttrs['input']).name;
      const element = n.type.dtype === 'i32' ? 'i32' : 'f32';
      pb.buffer(`input_${name}`, 'input', element, elements(n.type.shape), { source: name, node: n.id });
      inputs.push({ name, buffer: `input_${name}` });
      return { kind: 'tensor', buffer: `input_${name}`, element, shape: n.type.shape };
    }
    case 'param': {
      const name = (n.attrs as OpAttrs['param']).name;
      const { dtype } = n.type;
      const quantized = dtype === 'int8' || dtype === 'int4';
      const count = elements(n.type.shape);
      const packing = dtype === 'int4' ? 2 : 1;
      const buffer = `w${n.id}`;
      const element = quantized ? 'i32' : 'f32';
      const encoding = pb.schedule.weights === 'stored' && dtype !== 'f32' ? (dtype as Encoding) : undefined;
      pb.weight(buffer, name, element, Math.ceil(count.b / packing), n, encoding);
      return { kind: 'tensor', buffer, element, shape: n.type.shape, ...(packing > 1 ? { packing } : {}), ...(encoding ? { encoding } : {}) };
    }
    case 'kernel':
      return emitKernel(pb, site, args, n.attrs as OpAttrs['kernel'], graph);
    default:
      return emitOp(pb, site, args);
  }
}

function emitOp(pb: ProgramBuilder, site: Site, args: Value[]): Value {
  // A row-wise op without a kernel of its own (elementwise, matmul) runs as a one-op row kernel.
  if (!standalone[site.op] && rowOps[site.op]) {
    const out = pb.output(site);
    const item: RowItem = { op: site.op, attrs: site.attrs, type: site.type, src: args.map((_, i) => i) };
    emitRowKernel(pb, site.node, site.op, `${site.op} per row`, [item], args, new Map([[args.length, out]]), rowOps, serialRowOps);
    return out;
  }
  const kernel = standalone[site.op];
  if (!kernel) throw new Error(`internal: the scheduler has no kernel for ${site.op}`);
  const ok = kernel.supports?.(site, args) ?? true;
  if (ok !== true) throw new Error(`internal: the ${site.op} kernel cannot run %${site.node.id}: ${ok}`);
  return kernel.emit(site, args, pb, workspaces(pb, site, kernel.workspace?.(site, args) ?? []));
}

/** Allocate what a kernel declared it needs, named after its site. */
function workspaces(pb: ProgramBuilder, site: Site, decls: readonly WorkspaceDecl[]): Workspaces {
  return Object.fromEntries(decls.map((d) => [d.name, pb.workspace(`${site.name}_${d.name}`, d.element, d.shape, site.node)]));
}

/** A fused kernel: an expert template when one matches, else its body op by op (routers: row fusion). */
function emitKernel(pb: ProgramBuilder, site: Site, args: Value[], attrs: OpAttrs['kernel'], graph: Graph): Value {
  const template = expertKernels[attrs.name];
  const result = template?.run(site, args, attrs.body, pb, (decls) => workspaces(pb, site, decls));
  if (result !== undefined && typeof result !== 'string') return result;
  // Say why a fused kernel runs op by op: it costs dispatches and memory traffic.
  if (result !== undefined) pb.note(`kernel ${attrs.name} runs op by op: ${result}`, site.node);
  return emitBody(pb, site, args, attrs.body, graph);
}

/**
 * A body op by op. Consecutive row-wise ops share one row kernel; any other op (a coupling
 * router stage, a dispatch op) runs on its own, and the values that cross between stretches
 * live in workspace buffers.
 */
function emitBody(pb: ProgramBuilder, site: Site, args: Value[], body: readonly KernelNode[], graph: Graph): Value {
  const values: (Value | undefined)[] = [...args];
  const base = args.length;
  const kernelInputs = site.node.src;
  const readers = new Map<number, number[]>();
  body.forEach((n, j) => n.src.forEach((s) => readers.set(s, [...(readers.get(s) ?? []), base + j])));
  let j = 0;
  while (j < body.length) {
    const start = j;
    while (j < body.length && isRowOp(body[j]!)) j++;
    if (j > start) {
      // Row stretch [start, j): its inputs are earlier values; outputs are what later code reads.
      const stretch = body.slice(start, j);
      const outside: number[] = [];
      for (const n of stretch) for (const s of n.src) if (s < base + start && !outside.includes(s)) outside.push(s);
      const items: RowItem[] = stretch.map((n) => ({
        op: n.op,
        attrs: n.attrs,
        type: n.type,
        src: n.src.map((s) => (s < base + start ? outside.indexOf(s) : outside.length + (s - base - start))),
      }));
      const outputs = new Map<number, ReturnType<ProgramBuilder['output']>>();
      stretch.forEach((n, i) => {
        const index = base + start + i;
        const last = index === base + body.length - 1;
        const readLater = (readers.get(index) ?? []).some((r) => r >= base + j);
        if (last || readLater) {
          const out = pb.output({ ...site, op: n.op, type: n.type, name: last ? site.name : `${site.name}_${start + i}` }, undefined);
          outputs.set(outside.length + i, out);
          values[index] = out;
        }
      });
      emitRowKernel(pb, site.node, `${(site.attrs as OpAttrs['kernel']).name}_rows`, 'a stretch of row-wise ops, one invocation per row', items, outside.map((s) => values[s]!), outputs, rowOps, serialRowOps);
      continue;
    }
    const n = body[j]!;
    const src = n.src.map((s) => (s < base ? kernelInputs[s] : undefined));
    const last = j === body.length - 1;
    const inner: Site = { op: n.op, attrs: n.attrs, type: n.type, node: site.node, name: last ? site.name : `${site.name}_${j}`, src: src as Node[], graph, ...(last && site.residual ? { residual: site.residual } : {}) };
    values[base + j] = emitOp(pb, inner, n.src.map((s) => values[s]!));
    j++;
  }
  return values[values.length - 1]!;
}

/** Ops that compute a row from rows (those with a row kernel) fuse into a row kernel; matmul there is the router's gate. */
function isRowOp(n: KernelNode): boolean {
  return rowOps[n.op] !== undefined && n.type.shape.length === 2;
}

function programParams(graph: Graph): ProgramParam[] {
  return graph.params.map((p) => {
    const { dtype } = p.type;
    if (dtype !== 'f32' && dtype !== 'f16' && dtype !== 'bf16' && dtype !== 'int8' && dtype !== 'int4') throw new Error(`internal: param ${p.name} has dtype ${dtype}`);
    return { name: p.name, dtype, shape: p.type.shape.map((d) => evalDim(d, 0)) };
  });
}
