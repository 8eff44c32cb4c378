import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Graph, type Node } from '../src/ir/graph.js';
import { printGraph } from '../src/ir/print.js';
import { verifyGraph } from '../src/ir/verify.js';
import { verifyLowered } from '../src/ir/verify-lowered.js';
import { PASSES, runPipeline } from '../src/passes/pipeline.js';
import { planMemory } from '../src/passes/plan-memory.js';
import { planOffload } from '../src/passes/plan-offload.js';
import { examplesDir, exampleFiles, readExample, root } from './helpers.js';
import type { RunInputs } from '../src/runtime/reference/execute.js';
import { compileText, randomInput, randomWeights, relativeL2, run } from './support/model.js';
import { small } from './support/small.js';

/** Passes that re-associate a sum: same math, rounded differently (within the f32 tolerance, DESIGN.md §4). */
const reassociating = new Set(['fold-shared']);

function assertPassesPreserve(graph: Graph, inputs: RunInputs): void {
  // Biases start at zero; random ones make a misplaced selection bias or gate bias show.
  const weights = randomWeights(graph, 9);
  for (const [name, w] of weights) if (name.endsWith('bias')) weights.set(name, { ...w, data: randomInput(1, w.data.length, name.length).data });
  let before = run(graph, weights, inputs);
  for (let i = 1; i <= PASSES.length; i++) {
    const pass = PASSES[i - 1]!.name;
    const after = run(runPipeline(graph, { upTo: i }), weights, inputs);
    if (reassociating.has(pass)) expect(relativeL2(after, before), `after ${pass}`).toBeLessThan(1e-5);
    else expect(after.every((v, j) => Object.is(v, before[j])), `after ${pass}`).toBe(true);
    before = after;
  }
}

describe('passes never change results', () => {
  it.each(exampleFiles().filter((f) => f in small))('%s: each pass gives bit-identical outputs (fold-shared: < 1e-5 relative)', (name) => {
    const { graph } = compileText(readExample(name), small[name]);
    const width = graph.inputs[0]!.type.shape[1] as number;
    assertPassesPreserve(graph, { x: randomInput(7, width, 3), requests: Int32Array.from([0, 0, 0, 1, 1, 1, 1]) });
  });

  const routers: [string, string, string?, string?][] = [
    ['hash routing', 'hash(8, k = 2, seed = 5) | normalize'],
    ['fixed routing', 'fixed(8, experts = [6, 1])'],
    ['a gate bias and softmax after top-k', 'linear(hidden -> 8, bias = true) | topk(3) | softmax'],
    ['top-p with null experts', 'linear(hidden -> 8) | softmax | top_p(0.6, max = 4) | normalize', 'e x 6, none x 2'],
    ['expert choice across the batch', 'linear(hidden -> 8) | softmax | expert_choice(capacity = 2)', 'e x 8\n scope batch'],
    ['capacity by score per request', 'linear(hidden -> 8) | softmax | topk(2) | capacity(1.0, drop = score) | normalize', 'e x 8\n scope request'],
    ['capacity in a bf16 model', 'linear(hidden -> 8) | softmax | topk(2) | capacity(1.0)', 'e x 8\n scope batch', 'bf16'],
    ['a fixed capacity limit per request', 'linear(hidden -> 8) | softmax | topk(1) | capacity(limit = 1)', 'e x 8\n scope request'],
    ['a group limit whose dropped groups score 0', 'linear(hidden -> 8) | sigmoid | select_bias | group_limit(groups = 4, keep = 1, score = top2, dropped = zero) | topk(3) | normalize | scale(2.5)'],
  ];
  it.each(routers)('%s', (_name, pipeline, members = 'e x 8', dtype = 'f32') => {
    const { graph } = compileText(`model t {
      dims { hidden = 16 }
      dtype ${dtype}
      expert e = swiglu(hidden -> 8 -> hidden)
      expert none = null
      block moe {
        router gate = ${pipeline}
        experts ${members}
      }
      layers 2 { x = x + moe(x) }
    }`);
    assertPassesPreserve(graph, { x: randomInput(9, 16, 4), ids: Int32Array.from([3, 1, 4, 1, 5, 9, 2, 6, 5]), requests: Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 1]) });
  });

  // Union routers: the expert router runs inside the chosen groups, weights times the group's.
  const unions: [string, string, string, string?][] = [
    ['sigmoid scores inside the groups', 'linear(hidden -> 4) | softmax | topk(2)', 'linear(hidden -> 8) | sigmoid | topk(3) | normalize'],
    ['a selection bias and a group limit inside the groups', 'linear(hidden -> 4) | softmax | topk(2) | normalize | scale(2)', 'linear(hidden -> 8) | sigmoid | select_bias | group_limit(groups = 4, keep = 1) | topk(2)'],
    ['hashed groups', 'hash(4, k = 2, seed = 3)', 'linear(hidden -> 8) | softmax | topk(2)'],
    ['null experts and a capacity limit', 'linear(hidden -> 4) | sigmoid | topk(3)', 'linear(hidden -> 8, bias = true) | softmax | topk(2) | capacity(1.0) | normalize', 'e x 6, none x 2\n scope batch'],
  ];
  it.each(unions)('union routing: %s', (_name, group, expert, members = 'e x 8') => {
    const { graph } = compileText(`model t {
      dims { hidden = 16 }
      expert e = swiglu(hidden -> 8 -> hidden)
      expert none = null
      block moe {
        router g = ${group}
        router r = ${expert}
        experts ${members}
        topology union(group = g, expert = r)
      }
      layers 2 { x = x + moe(x) }
    }`);
    const lowered = runPipeline(graph, { upTo: 2 }).nodes.map((n) => n.op);
    expect(lowered).toContain('group_weight');
    if (!group.startsWith('hash')) expect(lowered).toContain('group_mask');
    assertPassesPreserve(graph, { x: randomInput(9, 16, 4), ids: Int32Array.from([3, 1, 4, 1, 5, 9, 2, 6, 5]) });
  });

  // A group limit anywhere among the scoring stages: later stages see only the live entries.
  const lateLimits: [string, string, string?][] = [
    ['softmax after the limit', 'linear(hidden -> 8) | group_limit(groups = 4, keep = 2) | softmax | topk(2) | normalize'],
    ['a bias and sigmoid after the limit', 'linear(hidden -> 8) | group_limit(groups = 4, keep = 2, score = top2) | select_bias | sigmoid | topk(3)'],
    ['a biased limit, then softmax and top-p', 'linear(hidden -> 8) | select_bias | group_limit(groups = 4, keep = 2) | softmax | top_p(0.5, max = 3)'],
    ['two limits', 'linear(hidden -> 8) | sigmoid | group_limit(groups = 4, keep = 3) | group_limit(groups = 2, keep = 1) | topk(2)'],
    ['expert choice after a limit', 'linear(hidden -> 8) | group_limit(groups = 2, keep = 1) | softmax | expert_choice(capacity = 2)', 'e x 8\n scope batch'],
  ];
  it.each(lateLimits)('late group limit: %s', (_name, pipeline, members = 'e x 8') => {
    const { graph } = compileText(`model t {
      dims { hidden = 16 }
      expert e = swiglu(hidden -> 8 -> hidden)
      block moe {
        router gate = ${pipeline}
        experts ${members}
      }
      layers 2 { x = x + moe(x) }
    }`);
    expect(runPipeline(graph, { upTo: 2 }).nodes.map((n) => n.op)).toContain('group_limit');
    assertPassesPreserve(graph, { x: randomInput(9, 16, 4) });
  });

  it('covers every example', () => {
    expect(exampleFiles().filter((f) => !(f in small))).toEqual([]);
  });
});

