import { ROUTER_STAGES } from '../stages/table.js';

/**
 * The callable vocabulary of the language as data: router stages, expert kinds, topologies,
 * norms and offload choices. The checker binds arguments against these tables, and the same
 * tables feed docs and editor completion. Router stages after the source are defined, with
 * their meaning, lowering and checks, in src/stages; their signatures join this table.
 */
export type ParamType =
  | 'int' // a positive integer constant expression
  | 'number' // any numeric constant expression
  | 'shape' // a -> b (-> c ...)
  | 'name' // a declared name (router, expert)
  | 'ints' // a list of integers
  | 'dtype'
  | 'bool'
  | { choice: readonly string[] };

export interface Param {
  name: string;
  type: ParamType;
  /** Default when omitted; a param without one is required unless `optional`. */
  default?: number | string | boolean;
  /** May be omitted with no default (the callee says what its absence means). */
  optional?: boolean;
  /** Inclusive bounds for numbers; `gt` is an exclusive lower bound. */
  min?: number;
  gt?: number;
  max?: number;
  doc: string;
}

export interface Signature {
  name: string;
  params: readonly Param[];
  doc: string;
}

export type StagePhase = 'source' | 'score' | 'select' | 'weight';

export interface StageSignature extends Signature {
  /** Where the stage may appear in a pipeline (see docs/language.md, "Router stages"). */
  phase: StagePhase;
  /** True for stages whose result for one token depends on the other tokens of the batch. */
  couples?: boolean;
}

const table = <S extends Signature>(list: S[]): ReadonlyMap<string, S> => new Map(list.map((s) => [s.name, s]));

export const STAGES = table<StageSignature>([
  {
    name: 'linear',
    phase: 'source',
    doc: 'Gate logits: l = x·W (+ b), W of shape [in, width]. One entry per expert.',
    params: [
      { name: 'shape', type: 'shape', doc: '`in -> width`' },
      { name: 'bias', type: 'bool', default: false, doc: 'add a learned bias to the logits' },
    ],
  },
  {
    name: 'hash',
    phase: 'source',
    doc: 'Hash routing: selects k experts from the token id (needs the `ids` input), weight 1 each.',
    params: [
      { name: 'width', type: 'int', doc: 'number of experts hashed over' },
      { name: 'k', type: 'int', default: 1, doc: 'experts per token' },
      { name: 'seed', type: 'int', default: 0, min: 0, doc: 'hash seed' },
    ],
  },
  {
    name: 'fixed',
    phase: 'source',
    doc: 'Fixed routing: every token goes to the listed experts with weight 1.',
    params: [
      { name: 'width', type: 'int', doc: 'number of experts' },
      { name: 'experts', type: 'ints', doc: 'the expert indices every token uses' },
    ],
  },
  ...Object.values(ROUTER_STAGES).map((d): StageSignature => d.signature),
]);

const ffnParams: Param[] = [
  { name: 'shape', type: 'shape', doc: '`in -> hidden -> out`' },
  { name: 'rank', type: 'int', default: 0, min: 0, doc: 'low-rank factorisation of every weight (0: full rank)' },
  { name: 'latent', type: 'int', default: 0, min: 0, doc: 'run the expert in a latent space of this width (0: none)' },
  { name: 'bias', type: 'bool', default: false, doc: 'every projection adds a learned bias (b_gate, b_up, b_down, ...)' },
];

/** silu's slope, on the kinds built on silu. */
const alphaParam: Param = { name: 'alpha', type: 'number', default: 1, gt: 0, doc: 'silu_α(v) = v·σ(α·v) (gpt-oss: 1.702)' };
/** The clamped, shifted gated product of gpt-oss (TensorRT-LLM's swiglu_alpha/beta/limit), on gated kinds. */
const gatedParams: Param[] = [
  { name: 'beta', type: 'number', default: 0, doc: 'added to the (clamped) up projection before the product (gpt-oss: 1)' },
  { name: 'limit', type: 'number', optional: true, gt: 0, doc: 'clamp the gate from above at limit and the up projection to [-limit, limit]' },
];

export interface ExpertKindSignature extends Signature {
  ffn?: { gated: boolean; act: 'silu' | 'gelu' | 'gelu_tanh' | 'relu' };
}

