import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../src/checker/check.js';
import { SourceFile } from '../src/diagnostics/source.js';
import { buildGraph } from '../src/ir/from-model.js';
import { PASSES, runPipeline } from '../src/passes/pipeline.js';
import { randomInput, randomWeights, relativeL2, run } from './support/model.js';

/**
 * Random valid models, assembled from the language's pieces (expert kinds with rank and latent
 * options, router stages, every topology, shared experts, norms, parallel residuals), must
 * give the same outputs after every pass: bit for bit, or within f32 rounding for fold-shared.
 * Generated texts the checker rejects are skipped; most are accepted.
 */
const width = 8;

const expertKind = fc.record({
  kind: fc.constantFrom('swiglu', 'geglu', 'relu', 'gelu', 'silu', 'gelu_tanh'),
  hidden: fc.constantFrom(4, 6),
  option: fc.constantFrom('', ', rank = 2', ', latent = 4'),
});

const scoring = fc.constantFrom('softmax', 'sigmoid | select_bias', 'softmax | select_bias', 'sigmoid');
const selection = fc.constantFrom('topk(1)', 'topk(2)', 'topk(3)', 'top_p(0.5, max = 3)', 'group_limit(groups = 2, keep = 1) | topk(2)', 'group_limit(groups = 4, keep = 2, score = top2) | topk(3)',
  // A group limit followed by more scoring: later stages see only the live entries.
  'group_limit(groups = 4, keep = 2) | softmax | topk(2)', 'group_limit(groups = 2, keep = 1) | sigmoid | top_p(0.5, max = 3)');
const weighting = fc.subarray(['normalize', 'scale(1.5)'], { minLength: 0, maxLength: 2 });

const model = fc
  .record({
    routed: expertKind,
    second: fc.option(expertKind, { nil: undefined }),
    nulls: fc.constantFrom(0, 2),
    identity: fc.boolean(),
    scoring,
    selection,
    weighting,
    softmaxAfter: fc.boolean(),
    capacity: fc.constantFrom('', ' | capacity(1.0)', ' | capacity(0.5, drop = score)'),
    topology: fc.constantFrom('standard', 'chain(iterations = 2)', 'chain(iterations = 2, residual = false)', 'multihead(heads = 2)', 'union(group = groups, expert = gate)'),
    shared: fc.constantFrom('', 'shared s', 'shared s gate sigmoid', 'shared s x 2'),
    norm: fc.constantFrom('rmsnorm', 'layernorm'),
    parallel: fc.boolean(),
    layers: fc.constantFrom(1, 2),
  })
  .map((m) => {
    const heads = m.topology.startsWith('multihead') ? 2 : 1;
    const sub = width / heads;
    const experts = 8 - m.nulls - (m.identity ? 1 : 0) - (m.second ? 2 : 0);
    const members = [`a x ${experts}`, ...(m.second ? ['b x 2'] : []), ...(m.identity ? ['same'] : []), ...(m.nulls ? [`none x ${m.nulls}`] : [])].join(', ');
    const pipeline = [`linear(sub -> 8)`, m.scoring, m.selection, ...(m.softmaxAfter ? ['softmax'] : []), ...m.weighting].join(' | ') + m.capacity;
    const coupled = m.capacity !== '';
    const expert = (name: string, e: { kind: string; hidden: number; option: string }) => `expert ${name} = ${e.kind}(sub -> ${e.hidden} -> sub${e.option})`;
    return `model t {
  dims { hidden = ${width}, sub = ${sub} }
  ${expert('a', m.routed)}
  ${m.second ? expert('b', m.second) : ''}
  expert same = identity
  expert none = null
  expert s = swiglu(hidden -> 6 -> hidden)
  expert dense = relu(hidden -> 6 -> hidden)
  block moe {
    router gate = ${pipeline}
    ${m.topology.startsWith('union') ? 'router groups = linear(sub -> 2) | softmax | topk(1)' : ''}
    experts ${members}
    topology ${m.topology}
    ${heads === 1 ? m.shared : ''}
    ${coupled ? 'scope request' : ''}
  }
  layers ${m.layers} {
    x = x + moe(${m.norm}(x))${m.parallel ? ` + dense(${m.norm}(x))` : ''}
  }
}`;
  });

describe('random models', () => {
  it('every pass preserves results', () => {
    let accepted = 0;
    fc.assert(
      fc.property(model, fc.integer({ min: 1, max: 9 }), (text, tokens) => {
        const result = checkSource(new SourceFile('random.moe', text));
        if (result.diagnostics.some((d) => d.severity === 'error')) return;
        accepted++;
        const graph = buildGraph(result.models[0]!);
        const weights = randomWeights(graph, 3);
        const inputs = { x: randomInput(tokens, width, tokens), requests: Int32Array.from({ length: tokens }, (_, i) => i % 2) };
        let before = run(graph, weights, inputs);
        expect(before.every(Number.isFinite)).toBe(true);
        for (let i = 1; i <= PASSES.length; i++) {
          const after = run(runPipeline(graph, { upTo: i }), weights, inputs);
          if (PASSES[i - 1]!.name === 'fold-shared') expect(relativeL2(after, before)).toBeLessThan(1e-5);
          else expect(after.every((v, j) => Object.is(v, before[j])), `${PASSES[i - 1]!.name}\n${text}`).toBe(true);
          before = after;
        }
      }),
      { numRuns: Number(process.env['FUZZ_RUNS'] ?? 150) },
    );
    expect(accepted).toBeGreaterThan(Number(process.env["FUZZ_RUNS"] ?? 150) / 3);
    console.log(`random models: ${accepted} accepted`);
  });
});
