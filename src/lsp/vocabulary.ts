import {
  CACHE_POLICIES,
  EXPERT_KINDS,
  MISS_POLICIES,
  NORMS,
  OFFLOAD_SETTINGS,
  PREFETCH_POLICIES,
  SCOPES,
  SHARED_GATES,
  STAGES,
  STORAGE_DTYPES,
  TOPOLOGIES,
  UNITS,
  type Signature,
} from '../language/signatures.js';
import { Keywords } from '../parser/tokens.js';

/** A word of the language itself, as hover and completion present it. */
export interface Word {
  name: string;
  category: Category;
  /** `topk(k)`, `group_limit(groups, keep, score = max)`; absent for plain words. */
  signature?: string;
  doc: string;
}

export type Category =
  | 'keyword'
  | 'router stage'
  | 'expert kind'
  | 'topology'
  | 'norm'
  | 'shared gate'
  | 'cache policy'
  | 'prefetch policy'
  | 'miss policy'
  | 'offload setting'
  | 'dtype'
  | 'scope'
  | 'unit';

/** What each keyword introduces (docs/language.md, "Model items"). */
const KEYWORD_DOCS: Record<keyof typeof Keywords, string> = {
  model: 'Declares a model: `model NAME { ... }`.',
  dims: 'Positive integer sizes: `dims { hidden = 4096 }`.',
  const: 'Numeric constants, possibly fractional: `const { scale = 2.5 }`.',
  dtype: 'Compute dtype of the model: f32 (default), f16 or bf16.',
  weights: 'Stored weight dtype: a compute dtype, int8 or int4 (default: the compute dtype).',
  expert: 'Declares an expert (FFN) template: `expert NAME = swiglu(in -> hidden -> out)`.',
  experts: "A block's routed experts, in router order: `experts E x N, F x M`.",
  shared: "A block's always-on experts: `shared E x N`, optionally `gate sigmoid`.",
  router: 'Declares a router pipeline, or in a block uses a model-level router: `router NAME = linear(...) | softmax | topk(2)`.',
  block: 'Declares an MoE block: `block NAME { router ... experts ... }`.',
  topology: 'How routing composes in a block: standard, chain(...), union(...) or multihead(...).',
  scope: 'Isolation scope of routers that couple tokens: request or batch.',
  layers: 'Layer bodies for a range of layers: `layers 0..3 step 1 { x = x + moe(rmsnorm(x)) }`.',
  step: 'Applies a `layers` section to every step-th layer of its range.',
  offload: 'Where expert weights live: budget, resident, cache, prefetch, on_miss, precision.',
  gate: 'Gates the shared experts: `shared E gate sigmoid`.',
  x: 'Repeats an expert in a member list: `experts E x 8`.',
};

const OFFLOAD_DOCS: Record<(typeof OFFLOAD_SETTINGS)[number], string> = {
  budget: 'Device memory for expert weights, such as `4 GiB`.',
  resident: 'Expert declarations that never leave the device: `[common, dense]`.',
  cache: 'Which non-resident expert to evict: lru, lfu or score(recency = r).',
  prefetch: 'none, or next_layer(top = n) to load the next layer\'s likely experts early.',
  on_miss: 'wait for the load, or degrade(dtype) to run a resident low-precision copy meanwhile.',
  precision: 'Stored dtype per expert declaration: `{ routed = int8 }`.',
};

function signature(s: Signature): string | undefined {
  if (s.params.length === 0) return undefined;
  return `${s.name}(${s.params.map((p) => (p.default !== undefined ? `${p.name} = ${String(p.default)}` : p.optional ? `${p.name}?` : p.name)).join(', ')})`;
}

function fromTable(table: ReadonlyMap<string, Signature>, category: Category): Word[] {
  return [...table.values()].map((s) => {
    const sig = signature(s);
    return { name: s.name, category, ...(sig ? { signature: sig } : {}), doc: s.doc };
  });
}

function plain(names: readonly string[], category: Category, doc: (name: string) => string): Word[] {
  return names.map((name) => ({ name, category, doc: doc(name) }));
}

export const VOCABULARY: readonly Word[] = [
  ...Object.entries(KEYWORD_DOCS).map(([name, doc]) => ({ name, category: 'keyword' as const, doc })),
  ...fromTable(STAGES, 'router stage'),
  ...fromTable(EXPERT_KINDS, 'expert kind'),
  ...fromTable(TOPOLOGIES, 'topology'),
  ...fromTable(NORMS, 'norm'),
  ...fromTable(SHARED_GATES, 'shared gate'),
  ...fromTable(CACHE_POLICIES, 'cache policy'),
  ...fromTable(PREFETCH_POLICIES, 'prefetch policy'),
  ...fromTable(MISS_POLICIES, 'miss policy'),
  ...OFFLOAD_SETTINGS.map((name) => ({ name, category: 'offload setting' as const, doc: OFFLOAD_DOCS[name] })),
  ...plain(STORAGE_DTYPES, 'dtype', (d) => (d.startsWith('int') ? 'Storage-only dtype for weights.' : 'Compute or storage dtype.')),
  ...plain(SCOPES, 'scope', (s) => (s === 'request' ? 'Coupling stays within one request.' : 'Requests in one batch may affect each other.')),
  ...plain(Object.keys(UNITS), 'unit', (u) => `Memory unit: ${UNITS[u]!.toLocaleString('en-US')} bytes.`),
];

/** Every meaning of a word of the language (`sigmoid` is a router stage and a shared gate). */
export function wordsNamed(name: string): Word[] {
  return VOCABULARY.filter((w) => w.name === name);
}
