import type { ParamInfo } from './graph.js';
import { bool, list, num, oneOf, opt, record, str, tagged, type Cases, type Codec, type Fields } from './codec.js';
import type { BodyOp, ExpertGroup, ExpertSpec, FfnExpertSpec, OpAttrs, RouteAttrs, RouterSource, RouterSpec, RouterStage } from './ops.js';
import { ROUTER_STAGES } from '../stages/table.js';
import type { DType } from './types.js';

/**
 * How every op's attributes read in the textual IR, one codec per op: the printer and the
 * parser both use this table, so every attribute prints and the text reads back as it was.
 * (`input`, `param` and `kernel` print their name in the node's head instead.)
 */
const none = record<Record<string, never>>({});
const dtype = oneOf<DType>('f32', 'f16', 'bf16', 'int8', 'int4', 'i32', 'route');
const range = record<{ first: number; count: number }>({ first: num, count: num });

const ffnFields: Fields<Omit<FfnExpertSpec, 'kind'>> = { name: str, gated: bool, act: oneOf('silu', 'gelu', 'gelu_tanh', 'relu'), input: num, hidden: num, output: num, rank: opt(num), latent: opt(num), bias: opt(bool), alpha: opt(num), beta: opt(num), limit: opt(num) };
const ffnExpert = tagged<FfnExpertSpec, 'kind'>('kind', { ffn: ffnFields });
const expert = tagged<ExpertSpec, 'kind'>('kind', { ffn: ffnFields, identity: { name: str }, null: { name: str } });

// Each stage's fields come from its definition (src/stages); the table is keyed by op.
const stageFields = Object.fromEntries(Object.entries(ROUTER_STAGES).map(([op, d]) => [op, d.fields])) as Cases<RouterStage, 'op'>;
const stage = tagged<RouterStage, 'op'>('op', stageFields);

const source = tagged<RouterSource, 'op'>('op', {
  linear: { bias: bool },
  hash: { k: num, seed: num },
  fixed: { experts: list(num) },
});

const router = record<RouterSpec>({ name: str, width: num, source, selectBias: bool, stages: list(stage) });

const route = record<RouteAttrs>({
  groupRouter: opt(router),
  router,
  nullEntries: list(num),
  slots: num,
  scope: opt(oneOf('request', 'batch')),
  subTokens: opt(num),
  tokenInputs: list(oneOf('ids', 'requests')),
});

const group = record<ExpertGroup>({ expert, count: num, first: num });

/** A param's initialisation (`init-weights`), printed on its line. */
export const initCodec = tagged<ParamInfo['init'], 'kind'>('kind', { normal: { fanIn: num }, ones: {}, zeros: {}, scale: {} });

export const ATTRS: { readonly [O in BodyOp]: Codec<OpAttrs[O]> } = {
  add: none,
  mul: none,
  matmul: none,
  act: record({ fn: oneOf('sigmoid', 'silu', 'gelu', 'gelu_tanh', 'relu', 'identity'), alpha: opt(num), min: opt(num), max: opt(num), shift: opt(num) }),
  reshape: none,
  index: record({ i: num }),
  dequant: record({ bits: oneOf8or4() }),
  rmsnorm: record({ eps: num }),
  layernorm: record({ eps: num }),
  ffn: record({ expert: ffnExpert, index: opt(num) }),
  route,
  moe: record({ groups: list(group), block: str, layer: num }),
  softmax: none,
  mask: none,
  group_limit: record({ groups: num, keep: num, score: oneOf('max', 'top2'), dropped: opt(oneOf('zero')) }),
  group_mask: record({ size: num }),
  group_weight: record({ size: num }),
  topk: record({ k: num }),
  top_p: record({ p: num, max: num }),
  hash_select: record({ k: num, seed: num, width: num }),
  fixed_select: record({ experts: list(num) }),
  expert_choice: record({ capacity: num }),
  capacity: record({ factor: opt(num), limit: opt(num), drop: oneOf('overflow', 'score'), k: num, experts: num }),
  fill: record({ value: num, dtype }),
  repeat: record({ times: num }),
  drop: record({ entries: list(num) }),
  gather: none,
  normalize: none,
  scale: record({ factor: num }),
  pack_route: none,
  route_ids: none,
  route_weights: none,
  extend_route: range,
  count: record({ experts: num }),
  offsets: record({ block: num }),
  permute: record({ block: num }),
  inverse: none,
  gather_rows: none,
  grouped_matmul: range,
  grouped_copy: range,
  combine: none,
};

/** dequant's bit width, 8 or 4, as a number. */
function oneOf8or4(): Codec<8 | 4> {
  return {
    print: (v) => String(v),
    parse: (r) => {
      const v = r.number();
      return v === 8 || v === 4 ? v : r.fail(`expected 8 or 4, found ${v}`, r.previous());
    },
  };
}
