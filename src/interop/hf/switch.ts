import { COMMON_IGNORED } from './config.js';
import { plainKind, weightDtype, type Family } from './family.js';
import type { LayerKind, MoeStack } from './stack.js';
import type { HfLayout } from './weights.js';

/**
 * Switch Transformers (transformers SwitchTransformersSparseMLP), one stack of the
 * encoder-decoder at a time (`--stack`). Each block's FFN sublayer is
 * `x + mlp(layer_norm(x))` (T5's norm is an rmsnorm); layer i is sparse when
 * `i % sparse_step == 1` (every layer with a step of 1). The router takes the argmax of a
 * softmax, weighted by its probability; each expert takes at most `expert_capacity` tokens of
 * each sequence, in order: `capacity(limit = expert_capacity)` with `scope request`.
 */
export const switchTransformers: Family = {
  modelTypes: ['switch_transformers'],
  read(c, opts) {
    c.ignore(COMMON_IGNORED);
    // Training-only or derived fields: losses, padding handling the forward pass does not use, and
    // the counts of sparse layers that the sparse steps already decide.
    c.ignore(['router_ignore_padding_tokens', 'add_router_probs', 'num_sparse_encoder_layers', 'num_sparse_decoder_layers', 'feed_forward_proj']);
    // Fields of the original (T5X) release that transformers' forward never reads: its router is always top-1 token choice.
    c.ignore(['router_type', 'num_selected_experts', 'batch_prioritized_routing']);
    c.expect('is_gated_act', false, 'the Switch sparse MLP has no gated projection');
    c.expect('router_dtype', 'float32', 'moec computes routers in f32');
    const decoder = opts.stack === 'decoder';
    // The other stack's fields describe what this import leaves out.
    c.ignore(decoder ? ['encoder_sparse_step'] : ['num_decoder_layers', 'decoder_sparse_step']);
    const layers = decoder ? c.layers('num_decoder_layers', c.layers('num_layers', 12)) : c.layers('num_layers', 12);
    const step = c.int(decoder ? 'decoder_sparse_step' : 'encoder_sparse_step', 1, 0);
    const kinds = Array.from({ length: layers }, (_, i): LayerKind => (step > 0 && (i % step === 1 || step === 1) ? 'moe' : 'dense'));
    const eps = c.number('layer_norm_epsilon', 1e-6);
    const ffn = c.int('d_ff', 2048);
    const kind = plainKind(c, 'dense_act_fn');
    const stack: MoeStack = {
      name: opts.name,
      notes: [
        `Switch Transformers ${opts.stack} stack (transformers SwitchTransformersSparseMLP): top-1 of a softmax weighted by its probability, at most expert_capacity tokens per expert and sequence.`,
        'Attention, embeddings, the other stack and the final norm are outside the language: only the FFN/MoE sublayers, their norms and residuals are here.',
      ],
      hidden: c.int('d_model', 512),
      eps,
      weights: weightDtype(c),
      kind,
      layers: kinds,
      ...(kinds.includes('dense') ? { denseFfn: ffn } : {}),
      ...(kinds.includes('moe')
        ? { moe: { experts: c.int('num_experts', 8), ffn, stages: `softmax | topk(1) | capacity(limit = ${c.int('expert_capacity', 64)})`, gateBias: c.bool('router_bias', false), selectBias: false, scope: 'request' as const } }
        : {}),
    };
    c.finish('switch_transformers');
    const at = (i: number) => `${opts.stack}.block.${i}.layer.${decoder ? 2 : 1}.`;
    const proj = { gate: 'wi', up: 'wi', down: 'wo' } as const;
    const layout: HfLayout = {
      norm: (i) => `${at(i)}layer_norm.weight`,
      dense: (i, role) => `${at(i)}mlp.${proj[role]}.weight`,
      router: (i) => `${at(i)}mlp.router.classifier.weight`,
      routerBias: (i) => `${at(i)}mlp.router.classifier.bias`,
      expert: (i, e, role) => `${at(i)}mlp.experts.expert_${e}.${proj[role]}.weight`,
    };
    return { stack, layout };
  },
};
