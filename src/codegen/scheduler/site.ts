import type { Graph, Node } from '../../ir/graph.js';
import type { KernelNode, Op } from '../../ir/ops.js';
import type { Dim, TensorType } from '../../ir/types.js';
import type { Scalar } from '../kernel-ir.js';
import type { ProgramBuilder } from './program-builder.js';
import type { TensorValue, Value } from './values.js';

/**
 * One op to schedule: a graph node, or an op of a fused kernel's body (then `node` is the
 * kernel node, and `name` tells the body op apart in buffer names).
 */
export interface Site {
  op: Op;
  attrs: unknown;
  type: TensorType;
  node: Node;
  name: string;
  /** The operand nodes when the op is a graph node (lets an emitter look through its producers). */
  src?: readonly Node[];
  graph: Graph;
  /** Added to the result in the epilogue (a residual add the scheduler folded into this op). */
  residual?: TensorValue;
}

/** Scratch memory a kernel needs beyond its result, declared before it is emitted. */
export interface WorkspaceDecl {
  name: string;
  element: Scalar;
  shape: readonly Dim[];
}

export type Workspaces = Readonly<Record<string, TensorValue>>;

/**
 * How one op runs: its contract with the scheduler, in the manner of vLLM's modular-kernel
 * stages. It says whether it supports a site (or why not) and which workspace it needs, so the
 * scheduler plans memory from declarations, then `emit` dispatches its kernels.
 */
export interface OpKernel {
  summary: string;
  supports?: (site: Site, args: readonly Value[]) => true | string;
  workspace?: (site: Site, args: readonly Value[]) => WorkspaceDecl[];
  emit: (site: Site, args: Value[], pb: ProgramBuilder, workspace: Workspaces) => Value;
}

/** The same contract for a fused kernel of the graph: `plan` matches its body (or says why it cannot). */
export interface FusedKernel<P = unknown> {
  summary: string;
  plan: (site: Site, args: readonly Value[], body: readonly KernelNode[], pb: ProgramBuilder) => P | string;
  workspace?: (plan: P) => WorkspaceDecl[];
  emit: (plan: P, pb: ProgramBuilder, workspace: Workspaces) => Value;
}

/** A fused kernel with its plan type hidden: runs it, or says why it cannot. */
export interface FusedTemplate {
  summary: string;
  run: (site: Site, args: readonly Value[], body: readonly KernelNode[], pb: ProgramBuilder, allocate: (decls: readonly WorkspaceDecl[]) => Workspaces) => Value | string;
}

export function fusedTemplate<P>(k: FusedKernel<P>): FusedTemplate {
  return {
    summary: k.summary,
    run: (site, args, body, pb, allocate) => {
      const plan = k.plan(site, args, body, pb);
      return typeof plan === 'string' ? plan : k.emit(plan, pb, allocate(k.workspace?.(plan) ?? []));
    },
  };
}

/** An op kernel with no workspace and no conditions. */
export function opKernel(summary: string, emit: (site: Site, args: Value[], pb: ProgramBuilder) => Value): OpKernel {
  return { summary, emit: (site, args, pb) => emit(site, args, pb) };
}
