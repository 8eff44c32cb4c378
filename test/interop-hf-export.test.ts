import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planHfExport } from '../src/interop/hf/export.js';
import { planHfImport } from '../src/interop/hf/import.js';
import { writeHfCheckpoint } from '../src/interop/hf/write-checkpoint.js';
import { writeSafetensorsStreaming } from '../src/interop/safetensors-stream.js';
import { Checkpoint } from '../src/interop/checkpoint.js';
import { initWeights } from '../src/runtime/init-weights.js';
import { readSafetensors, writeSafetensors } from '../src/runtime/safetensors.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { readExample, root } from './helpers.js';
import { compileText, randomInput, relativeL2, run } from './support/model.js';
import { tinyCheckpoint, tinySwitch } from './support/interop-hf.js';

/**
 * `moec export hf`: a model goes out as a Hugging Face checkpoint that `moec import hf` reads
 * back as the same model with byte-identical weights; models no family expresses are refused
 * with the construct named; `--base` carries the rest of the original checkpoint over.
 */
const work = mkdtempSync(join(tmpdir(), 'moec-hf-export-'));

function importTo(src: string, prefix: string, stack: 'encoder' | 'decoder' = 'encoder') {
  const plan = planHfImport(src, { semantics: 'hf', stack });
  const weights = `${prefix}.safetensors`;
  try {
    writeSafetensorsStreaming(weights, plan.tensors, { model: plan.stack.name });
  } finally {
    plan.checkpoint.close();
  }
  return { text: plan.text, weights };
}

function exportTo(text: string, weights: string, out: string, opts: { family?: string; base?: string; shardBytes?: number; stack?: 'encoder' | 'decoder' } = {}) {
  const { model } = compileText(text);
  const base = opts.base ? Checkpoint.open(opts.base) : undefined;
  const plan = planHfExport(model, weights, { ...(opts.stack ? { stack: opts.stack } : {}), ...(opts.family ? { family: opts.family } : {}), ...(opts.base ? { base: JSON.parse(readFileSync(join(opts.base, 'config.json'), 'utf8')) as Record<string, unknown> } : {}) });
  try {
    return { plan, ...writeHfCheckpoint(out, { config: plan.config, tensors: plan.tensors, shardBytes: opts.shardBytes ?? 4000, ...(base ? { base } : {}) }) };
  } finally {
    plan.weights.close();
    base?.close();
  }
}

const body = (text: string) => text.split('\n').slice(1).join('\n');

