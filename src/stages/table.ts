import { groupLimit, selectBias, sigmoid, softmax, type ScoringStage } from './scoring.js';
import { expertChoice, topk, topP, type SelectionStage } from './selection.js';
import type { Selections, StageDef } from './stage.js';
import { capacity, normalize, scale, type WeightingStage } from './weighting.js';

/** A router stage after the source, as the resolved model and the IR hold it. */
export type RouterStage = ScoringStage | SelectionStage | WeightingStage;

type StageOf<O extends RouterStage['op']> = Extract<RouterStage, { op: O }>;

/** Every router stage after the source, by name; typed over RouterStage, so none is missing. */
export const ROUTER_STAGES: { readonly [O in RouterStage['op']]: StageDef<StageOf<O>> } = {
  softmax,
  sigmoid,
  select_bias: selectBias,
  group_limit: groupLimit,
  topk,
  top_p: topP,
  expert_choice: expertChoice,
  normalize,
  scale,
  capacity,
};

/** The definition of a stage's kind. */
export function stageDef<S extends RouterStage>(s: S): StageDef<S> {
  // The table is keyed by op, so the entry for s.op is StageDef<S>; TypeScript cannot correlate the two.
  return ROUTER_STAGES[s.op] as unknown as StageDef<S>;
}

/** What a router's selection stage selects; undefined without one (hash and fixed select as they score). */
export function selections(stages: readonly RouterStage[], width: number): Selections | undefined {
  for (const s of stages) {
    const counts = stageDef(s).selects?.(s, width);
    if (counts) return counts;
  }
  return undefined;
}