export const EXPERT_KINDS = table<ExpertKindSignature>([
  { name: 'swiglu', ffn: { gated: true, act: 'silu' }, params: [...ffnParams, alphaParam, ...gatedParams], doc: 'Gated FFN: silu(x·Wg) ⊙ (x·Wu) · Wd.' },
  { name: 'geglu', ffn: { gated: true, act: 'gelu' }, params: [...ffnParams, ...gatedParams], doc: 'Gated FFN: gelu(x·Wg) ⊙ (x·Wu) · Wd.' },
  { name: 'geglu_tanh', ffn: { gated: true, act: 'gelu_tanh' }, params: [...ffnParams, ...gatedParams], doc: 'Gated FFN with the tanh approximation of GELU.' },
  { name: 'relu', ffn: { gated: false, act: 'relu' }, params: ffnParams, doc: 'Plain FFN: relu(x·Wu) · Wd.' },
  { name: 'gelu', ffn: { gated: false, act: 'gelu' }, params: ffnParams, doc: 'Plain FFN: gelu(x·Wu) · Wd (exact erf GELU).' },
  { name: 'gelu_tanh', ffn: { gated: false, act: 'gelu_tanh' }, params: ffnParams, doc: 'Plain FFN: gelu_tanh(x·Wu) · Wd, GELU by its tanh approximation.' },
  { name: 'silu', ffn: { gated: false, act: 'silu' }, params: [...ffnParams, alphaParam], doc: 'Plain FFN: silu(x·Wu) · Wd.' },
  { name: 'identity', params: [], doc: 'Returns its input.' },
  { name: 'null', params: [], doc: 'Returns zero and costs nothing.' },
]);

export const TOPOLOGIES = table<Signature>([
  { name: 'standard', params: [], doc: 'One router, one dispatch over the experts.' },
  {
    name: 'chain',
    doc: 'Chain-of-Experts: the block runs `iterations` times, each with its own router weights.',
    params: [
      { name: 'iterations', type: 'int', doc: 'number of iterations' },
      { name: 'residual', type: 'bool', default: true, doc: 'add each iteration\'s input to its output' },
    ],
  },
  {
    name: 'union',
    doc: 'Hierarchical routing: the group router picks expert groups, the expert router picks experts in them.',
    params: [
      { name: 'group', type: 'name', doc: 'router over groups' },
      { name: 'expert', type: 'name', doc: 'router over all experts, masked to the chosen groups' },
    ],
  },
  {
    name: 'multihead',
    doc: 'MH-MoE: project, split each token into `heads` sub-tokens, route each, merge and project back.',
    params: [{ name: 'heads', type: 'int', doc: 'sub-tokens per token' }],
  },
]);

export const NORMS = table<Signature>([
  { name: 'rmsnorm', params: [{ name: 'eps', type: 'number', default: 1e-6, gt: 0, doc: 'added to the mean square' }], doc: 'x / sqrt(mean(x²) + eps) · g' },
  { name: 'layernorm', params: [{ name: 'eps', type: 'number', default: 1e-5, gt: 0, doc: 'added to the variance' }], doc: '(x - mean) / sqrt(var + eps) · g + b' },
]);

export const SHARED_GATES = table<Signature>([
  { name: 'sigmoid', params: [], doc: 'Scale the shared experts\' output by sigmoid(x·w), w of shape [width, 1].' },
]);

export const CACHE_POLICIES = table<Signature>([
  { name: 'lru', params: [], doc: 'Evict the least recently used expert.' },
  { name: 'lfu', params: [], doc: 'Evict the least frequently used expert.' },
  {
    name: 'score',
    params: [{ name: 'recency', type: 'number', default: 0.5, min: 0, max: 1, doc: 'weight of recency against frequency' }],
    doc: 'Evict the lowest recency·r + frequency·(1 - r) score.',
  },
]);

export const PREFETCH_POLICIES = table<Signature>([
  { name: 'none', params: [], doc: 'Load experts when they are first needed.' },
  {
    name: 'next_layer',
    params: [{ name: 'top', type: 'int', default: 2, doc: 'experts prefetched per token' }],
    doc: "Apply the next layer's router to the current layer's gate input and prefetch its top choices.",
  },
]);

export const MISS_POLICIES = table<Signature>([
  { name: 'wait', params: [], doc: 'Wait for the expert to load.' },
  {
    name: 'degrade',
    params: [{ name: 'dtype', type: 'dtype', doc: 'precision of the always-resident fallback copy' }],
    doc: 'Run a resident low-precision copy while the full expert loads.',
  },
]);

export const OFFLOAD_SETTINGS = ['budget', 'resident', 'cache', 'prefetch', 'on_miss', 'precision'] as const;

export const COMPUTE_DTYPES = ['f32', 'f16', 'bf16'] as const;
export const STORAGE_DTYPES = ['f32', 'f16', 'bf16', 'int8', 'int4'] as const;
export const SCOPES = ['request', 'batch'] as const;

/** Byte multipliers of memory units. */
export const UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};
