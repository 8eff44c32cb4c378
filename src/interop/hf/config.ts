import { UserError } from '../../diagnostics/user-error.js';

/** A config.json or checkpoint that cannot be imported (or exported): exit status 1, nothing written. */
export class InteropError extends UserError {}

/** The language's layer limit (docs/language.md, E0701). */
const MAX_LAYERS = 10_000;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Reads a Hugging Face config.json field by field. Every field must be accounted for: read
 * (`int`, `number`, ...), or declared as having no effect on what moec computes (`ignore`,
 * with the reason). `finish` reports the fields left over, so a field this importer does not
 * understand is an error naming it, never silently dropped.
 */
export class ConfigReader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly fields: Readonly<Record<string, Json>>,
    readonly path: string,
  ) {}

  static parse(text: string, path: string): ConfigReader {
    let json: Json;
    try {
      json = JSON.parse(text) as Json;
    } catch (e) {
      throw new InteropError(`${path}: not valid JSON: ${(e as Error).message}`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new InteropError(`${path}: expected a JSON object`);
    return new ConfigReader(json, path);
  }

  has(name: string): boolean {
    const v = this.fields[name];
    return v !== undefined && v !== null;
  }

  private take(name: string): Json | undefined {
    this.seen.add(name);
    const v = this.fields[name];
    return v === null ? undefined : v;
  }

  private fail(name: string, what: string): never {
    throw new InteropError(`${this.path}: field '${name}' ${what}`);
  }

  /** A positive integer (or a non-negative one with `min = 0`); required unless `fallback` is given. */
  int(name: string, fallback?: number, min = 1): number {
    const v = this.take(name);
    if (v === undefined) return fallback ?? this.fail(name, 'is missing');
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.fail(name, `must be an integer of at least ${min}, not ${JSON.stringify(v)}`);
    return v;
  }

  /** A layer count, within what the language accepts (E0701). */
  layers(name: string, fallback?: number): number {
    const n = this.int(name, fallback);
    if (n > MAX_LAYERS) this.fail(name, `is ${n}; moec models have at most ${MAX_LAYERS} layers`);
    return n;
  }

  number(name: string, fallback?: number): number {
    const v = this.take(name);
    if (v === undefined) return fallback ?? this.fail(name, 'is missing');
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(name, `must be a finite number, not ${JSON.stringify(v)}`);
    return v;
  }

  bool(name: string, fallback?: boolean): boolean {
    const v = this.take(name);
    if (v === undefined) return fallback ?? this.fail(name, 'is missing');
    if (typeof v !== 'boolean') this.fail(name, `must be true or false, not ${JSON.stringify(v)}`);
    return v;
  }

  /** One of `choices`; required unless `fallback` is given. */
  choice<T extends string>(name: string, choices: readonly T[], fallback?: T): T {
    const v = this.take(name);
    if (v === undefined) return fallback ?? this.fail(name, `is missing (one of ${choices.join(', ')})`);
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) this.fail(name, `is ${JSON.stringify(v)}; moec imports ${choices.map((c) => JSON.stringify(c)).join(', ')}`);
    return v as T;
  }

  ints(name: string, fallback: number[]): number[] {
    const v = this.take(name);
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || !v.every((i) => typeof i === 'number' && Number.isSafeInteger(i) && i >= 0)) this.fail(name, `must be a list of layer indices, not ${JSON.stringify(v)}`);
    return v as number[];
  }

  /** The raw value of a field read only to compare it (it still counts as read). */
  raw(name: string): Json | undefined {
    return this.take(name);
  }

  /** Fields that do not change what moec computes (attention, embeddings, training). */
  ignore(names: readonly string[]): void {
    for (const n of names) this.seen.add(n);
  }

  /** A field whose only value moec can reproduce is `expected` (or absent). */
  expect(name: string, expected: Json, why: string): void {
    const v = this.take(name);
    if (v !== undefined && JSON.stringify(v) !== JSON.stringify(expected)) this.fail(name, `is ${JSON.stringify(v)}; ${why}`);
  }

  /** Every field not read or ignored is an error that names it. */
  finish(family: string): void {
    const left = Object.keys(this.fields).filter((k) => !this.seen.has(k)).sort();
    if (left.length) {
      throw new InteropError(`${this.path}: ${left.length === 1 ? 'field' : 'fields'} ${left.map((f) => `'${f}'`).join(', ')} ${left.length === 1 ? 'is' : 'are'} not understood by moec's ${family} importer; nothing was written (a field moec does not map could change the model's meaning)`);
    }
  }
}

/** A model name the user chose, checked as the language reads names. */
export function modelName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new InteropError(`--name '${name}' is not a model name: letters, digits and _, not starting with a digit`);
  return name;
}

/** Text for a // comment: one line whatever the path holds. */
export function commentText(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]/g, '?');
}

/**
 * Fields of every transformers config that do not change the FFN/MoE stack's arithmetic:
 * bookkeeping, tokens and generation, attention, positions, embeddings and training.
 */
export const COMMON_IGNORED = [
  // bookkeeping
  'architectures', 'model_type', 'transformers_version', '_name_or_path', 'auto_map', 'torch_dtype', 'dtype', 'is_encoder_decoder',
  'return_dict', 'output_hidden_states', 'output_attentions', 'torchscript', 'use_return_dict', 'chunk_size_feed_forward', 'tie_encoder_decoder',
  'id2label', 'label2id', 'problem_type', 'tokenizer_class', 'prefix', 'task_specific_params', 'finetuning_task', 'pruned_heads', 'is_decoder',
  'add_cross_attention', 'cross_attention_hidden_size', 'architecture', 'use_bfloat16', 'model_name',
  // tokens, generation, embeddings
  'vocab_size', 'pad_token_id', 'bos_token_id', 'eos_token_id', 'decoder_start_token_id', 'sep_token_id', 'tie_word_embeddings', 'use_cache',
  'max_length', 'min_length', 'do_sample', 'early_stopping', 'num_beams', 'temperature', 'top_k', 'top_p', 'repetition_penalty',
  'length_penalty', 'no_repeat_ngram_size', 'bad_words_ids', 'num_return_sequences', 'typical_p', 'diversity_penalty', 'num_beam_groups',
  'forced_bos_token_id', 'forced_eos_token_id', 'remove_invalid_values', 'exponential_decay_length_penalty', 'suppress_tokens',
  'begin_suppress_tokens', 'encoder_no_repeat_ngram_size', 'output_scores', 'return_dict_in_generate', 'initializer_factor',
  // attention and positions
  'num_attention_heads', 'num_key_value_heads', 'head_dim', 'attention_dropout', 'attention_bias', 'rope_theta', 'rope_scaling',
  'rope_parameters', 'max_position_embeddings', 'sliding_window', 'use_sliding_window', 'max_window_layers', 'layer_types', 'qkv_bias',
  'q_lora_rank', 'kv_lora_rank', 'qk_nope_head_dim', 'qk_rope_head_dim', 'v_head_dim', 'qk_layernorm', 'clip_qkv', 'rope_interleave',
  'pretraining_tp', 'attn_implementation', '_attn_implementation_autoset', 'd_kv', 'num_heads', 'relative_attention_num_buckets',
  'relative_attention_max_distance', 'partial_rotary_factor',
  // training only
  'initializer_range', 'router_aux_loss_coef', 'output_router_logits', 'aux_loss_alpha', 'seq_aux', 'router_z_loss_coef', 'dropout_rate',
  'hidden_dropout', 'embd_pdrop', 'resid_pdrop', 'gradient_checkpointing', 'router_jitter_noise',
] as const;
