import { ffnParameters } from './expert-structure.js';
import type { Block, Expert, ResolvedModel } from './model.js';

/** Resolves an expert name as a block sees it: its own experts first, then the model's. */
export function blockExpert(model: ResolvedModel, block: Block, name: string): Expert | undefined {
  return model.experts[`${block.name}.${name}`] ?? model.experts[name];
}

/** Parameters of one instance of an expert (gates and projections, no biases). */
export function expertParameters(e: Expert): number {
  return e.kind === 'ffn' ? ffnParameters(e) : 0;
}
