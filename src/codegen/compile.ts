import type { Graph } from '../ir/graph.js';
import type { Arithmetic, Program } from './program.js';
import type { Schedule } from './schedule.js';
import { scheduleProgram } from './scheduler/scheduler.js';
import { verifyProgram } from './verify.js';
import { printWgslKernel } from './wgsl/print.js';

/** The optimised graph to a verified Program, under a schedule, computing its matmuls in `arithmetic`. */
export function buildProgram(graph: Graph, schedule: Schedule, arithmetic: Arithmetic = 'f32'): Program {
  const program = scheduleProgram(graph, schedule, arithmetic);
  const problems = verifyProgram(program);
  if (problems.length) throw new Error(`internal: the scheduler produced an invalid program:\n  ${problems.slice(0, 10).join('\n  ')}`);
  return program;
}

/** Every kernel of a Program as a WGSL file, by file name, in kernel order. */
export function wgslFiles(program: Program): Map<string, string> {
  return new Map(program.kernels.map((k) => [`${k.name}.wgsl`, printWgslKernel(k)]));
}
