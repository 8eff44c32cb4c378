import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { formatSource } from '../src/format/format.js';
import { Checkpoint } from '../src/interop/checkpoint.js';
import { OnnxGraph } from '../src/interop/onnx/builder.js';
import { exportOnnx } from '../src/interop/onnx/export.js';
import { initWeights } from '../src/runtime/init-weights.js';
import { writeSafetensors } from '../src/runtime/safetensors.js';
import { root } from './helpers.js';
import { compileText, randomInput, randomWeights, relativeL2, run } from './support/model.js';

/**
 * `moec export onnx`: every exported graph runs in onnxruntime-node and agrees with the CPU
 * reference (relative L2 < 1e-5), through com.microsoft.MoE where it applies and standard
 * ops elsewhere.
 */
const work = mkdtempSync(join(tmpdir(), 'moec-onnx-'));
const H = 16;

function model(kind: string, router: string, extra = '', layers = 'layers 2 { x = x + moe(rmsnorm(x)) }', dims = '') {
  return `model t {
    dims { hidden = ${H}, experts = 8 ${dims} }
    expert e = ${kind}(hidden -> 12 -> hidden)
    expert dense = ${kind}(hidden -> 20 -> hidden)
    expert common = ${kind}(hidden -> 10 -> hidden)
    block moe {
      router gate = linear(hidden -> experts) | ${router}
      experts e x experts
      ${extra}
    }
    ${layers}
  }`;
}

async function agree(text: string, opts: { standardOnly?: boolean } = {}) {
  const { model: m, graph } = compileText(text);
  const path = join(work, `w-${Math.random().toString(36).slice(2)}.safetensors`);
  const weights = initWeights(graph, 5);
  writeFileSync(path, writeSafetensors(weights));
  const cp = Checkpoint.open(path);
  const out = exportOnnx(m, cp, opts);
  cp.close();
  const x = randomInput(11, H, 2);
  const ours = run(graph, new Map([...weights].map(([n, w]) => [n, w.tensor])), { x });
  const session = await ort.InferenceSession.create(out.bytes);
  const theirs = (await session.run({ x: new ort.Tensor('float32', x.data as Float32Array, [11, H]) }))['y']!.data as Float32Array;
  return { error: relativeL2(theirs, ours), fused: out.fusedLayers };
}

const cases: [string, string, boolean][] = [
  ['Mixtral: softmax, top-2, renormalised, SwiGLU', model('swiglu', 'softmax | topk(2) | normalize'), true],
  ['ReLU experts with a shared expert', model('relu', 'softmax | topk(3) | normalize', 'shared common'), true],
  ['tanh-GELU experts', model('gelu_tanh', 'softmax | topk(2) | normalize'), true],
  ['OLMoE: no renormalisation (standard ops: onnxruntime\'s MoE is wrong there)', model('swiglu', 'softmax | topk(3)'), false],
  ['Qwen2-MoE: a sigmoid-gated shared expert, a dense layer', model('swiglu', 'softmax | topk(2)', 'shared common gate sigmoid', 'layers 0..1 { x = x + dense(rmsnorm(x)) }\n layers 1..3 { x = x + moe(rmsnorm(x)) }'), false],
  ['DeepSeek-V3, Hugging Face groups', model('swiglu', 'sigmoid | select_bias | group_limit(groups = 4, keep = 2, score = top2, dropped = zero) | topk(3) | normalize | scale(2.5)', 'shared common'), false],
  ['DeepSeek-V3, excluded groups', model('swiglu', 'sigmoid | select_bias | group_limit(groups = 4, keep = 2, score = top2) | topk(3) | normalize | scale(2.5)', 'shared common'), false],
  ['DeepSeek-V2: max groups, scaled', model('swiglu', 'softmax | group_limit(groups = 4, keep = 2) | topk(3) | scale(16)'), false],
  ['Arctic: parallel dense and MoE', model('swiglu', 'softmax | topk(2) | normalize', '', 'layers 2 { x = x + dense(rmsnorm(x)) + moe(rmsnorm(x)) }'), true],
  ['erf GELU, softmax after top-k', model('gelu', 'topk(2) | softmax'), false],
  [
    'gpt-oss: biased router, top-k then softmax; biased experts with the clamped SwiGLU (standard ops)',
    model('swiglu', 'topk(3) | softmax', '', undefined, '').replace('swiglu(hidden -> 12 -> hidden)', 'swiglu(hidden -> 12 -> hidden, bias = true, alpha = 1.702, beta = 1, limit = 0.5)').replace('linear(hidden -> experts)', 'linear(hidden -> experts, bias = true)'),
    false,
  ],
];

