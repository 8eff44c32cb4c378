import { inferType } from './infer.js';
import type { Op, OpAttrs, OpCall } from './ops.js';
import type { TensorType } from './types.js';

/**
 * One immutable IR node: an op, its operands, its attributes and its result type. `Node` is
 * the union of `Node<'matmul'> | Node<'topk'> | ...`, so `switch (n.op)` (or `n.op === 'topk'`)
 * narrows `n.attrs` to that op's attributes; `Node<'topk'>` names one member.
 */
export type Node<O extends Op = Op> = O extends Op ? NodeOf<O> : never;

interface NodeOf<O extends Op> {
  readonly id: number;
  readonly op: O;
  readonly src: readonly Node[];
  readonly attrs: Readonly<OpAttrs[O]>;
  readonly type: TensorType;
}

export function isOp<O extends Op>(n: Node, op: O): n is Node<O> {
  return n.op === op;
}

/** A weight the graph reads, with the shape and dtype a weights file must provide. */
export interface ParamInfo {
  name: string;
  type: TensorType;
  /**
   * How init-weights fills it: a fan-in scaled normal (quantised when the dtype is int8/int4),
   * ones (norm gains), zeros (biases), or the scales of the quantised weight of the same name.
   */
  init: { kind: 'normal'; fanIn: number } | { kind: 'ones' } | { kind: 'zeros' } | { kind: 'scale' };
}

/**
 * A graph in topological order (`nodes`), with named inputs and one output. Graphs are
 * values: passes build new graphs rather than editing nodes in place.
 */
export interface Graph {
  name: string;
  nodes: readonly Node[];
  inputs: readonly Node<'input'>[];
  output: Node;
  params: readonly ParamInfo[];
}

/** Appends nodes in topological order with fresh ids. */
export class GraphBuilder {
  private readonly list: Node[] = [];
  private readonly paramList: ParamInfo[] = [];
  private readonly paramNodes = new Map<string, Node<'param'>>();

  /** Append a node; its type is inferred (ops that cannot infer, like reshape, take `declared`). */
  add<O extends Op>(op: O, src: readonly Node[], attrs: OpAttrs[O], declared?: TensorType): Node<O> {
    const call = { op, attrs } as OpCall<O>;
    const type = inferType(call, src.map((s) => s.type), declared);
    if (typeof type === 'string') throw new Error(`internal: building ${op}: ${type}`);
    return this.addStated(op, src, attrs, type);
  }

  /** Append a node with the type its text states, not inferred (parse.ts; verifyGraph checks it). */
  addStated<O extends Op>(op: O, src: readonly Node[], attrs: OpAttrs[O], type: TensorType): Node<O> {
    // The one place a node is made: op and attrs are correlated by the signature.
    const node = { id: this.list.length, op, src, attrs, type } as NodeOf<O> as Node<O>;
    this.list.push(node);
    return node;
  }

  /** A weight, declared once per name. */
  param(name: string, type: TensorType, init: ParamInfo['init']): Node<'param'> {
    const known = this.paramNodes.get(name);
    if (known) return known;
    const node = this.add('param', [], { name }, type);
    this.paramNodes.set(name, node);
    this.paramList.push({ name, type, init });
    return node;
  }

  finish(name: string, output: Node): Graph {
    const inputs = this.list.filter((n): n is Node<'input'> => n.op === 'input');
    return { name, nodes: [...this.list], inputs, output, params: [...this.paramList] };
  }
}