describe('pass goldens: the IR before and after each pass', () => {
  // DeepSeek-V3's structure at toy size: one dense layer, one group-limited MoE layer with a shared expert.
  const { graph } = compileText(readExample('deepseek-v3.moe'), { hidden: 8, dense_ffn: 12, expert_ffn: 4, experts: 16, layers_total: 2, first_dense: 1 });

  it('built', async () => {
    await expect(printGraph(graph)).toMatchFileSnapshot('golden/ir/00-built.ir');
  });
  it.each(PASSES.map((p, i) => [i + 1, p.name] as const))('after pass %i, %s', async (i, name) => {
    await expect(printGraph(runPipeline(graph, { upTo: i }))).toMatchFileSnapshot(`golden/ir/${String(i).padStart(2, '0')}-${name}.ir`);
  });
});

describe('lowering support and verification', () => {
  it.each(exampleFiles())('%s: after the pipeline only primitive ops remain', (name) => {
    const built = compileText(readExample(name), small[name]).graph;
    expect(verifyLowered(built).length).toBeGreaterThan(0);
    expect(verifyLowered(runPipeline(built))).toEqual([]);
  });

  it('verifyLowered names what is left, in the graph and inside kernel bodies', () => {
    const b = new GraphBuilder();
    const x = b.add('input', [], { name: 'x' }, { dtype: 'f32', shape: ['T', 4] });
    const w = b.param('w', { dtype: 'f32', shape: [4, 4] }, { kind: 'zeros' });
    const y = b.add('ffn', [x, w, w], { expert: { kind: 'ffn', name: 'e', gated: false, act: 'relu', input: 4, hidden: 4, output: 4 } });
    const k = b.add('kernel', [y, w, w], { name: 'k', body: [{ op: 'ffn', src: [0, 1, 2], attrs: y.attrs, type: y.type }] });
    expect(verifyLowered(b.finish('t', k)).map((p) => p.message)).toEqual(['%2 = ffn: not lowered to primitive ops', '%3 = kernel: body node %k0 is ffn, not a primitive op']);
  });

  it('the verifier reports a node whose type does not follow from its operands', () => {
    const b = new GraphBuilder();
    const x = b.add('input', [], { name: 'x' }, { dtype: 'f32', shape: ['T', 4] });
    const w = b.param('w', { dtype: 'f32', shape: [4, 3] }, { kind: 'zeros' });
    const good = b.add('matmul', [x, w], {});
    const broken: Node = { ...good, id: 99, type: { dtype: 'f32', shape: ['T', 4] } };
    const g: Graph = { ...b.finish('t', good), nodes: [x, w, good, broken], output: broken };
    expect(verifyGraph(g).map((p) => p.message)).toEqual(['%99 = matmul: type f32[T, 4] differs from the inferred f32[T, 3]']);
  });
});

