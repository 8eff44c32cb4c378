import { describe, expect, it } from 'vitest';
import type { SourceFile } from '../src/diagnostics/source.js';
import { check, exampleFiles, readExample } from './helpers.js';

/** Replace offset spans by readable `line:col-line:col` strings for golden files. */
function readable(file: SourceFile, value: unknown): string {
  return JSON.stringify(
    value,
    (key, v: unknown) => {
      if ((key === 'span' || key === 'keywordSpan' || key === 'at') && v && typeof v === 'object' && 'start' in v) {
        const span = v as { start: number; end: number };
        const a = file.position(span.start);
        const b = file.position(span.end);
        return `${a.line}:${a.col}-${b.line}:${b.col}`;
      }
      return v;
    },
    2,
  );
}

describe('examples', () => {
  const files = exampleFiles();

  it('include every model the front-end issue names', () => {
    expect(files.length).toBeGreaterThanOrEqual(15);
  });

  describe.each(files)('%s', (name) => {
    const text = readExample(name);
    const { result, file } = check(text);

    it('checks cleanly', () => {
      expect(result.diagnostics).toEqual([]);
      expect(result.models).toHaveLength(1);
    });

    it('parses to the golden AST', async () => {
      await expect(`${readable(file, result.parse.ast)}\n`).toMatchFileSnapshot(`golden/ast/${name.replace(/\.moe$/, '.json')}`);
    });

    it('resolves to the golden model', async () => {
      await expect(`${readable(file, result.models[0])}\n`).toMatchFileSnapshot(`golden/model/${name.replace(/\.moe$/, '.json')}`);
    });
  });
});

describe('resolved model facts', () => {
  const model = (name: string) => check(readExample(name)).result.models[0]!;

  it('DeepSeek-V3: group-limited sigmoid routing with bias, 3 dense then 58 MoE layers', () => {
    const m = model('deepseek-v3.moe');
    expect(m.width).toBe(7168);
    expect(m.layers).toHaveLength(61);
    expect(m.layers.filter((l) => JSON.stringify(l).includes('"block":"moe"'))).toHaveLength(58);
    expect(m.blocks['moe']!.routers[0]!.stages).toEqual([
      { op: 'linear', input: 7168, width: 256, bias: false },
      { op: 'sigmoid' },
      { op: 'select_bias' },
      { op: 'group_limit', groups: 8, keep: 4, score: 'top2' },
      { op: 'topk', k: 8 },
      { op: 'normalize' },
      { op: 'scale', factor: 2.5 },
    ]);
    expect(m.blocks['moe']!.shared.slots).toEqual([{ expert: 'common', count: 1, first: 0 }]);
  });

  it('Switch: sparse odd layers, dense even layers, request scope', () => {
    const m = model('switch-base-8.moe');
    expect(m.layers.map((l) => l.statements[0]!.value)).toHaveLength(12);
    expect(JSON.stringify(m.layers[1])).toContain('"block":"moe"');
    expect(JSON.stringify(m.layers[0])).toContain('"expert":"mlp"');
    expect(m.blocks['moe']!.scope).toBe('request');
    expect(m.blocks['moe']!.routers[0]!.couplesTokens).toBe(true);
  });

  it('MH-MoE: experts and router work at width / heads', () => {
    const b = model('mh-moe.moe').blocks['moe']!;
    expect([b.width, b.expertWidth, b.topology]).toEqual([768, 192, { kind: 'multihead', heads: 4 }]);
  });

  it('HMoE: heterogeneous slots in router order', () => {
    const b = model('hmoe.moe').blocks['moe']!;
    expect(b.experts.map((s) => [s.expert, s.first, s.count])).toEqual([
      ['xs', 0, 2],
      ['s', 2, 2],
      ['m', 4, 2],
      ['l', 6, 2],
    ]);
  });

  it('edge model: offload policy in bytes', () => {
    const o = model('edge-deepseek-v2-lite.moe').offload!;
    expect(o.budgetBytes).toBe(12 * 2 ** 30);
    expect(o.resident).toEqual(['common', 'dense']);
    expect(o.onMiss).toEqual({ kind: 'degrade', dtype: 'int4' });
  });

  it('--set overrides shrink a real model and re-validate it', () => {
    const { result } = check(readExample('deepseek-v3.moe'), { hidden: 64, expert_ffn: 32, dense_ffn: 128, experts: 16 });
    expect(result.diagnostics.map((d) => d.code)).toEqual([]);
    const moe = result.models[0]!.blocks['moe']!;
    expect(moe.expertCount).toBe(16);
    // 8 experts in 8 groups leave one per group: too few for top-2 group scores.
    expect(check(readExample('deepseek-v3.moe'), { experts: 8 }).found.map((f) => f.code)).toEqual(['E0312']);
    // 32 experts, 8 groups of 4, keep 1: only 4 experts stay live for topk(8).
    const text = readExample('deepseek-v3.moe').replace('keep = 4', 'keep = 1');
    expect(check(text, { experts: 32 }).found.map((f) => f.code)).toEqual(['E0507']);
  });
});
