import type { Graph, Node } from '../../ir/graph.js';
import type { Op } from '../../ir/ops.js';
import type { TensorType } from '../../ir/types.js';
import type { ProgramBuilder, Value } from './context.js';

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
}

/** Schedules one op: dispatches kernels on `pb` and returns the value the op produces. */
export type Emitter = (site: Site, args: Value[], pb: ProgramBuilder) => Value;
