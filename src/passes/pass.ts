import type { Graph } from '../ir/graph.js';

/**
 * A pass: a small, named graph-to-graph transform with one purpose. Passes change how the
 * model is computed (the schedule), never what it computes: the CPU reference gives
 * bit-identical numbers before and after every pass, except fold-shared, which re-associates a
 * sum and stays within f32 rounding (< 1e-5 relative; test/passes.test.ts).
 */
export interface Pass {
  name: string;
  summary: string;
  run(g: Graph, options: PassOptions): Graph;
}

export interface PassOptions {
  /** Rows of each expert's run are padded to a multiple of this (batched rerouting). */
  block: number;
}

export const defaultPassOptions: PassOptions = { block: 16 };