describe('moec export onnx runs in onnxruntime-node and agrees with the CPU reference', () => {
  it.each(cases)('%s', async (_name, text, fused) => {
    const r = await agree(text);
    expect(r.fused > 0).toBe(fused);
    expect(r.error).toBeLessThan(1e-5);
    if (fused) expect((await agree(text, { standardOnly: true })).error).toBeLessThan(1e-5);
  });

  it('moec export onnx on the command line writes a model onnxruntime loads, and moec import onnx reads it back', async () => {
    const file = join(work, 'cli.moe');
    writeFileSync(file, model('swiglu', 'softmax | topk(2) | normalize'));
    const moec = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: work });
    expect(moec('init-weights', file, '--seed', '1', '-o', join(work, 'cli.safetensors')).status).toBe(0);
    const r = moec('export', 'onnx', file, '--weights', join(work, 'cli.safetensors'), '-o', join(work, 'cli.onnx'));
    expect(r.stderr).toMatch(/wrote .*cli\.onnx \(2 MoE layers as com\.microsoft\.MoE\)/);
    expect(r.status).toBe(0);
    const session = await ort.InferenceSession.create(readFileSync(join(work, 'cli.onnx')));
    expect(session.inputNames).toEqual(['x']);
    const back = moec('import', 'onnx', join(work, 'cli.onnx'), '-o', join(work, 'back.moe'));
    expect(back.status, back.stderr).toBe(0);
    const formatted = formatSource(readFileSync(file, 'utf8'));
    expect(formatted.ok && readFileSync(join(work, 'back.moe'), 'utf8')).toBe(formatted.ok && formatted.text);
    const ran = moec('run', join(work, 'back.moe'), '--weights', join(work, 'back.safetensors'), '--random-input', '3', '-o', join(work, 'back-y.safetensors'));
    expect(ran.status, ran.stderr).toBe(0);
  });

  it('refuses what it cannot export yet, naming it', () => {
    const { model: m } = compileText(model('swiglu', 'softmax | topk(1) | capacity(limit = 2)', 'scope request'));
    const path = join(work, 'cap.safetensors');
    writeFileSync(path, writeSafetensors(new Map()));
    const cp = Checkpoint.open(path);
    expect(() => exportOnnx(m, cp)).toThrow(/router stage capacity cannot be exported to ONNX yet/);
    cp.close();
  });

  it.each([
    [0, 'softmax | topk(2)'],
    [1, 'softmax | topk(2) | normalize'],
  ])("onnxruntime 1.30's com.microsoft.MoE after another node, normalize_routing_weights = %i: wrong without renormalisation (why such routers use standard ops)", async (normalize, router) => {
    // rmsnorm -> MoE -> residual, as a hand-built graph; with renormalisation it agrees (the control).
    const text = model('relu', router, '', 'layers 1 { x = x + moe(rmsnorm(x)) }');
    const { graph } = compileText(text);
    const weights = randomWeights(graph, 5);
    const get = (n: string) => weights.get(n)!.data as Float32Array;
    const g = new OnnxGraph();
    const ms = g.node('ReduceMean', [g.node('Mul', ['x', 'x'])], { axes: [-1], keepdims: 1 });
    const h = g.node('Mul', [g.node('Mul', ['x', g.node('Div', [g.scalar(1), g.node('Sqrt', [g.node('Add', [ms, g.scalar(1e-6)])])])]), g.floats('g', [H], get('layers.0.rmsnorm.weight'))]);
    const tr = (w: Float32Array, a: number, b: number) => Float32Array.from({ length: w.length }, (_, i) => {
      const [e, j, k] = [Math.floor(i / (a * b)), Math.floor((i % (a * b)) / a), i % a];
      return w[e * a * b + k * b + j]!;
    });
    const moe = g.node(
      'MoE',
      [h, g.node('MatMul', [h, g.floats('gate', [H, 8], get('layers.0.moe.gate.weight'))]), g.floats('fc1', [8, 12, H], tr(get('layers.0.moe.experts.e.w_up'), H, 12)), '', g.floats('fc2', [8, H, 12], tr(get('layers.0.moe.experts.e.w_down'), 12, H))],
      { k: 2, normalize_routing_weights: normalize, activation_type: 'relu' },
      'com.microsoft',
    );
    const bytes = g.encode('t', H, g.node('Add', ['x', moe]), 'bug');
    const x = randomInput(11, H, 2);
    const session = await ort.InferenceSession.create(bytes);
    const theirs = (await session.run({ x: new ort.Tensor('float32', x.data as Float32Array, [11, H]) }))['y']!.data as Float32Array;
    // If this starts to agree, onnxruntime has fixed it: routers without normalize may then use the op too.
    const error = relativeL2(theirs, run(graph, weights, { x }));
    if (normalize) expect(error).toBeLessThan(1e-5);
    else expect(error).toBeGreaterThan(1e-3);
  });
});
