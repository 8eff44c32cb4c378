import type { Activation } from './model.js';

/**
 * The structure of an FFN expert, owned here and nowhere else: from its shape (gated, rank,
 * latent) come its weight list (names, shapes, fan-in: docs/weights.md) and the steps that
 * apply them. The IR builder, the rerouting pass, dense lowering, the CPU reference and the
 * parameter counts all read this one description.
 *
 *   gated:  act(x·W_gate) ⊙ (x·W_up) · W_down      plain: act(x·W_up) · W_down
 *   rank r: every matrix [a, b] is [a, r] · [r, b]  latent l: x·W_in first, ·W_out last
 *   bias:   every projection v·W adds its own b     gated with limit L, beta β (gpt-oss):
 *           act_α(min(g, L)) ⊙ (clamp(u, -L, L) + β), act_α(v) = v·σ(α·v) for silu
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
  /** Every projection adds a learned bias (`b_gate`, `b_up`, `b_down`, ...), one per output column. */
  bias?: boolean;
  /** silu's slope: silu_α(v) = v · σ(α·v) (absent: 1). */
  alpha?: number;
  /** Gated: added to the (clamped) up projection before the product (absent: 0). */
  beta?: number;
  /** Gated: the gate is clamped from above at `limit` and the up projection to [-limit, limit]. */
  limit?: number;
}

/** An elementwise function with its parameters: fn_α(clamp(v, min, max)) + shift (IR op `act`). */
export interface ActParams {
  fn: Activation | 'identity';
  alpha?: number;
  min?: number;
  max?: number;
  shift?: number;
}

/** One weight of an expert; shapes are for one expert (blocks stack `count` of them in front). */
export interface ExpertWeight {
  /** The last component of the tensor name (`w_gate`, `w_up_a`, ...). */
  name: string;
  shape: number[];
  fanIn: number;
  /** A bias (one value per output column, [b]); the others are matrices [a, b]. */
  bias?: boolean;
}

/**
 * One step on a batch of rows. Values are numbered: 0 is the expert's input, step i yields
 * value i + 1, and the last step's value is the output. Steps run in this order.
 */
export type ExpertStep =
  | { op: 'matmul'; src: number; weight: number; bias?: number }
  | ({ op: 'act'; src: number } & ActParams)
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
  const weight = (w: ExpertWeight) => weights.push(w) - 1;
  /** The bias of a projection to b columns (`w_up` -> `b_up`), when the expert has biases. */
  const bias = (name: string, b: number, fanIn: number) => (e.bias ? { bias: weight({ name: name.replace(/^w_/, 'b_'), shape: [b], fanIn, bias: true }) } : {});
  /** v · W (+ b) for a matrix [a, b], or v · W_a · W_b (+ b) when low-rank. */
  const project = (v: number, name: string, a: number, b: number): number => {
    if (!e.rank) {
      const w = weight({ name, shape: [a, b], fanIn: a });
      return step({ op: 'matmul', src: v, weight: w, ...bias(name, b, a) });
    }
    const mid = step({ op: 'matmul', src: v, weight: weight({ name: `${name}_a`, shape: [a, e.rank], fanIn: a }) });
    const w = weight({ name: `${name}_b`, shape: [e.rank, b], fanIn: e.rank });
    return step({ op: 'matmul', src: mid, weight: w, ...bias(name, b, a) });
  };
  const opt = <K extends string>(key: K, v: number | undefined) => (v === undefined ? {} : ({ [key]: v } as { [k in K]?: number }));
  const inner = e.latent ?? e.input;
  const outer = e.latent ?? e.output;
  const x = e.latent ? project(0, 'w_in', e.input, e.latent) : 0;
  let hidden: number;
  const alpha = opt('alpha', e.alpha);
  if (e.gated) {
    const gate = step({ op: 'act', src: project(x, 'w_gate', inner, e.hidden), fn: e.act, ...alpha, ...opt('max', e.limit) });
    let up = project(x, 'w_up', inner, e.hidden);
    if (e.limit !== undefined || e.beta !== undefined) up = step({ op: 'act', src: up, fn: 'identity', ...opt('min', e.limit === undefined ? undefined : -e.limit), ...opt('max', e.limit), ...opt('shift', e.beta) });
    hidden = step({ op: 'mul', src: [gate, up] });
  } else {
    hidden = step({ op: 'act', src: project(x, 'w_up', inner, e.hidden), fn: e.act, ...alpha });
  }
  const y = project(hidden, 'w_down', e.hidden, outer);
  if (e.latent) project(y, 'w_out', e.latent, e.output);
  return { weights, steps };
}

/** Parameters of one instance: the elements of its weights (biases included). */
export function ffnParameters(e: FfnShape): number {
  return expertStructure(e).weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
}

/** The IR attributes of an act step (the step without its operand). */
export function actParams({ op: _op, src: _src, ...params }: Extract<ExpertStep, { op: 'act' }>): ActParams {
  return params;
}
