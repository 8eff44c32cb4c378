import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/interop/checkpoint.js';
import { planHfExport } from '../src/interop/hf/export.js';
import { planHfImport } from '../src/interop/hf/import.js';
import { stackToMoe } from '../src/interop/hf/moe-text.js';
import type { LayerKind, MoeStack } from '../src/interop/hf/stack.js';
import { writeHfCheckpoint } from '../src/interop/hf/write-checkpoint.js';
import { writeSafetensorsStreaming } from '../src/interop/safetensors-stream.js';
import { initWeights } from '../src/runtime/init-weights.js';
import { writeSafetensors } from '../src/runtime/safetensors.js';
import { compileText } from './support/model.js';

/**
 * Property: every stack a Hugging Face family expresses survives export and import unchanged
 * (the same model and the same stored bytes for every tensor), whatever its sizes, layer
 * pattern, router variant and dtype.
 */
const work = mkdtempSync(join(tmpdir(), 'moec-hf-prop-'));
let run = 0;

const layerPattern = (n: number, moeAt: (i: number) => boolean): LayerKind[] => Array.from({ length: n }, (_, i) => (moeAt(i) ? 'moe' : 'dense'));

const stacks: fc.Arbitrary<MoeStack> = fc
  .record({
    variant: fc.constantFrom('mixtral', 'qwen', 'qwen2', 'deepseek_v3', 'deepseek_v2', 'arctic'),
    layers: fc.integer({ min: 1, max: 4 }),
    experts: fc.constantFrom(4, 8),
    k: fc.integer({ min: 1, max: 3 }),
    ffn: fc.constantFrom(2, 6),
    normalize: fc.boolean(),
    scale: fc.constantFrom(1, 2.5),
    grouped: fc.boolean(),
    mask: fc.integer({ min: 1, max: 15 }),
    shared: fc.boolean(),
    bf16: fc.boolean(),
  })
  .map((r): MoeStack => {
    const base = { name: 'prop', notes: [], hidden: 8, eps: 1e-6, weights: r.bf16 ? ('BF16' as const) : ('F32' as const), kind: 'swiglu' as const };
    const topk = `topk(${r.k})`;
    const groups = `group_limit(groups = 2, keep = 1, score = ${r.variant === 'deepseek_v3' ? 'top2' : 'max'}, dropped = zero)`;
    const moe = { experts: r.experts, ffn: r.ffn, gateBias: false, selectBias: false };
    const some = (i: number) => ((r.mask >> i) & 1) === 1 || i === r.layers - 1;
    switch (r.variant) {
      case 'mixtral':
        return { ...base, moe: { ...moe, stages: `softmax | ${topk} | normalize` }, layers: layerPattern(r.layers, () => true) };
      case 'qwen':
      case 'qwen2': {
        const layers = layerPattern(r.layers, some);
        return { ...base, layers, ...(layers.includes('dense') ? { denseFfn: 10 } : {}), moe: { ...moe, stages: `softmax | ${topk}${r.normalize ? ' | normalize' : ''}`, ...(r.variant === 'qwen2' ? { shared: { ffn: 4, gate: true } } : {}) } };
      }
      case 'deepseek_v3':
      case 'deepseek_v2': {
        const first = r.mask % r.layers;
        const layers = layerPattern(r.layers, (i) => i >= first);
        const v3 = r.variant === 'deepseek_v3';
        const stages = [v3 ? 'sigmoid | select_bias' : 'softmax', ...(r.grouped ? [groups] : []), topk, ...(v3 && r.normalize ? ['normalize'] : []), ...(r.scale !== 1 ? [`scale(${r.scale})`] : [])];
        return { ...base, layers, ...(first > 0 ? { denseFfn: 10 } : {}), moe: { ...moe, selectBias: v3, stages: stages.join(' | '), ...(r.shared ? { shared: { ffn: 2 * r.ffn, gate: false } } : {}) } };
      }
      default:
        return { ...base, denseFfn: 8, layers: Array<LayerKind>(r.layers).fill('parallel'), moe: { ...moe, stages: `softmax | ${topk}${r.k > 1 ? ' | normalize' : ''}` } };
    }
  });

describe('moec export hf, then import hf', () => {
  it('gives back the same model and the same stored bytes for every expressible stack', () => {
    fc.assert(
      fc.property(stacks, (stack) => {
        const dir = join(work, String(run++));
        const text = stackToMoe(stack);
        const { model, graph } = compileText(text);
        const weights = initWeights(graph, run);
        const path = `${dir}.safetensors`;
        writeFileSync(path, writeSafetensors(weights));
        const plan = planHfExport(model, path, {});
        writeHfCheckpoint(`${dir}-hf`, { config: plan.config, tensors: plan.tensors, shardBytes: 1500 });
        plan.weights.close();
        const back = planHfImport(`${dir}-hf`, { semantics: 'hf', stack: 'encoder' });
        writeSafetensorsStreaming(`${dir}-back.safetensors`, back.tensors, {});
        back.checkpoint.close();
        // The model, but for its name and the comments naming where it came from.
        const body = (t: string) => t.slice(t.search(/^model /m)).replace(/^model \w+/, 'model');
        expect(body(back.text)).toBe(body(text));
        const [a, b] = [Checkpoint.open(path), Checkpoint.open(`${dir}-back.safetensors`)];
        expect(b.names().sort()).toEqual(a.names().sort());
        for (const n of a.names()) {
          expect(b.entry(n).dtype, n).toBe(a.entry(n).dtype);
          expect(Buffer.compare(b.readRaw(n), a.readRaw(n)), n).toBe(0);
        }
        a.close();
        b.close();
      }),
      { numRuns: 24, seed: 10 },
    );
    expect(readFileSync(`${join(work, '0')}.safetensors`).length).toBeGreaterThan(0);
  });
});
