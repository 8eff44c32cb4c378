/** Every example at test sizes. */
export const small: Record<string, Record<string, number>> = {
  'adamoe-mixtral.moe': { hidden: 16, ffn: 24 },
  'arctic.moe': { hidden: 16, expert_ffn: 8, experts: 8 },
  'chain-of-experts.moe': { hidden: 16, dense_ffn: 24, expert_ffn: 8, experts: 16 },
  'deepseek-v2.moe': { hidden: 16, dense_ffn: 24, expert_ffn: 8, experts: 16, layers_total: 6 },
  'deepseek-v3.moe': { hidden: 16, dense_ffn: 24, expert_ffn: 8, experts: 32, layers_total: 4, first_dense: 1 },
  'expert-choice.moe': { hidden: 16, ffn: 24, experts: 4, depth: 2 },
  'hmoe.moe': { hidden: 16 },
  'mh-moe.moe': { hidden: 16, experts: 8 },
  'mixtral-8x7b.moe': { hidden: 16, ffn: 24 },
  'olmoe-1b-7b.moe': { hidden: 16, expert_ffn: 8, experts: 8 },
  'qwen1.5-moe-a2.7b.moe': { hidden: 16, expert_ffn: 8, shared_ffn: 24, experts: 12 },
  'qwen3-30b-a3b.moe': { hidden: 16, expert_ffn: 8, experts: 16 },
  'switch-base-8.moe': { hidden: 16, ffn: 24, experts: 4, depth: 4 },
  'union-of-experts.moe': { hidden: 16, inner: 48 },
  'edge-deepseek-v2-lite.moe': { hidden: 16, dense_ffn: 24, expert_ffn: 8, experts: 16 },
  'gpt-oss-20b.moe': { hidden: 16, ffn: 8, experts: 8 },
};

