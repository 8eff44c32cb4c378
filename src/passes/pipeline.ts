import type { Graph } from '../ir/graph.js';
import { verifyGraph } from '../ir/verify.js';
import { verifyLowered } from '../ir/verify-lowered.js';
import { fuseDownCombine, fuseGateUp, fuseRouter } from './fuse.js';
import { foldShared } from './fold-shared.js';
import { lowerDense } from './lower-dense.js';
import { lowerRouters } from './lower-routers.js';
import { defaultPassOptions, type Pass, type PassOptions } from './pass.js';
import { reroute } from './reroute.js';

/** The optimisation pipeline, in order. Each pass's result is verified before the next runs. */
export const PASSES: readonly Pass[] = [foldShared, lowerRouters, lowerDense, fuseRouter, reroute, fuseGateUp, fuseDownCombine];

export interface PipelineOptions extends Partial<PassOptions> {
  /** Stop after this many passes (tests compare every prefix of the pipeline). */
  upTo?: number;
  /** Called with the graph after each pass (for --print-after). */
  after?: (pass: Pass, g: Graph) => void;
}

export class PassError extends Error {}

export function runPipeline(g: Graph, options: PipelineOptions = {}): Graph {
  const passOptions: PassOptions = { ...defaultPassOptions, ...options };
  check(g, 'the builder');
  for (const pass of PASSES.slice(0, options.upTo ?? PASSES.length)) {
    g = pass.run(g, passOptions);
    check(g, `pass ${pass.name}`);
    options.after?.(pass, g);
  }
  // The whole pipeline leaves only primitives: what a back end implements.
  if ((options.upTo ?? PASSES.length) >= PASSES.length) check(g, 'the pipeline', verifyLowered);
  return g;
}

function check(g: Graph, who: string, verify = verifyGraph): void {
  const problems = verify(g);
  if (problems.length) throw new PassError(`internal: ${who} produced an invalid graph:\n  ${problems.slice(0, 10).map((p) => p.message).join('\n  ')}`);
}
