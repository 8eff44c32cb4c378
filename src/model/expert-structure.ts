import type { Activation } from './model.js';

/**
 * The structure of an FFN expert, owned here and nowhere else: from its shape (gated, rank,
 * latent) come its weight list (names, shapes, fan-in: docs/weights.md) and the steps that
 * apply them. The IR builder, the rerouting pass, dense lowering, the CPU reference and the
 * parameter counts all read this one description.
 *
 *   gated:  act(x·W_gate) ⊙ (x·W_up) · W_down      plain: act(x·W_up) · W_down
 *   rank r: every matrix [a, b] is [a, r] · [r, b]  latent l: x·W_in first, ·W_out last
 */
export interface FfnShape {
  gated: boolean;
  act: Activation;
  input: number;
  hidden: number;
  output: number;
  /** Low-rank: every weight matrix [a, b] is stored as [a, rank] · [rank, b]. */
  rank?: number;
  /** Latent: the expert runs in a `latent`-wide space, entered and left by its own projections. */
  latent?: number;
}

/** One weight of an expert; shapes are for one expert (blocks stack `count` of them in front). */
export interface ExpertWeight {
  /** The last component of the tensor name (`w_gate`, `w_up_a`, ...). */
  name: string;
  shape: number[];
  fanIn: number;
}

/**
 * One step on a batch of rows. Values are numbered: 0 is the expert's input, step i yields
 * value i + 1, and the last step's value is the output. Steps run in this order.
 */
export type ExpertStep =
  | { op: 'matmul'; src: number; weight: number }
  | { op: 'act'; src: number; fn: Activation }
  /** The gated product act(gate) ⊙ up. */
  | { op: 'mul'; src: [number, number] };

export interface ExpertStructure {
  weights: ExpertWeight[];
  steps: ExpertStep[];
}

export function expertStructure(e: FfnShape): ExpertStructure {
  const weights: ExpertWeight[] = [];
  const steps: ExpertStep[] = [];
  const step = (s: ExpertStep) => steps.push(s);
  /** v · W for a matrix [a, b], or v · W_a · W_b when low-rank. */
  const project = (v: number, name: string, a: number, b: number): number => {
    if (!e.rank) {
      weights.push({ name, shape: [a, b], fanIn: a });
      return step({ op: 'matmul', src: v, weight: weights.length - 1 });
    }
    weights.push({ name: `${name}_a`, shape: [a, e.rank], fanIn: a });
    const mid = step({ op: 'matmul', src: v, weight: weights.length - 1 });
    weights.push({ name: `${name}_b`, shape: [e.rank, b], fanIn: e.rank });
    return step({ op: 'matmul', src: mid, weight: weights.length - 1 });
  };
  const inner = e.latent ?? e.input;
  const outer = e.latent ?? e.output;
  const x = e.latent ? project(0, 'w_in', e.input, e.latent) : 0;
  let hidden: number;
  if (e.gated) {
    const gate = step({ op: 'act', src: project(x, 'w_gate', inner, e.hidden), fn: e.act });
    hidden = step({ op: 'mul', src: [gate, project(x, 'w_up', inner, e.hidden)] });
  } else {
    hidden = step({ op: 'act', src: project(x, 'w_up', inner, e.hidden), fn: e.act });
  }
  const y = project(hidden, 'w_down', e.hidden, outer);
  if (e.latent) project(y, 'w_out', e.latent, e.output);
  return { weights, steps };
}

/** Parameters of one instance: the elements of its weights (no biases). */
export function ffnParameters(e: FfnShape): number {
  return expertStructure(e).weights.reduce((n, w) => n + w.shape[0]! * w.shape[1]!, 0);
}