describe('plans', () => {
  it('buffer reuse and fusion lower the activation memory', () => {
    const { graph } = compileText(readExample('deepseek-v3.moe'), small['deepseek-v3.moe']);
    const unfused = planMemory(runPipeline(graph, { upTo: PASSES.findIndex((p) => p.name === 'reroute') + 1 }), 64);
    const fused = planMemory(runPipeline(graph), 64);
    expect(unfused.peakBytes).toBeLessThan(unfused.naiveBytes);
    expect(fused.peakBytes).toBeLessThan(unfused.peakBytes);
    expect(fused.results).toBeLessThan(unfused.results);
  });

  it('the edge model keeps shared and dense experts resident, int4 fallbacks, and caches the rest', () => {
    const { model, graph } = compileText(readExample('edge-deepseek-v2-lite.moe'));
    const plan = planOffload(model, graph)!;
    const routedParams = 3 * 2048 * 1408;
    expect(plan.expertBytes).toBe(routedParams); // int8: one byte each
    expect(plan.cachedExperts).toBe(26 * 64);
    expect(plan.fallbackBytes).toBe(26 * 64 * routedParams * 0.5);
    expect(plan.cacheSlots).toBe(Math.floor((12 * 2 ** 30 - plan.residentBytes - plan.fallbackBytes) / plan.expertBytes));
    expect(plan.cacheSlotsPerLayer).toBe(Math.floor(plan.cacheSlots / 26));
    expect(plan.prefetch[0]).toEqual({ fromLayer: 1, toLayer: 2, top: 6 });
    expect(plan.prefetch).toHaveLength(25);
  });
});

describe('moec compile', () => {
  const moec = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: root });

  it('writes the IR, the DOT graph and the plans, and summarises them', () => {
    const out = mkdtempSync(join(tmpdir(), 'moec-compile-'));
    const r = moec('compile', join(examplesDir, 'edge-deepseek-v2-lite.moe'), '-o', out);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/offload: budget 12 GiB; resident .*cache \d+ of 1664 experts \(20 per MoE layer/);
    expect(readFileSync(join(out, 'edge_deepseek_v2_lite.ir'), 'utf8')).toContain('= kernel down_combine(');
    const plan = JSON.parse(readFileSync(join(out, 'edge_deepseek_v2_lite.plan.json'), 'utf8')) as { memory: { tokens: number }[] };
    expect(plan.memory.map((m) => m.tokens)).toEqual([1, 64, 4096]);
    expect(moec('compile', join(examplesDir, 'mixtral-8x7b.moe'), '-o', out, '--emit', 'dot').status).toBe(0);
    expect(readFileSync(join(out, 'mixtral_8x7b.dot'), 'utf8')).toMatch(/^digraph "mixtral_8x7b" \{/);
  });

  it('--print-after prints the IR after that pass; the output is deterministic', () => {
    const out = mkdtempSync(join(tmpdir(), 'moec-compile-'));
    const args = ['compile', join(examplesDir, 'olmoe-1b-7b.moe'), '-o', out, '--set', 'hidden=16', '--set', 'expert_ffn=8', '--print-after', 'reroute'];
    const a = moec(...args);
    expect(a.stdout).toMatch(/^\/\/ after reroute\ngraph olmoe_1b_7b \{/);
    expect(a.stdout).toContain('= permute(');
    expect(moec(...args).stdout).toBe(a.stdout);
    const noOpt = moec('compile', join(examplesDir, 'olmoe-1b-7b.moe'), '-o', out, '--no-opt', '--print-after', 'reroute');
    expect(noOpt.stderr).toContain('--print-after needs the passes');
    expect(moec('compile', join(examplesDir, 'olmoe-1b-7b.moe'), '-o', out, '--no-opt', '--target', 'none').stderr).toContain('IR nodes after 0 passes');
    const bad = moec('compile', join(examplesDir, 'olmoe-1b-7b.moe'), '-o', out, '--print-after', 'nope');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("no pass 'nope'; passes: fold-shared, lower-routers");
  });

  it('refuses a plan that does not fit, and writes nothing', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'moec-compile-')), 'o');
    const text = readFileSync(join(examplesDir, 'edge-deepseek-v2-lite.moe'), 'utf8').replace('budget = 12 GiB', 'budget = 4 GiB');
    const file = join(mkdtempSync(join(tmpdir(), 'moec-src-')), 'edge.moe');
    writeFileSync(file, text);
    const r = moec('compile', file, '-o', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the offload plan does not fit: .* exceed the 4 GiB budget/);
    expect(existsSync(out)).toBe(false);
  });
});