describe('moec export hf', () => {
  it.each(['mixtral', 'olmoe', 'qwen3_moe', 'qwen2_moe', 'deepseek_v2', 'deepseek_v3', 'arctic'])('%s: import, export, import gives the same model and byte-identical weights', (family) => {
    const { f, config } = tinyCheckpoint(family, 21);
    const src = join(work, `${family}-src`);
    f.write(src, config);
    const first = importTo(src, join(work, `${family}-a`));
    const out = join(work, `${family}-hf`);
    const { shards } = exportTo(first.text, first.weights, out, { family });
    expect(shards).toBeGreaterThan(1);
    expect(existsSync(join(out, 'model.safetensors.index.json'))).toBe(true);
    const second = importTo(out, join(work, `${family}-b`));
    expect(body(second.text)).toBe(body(first.text));
    expect(Buffer.compare(readFileSync(second.weights), readFileSync(first.weights))).toBe(0);
  });

  it('Switch Transformers (the encoder stack, its capacity limit per request): import, export, import', () => {
    const { f, config } = tinySwitch(25);
    const src = join(work, 'switch-src');
    f.write(src, config);
    const first = importTo(src, join(work, 'switch-a'));
    const out = join(work, 'switch-hf');
    expect(exportTo(first.text, first.weights, out, { base: src }).plan.family).toBe('switch_transformers');
    const second = importTo(out, join(work, 'switch-b'));
    expect(body(second.text)).toBe(body(first.text));
    expect(Buffer.compare(readFileSync(second.weights), readFileSync(first.weights))).toBe(0);
    // The decoder came over from the base unchanged.
    const decoder = planHfImport(out, { semantics: 'hf', stack: 'decoder' });
    decoder.checkpoint.close();
    expect(decoder.tensors.length).toBeGreaterThan(0);
  });

  it('Switch Transformers, the decoder stack (--stack decoder): import, export, import; the encoder comes over from the base', () => {
    const { f, config } = tinySwitch(26);
    const src = join(work, 'switch-dec-src');
    f.write(src, config);
    const first = importTo(src, join(work, 'switch-dec-a'), 'decoder');
    const out = join(work, 'switch-dec-hf');
    const { plan } = exportTo(first.text, first.weights, out, { base: src, stack: 'decoder' });
    expect(plan.config).toMatchObject({ num_decoder_layers: 4, decoder_sparse_step: 2, num_layers: 4, encoder_sparse_step: 2 });
    const second = importTo(out, join(work, 'switch-dec-b'), 'decoder');
    expect(body(second.text)).toBe(body(first.text));
    expect(Buffer.compare(readFileSync(second.weights), readFileSync(first.weights))).toBe(0);
    const [encoderBefore, encoderAfter] = [importTo(src, join(work, 'switch-enc-a')), importTo(out, join(work, 'switch-enc-b'))];
    expect(Buffer.compare(readFileSync(encoderAfter.weights), readFileSync(encoderBefore.weights))).toBe(0);
  });

  it('a model written in moec goes out as the first family that expresses it, and computes the same', () => {
    const { model, graph } = compileText(readExample('mixtral-8x7b.moe'), { hidden: 8, ffn: 6 });
    const weights = join(work, 'mixtral-example.safetensors');
    writeFileSync(weights, writeSafetensors(initWeights(graph, 3)));
    const out = join(work, 'mixtral-example-hf');
    const text = readExample('mixtral-8x7b.moe').replace('hidden = 4096', 'hidden = 8').replace('ffn = 14336', 'ffn = 6');
    expect(exportTo(text, weights, out).plan.family).toBe('mixtral');
    expect(model.name).toBe('mixtral_8x7b');
    const back = importTo(out, join(work, 'mixtral-example-back'));
    const load = (path: string) => new Map<string, Tensor>([...readSafetensors(readFileSync(path))].map(([n, t]) => [n, t.tensor]));
    const x = randomInput(5, 8, 1);
    const ours = run(graph, load(weights), { x });
    const theirs = run(compileText(back.text).graph, load(back.weights), { x });
    expect(relativeL2(theirs, ours)).toBeLessThan(1e-6);
  });

  const refused: [string, string, Record<string, number>, RegExp][] = [
    ['Chain-of-Experts', 'chain-of-experts.moe', {}, /topology chain has no Hugging Face equivalent/],

    ['heterogeneous experts', 'hmoe.moe', {}, /heterogeneous experts/],
    ['DeepSeek-V3 with excluded groups (DeepSeek semantics, not Hugging Face\'s)', 'deepseek-v3.moe', {}, /deepseek_v3: its config cannot express this router/],
  ];
  it('refuses a router no family has, with each family\'s reason', () => {
    const { model } = compileText(`model t {
      dims { hidden = 8, experts = 4 }
      expert e = swiglu(hidden -> 6 -> hidden)
      block moe {
        router gate = linear(hidden -> experts) | softmax | expert_choice(capacity = 1)
        experts e x experts
        scope request
      }
      layers 2 { x = x + moe(rmsnorm(x)) }
    }`);
    expect(() => planHfExport(model, join(work, 'unused.safetensors'), {})).toThrow(/no exact Hugging Face equivalent:[\s\S]*mixtral: its config cannot express this router \(linear \| softmax \| expert_choice\)/);
  });

  it.each(refused)('refuses %s, naming the construct', (_name, file, overrides, message) => {
    const { model, graph } = compileText(readExample(file), overrides);
    void graph;
    expect(() => planHfExport(model, join(work, 'unused.safetensors'), {})).toThrow(message);
  });

  it('--base carries attention, embeddings, other files and config fields over unchanged', () => {
    const { f, config } = tinyCheckpoint('olmoe', 22);
    const src = join(work, 'base-src');
    f.write(src, { ...config, architectures: ['OlmoeForCausalLM'] });
    writeFileSync(join(src, 'tokenizer.json'), '{"tokens": []}');
    const first = importTo(src, join(work, 'base-a'));
    const out = join(work, 'base-hf');
    const { carried } = exportTo(first.text, first.weights, out, { base: src });
    expect(carried).toBe(4);
    expect(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toBe('{"tokens": []}');
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg['num_attention_heads']).toBe(2);
    const outCp = Checkpoint.open(out);
    const srcCp = Checkpoint.open(src);
    for (const name of srcCp.names()) expect(outCp.read(name).tensor.data, name).toEqual(srcCp.read(name).tensor.data);
    outCp.close();
    srcCp.close();
  });

  it('on the command line: exit 0 with a summary, exit 1 naming the construct', () => {
    const moec = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: work });
    const { f, config } = tinyCheckpoint('deepseek_v3', 24);
    const src = join(work, 'cli-src');
    f.write(src, config);
    expect(moec('import', 'hf', src, '-o', join(work, 'cli.moe')).status).toBe(0);
    const ok = moec('export', 'hf', join(work, 'cli.moe'), '--weights', join(work, 'cli.safetensors'), '-o', join(work, 'cli-hf'), '--shard-size', '3000');
    expect(ok.stderr).toMatch(/wrote .*cli-hf as deepseek_v3: config.json and \d+ shards; the MoE\/FFN stack only/);
    expect(ok.status).toBe(0);
    const bad = moec('export', 'hf', join(root, 'examples', 'chain-of-experts.moe'), '--weights', join(work, 'cli.safetensors'), '-o', join(work, 'cli-chain'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/topology chain has no Hugging Face equivalent/);
    expect(existsSync(join(work, 'cli-chain'))).toBe(false);
  });

  it('a missing weights file is named', () => {
    const { model } = compileText(readExample('mixtral-8x7b.moe'), { hidden: 8, ffn: 6 });
    expect(() => planHfExport(model, join(work, 'nowhere.safetensors'), {})).toThrow(/cannot read '.*nowhere\.safetensors': no such file/);
  });

  it('refuses an output directory that is not empty, and writes nothing', () => {
    const { f, config } = tinyCheckpoint('mixtral', 23);
    const src = join(work, 'busy-src');
    f.write(src, config);
    const first = importTo(src, join(work, 'busy-a'));
    const out = join(work, 'busy-hf');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'x');
    expect(() => exportTo(first.text, first.weights, out)).toThrow(/exists and is not an empty directory/);
    expect(readdirSync(out)).toEqual(['keep.txt']);
  });
});
