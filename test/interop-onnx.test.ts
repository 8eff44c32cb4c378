import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { formatSource } from '../src/format/format.js';
import { OnnxGraph } from '../src/interop/onnx/builder.js';
import { readSafetensors, STORED_BYTES } from '../src/runtime/safetensors.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { exampleFiles, readExample, root } from './helpers.js';
import { exportAndRun, expectRoundTrip, type TokenInputs } from './support/interop-onnx.js';
import { small } from './support/small.js';
import { compileText, randomInput, randomWeights, relativeL2, run } from './support/model.js';

/**
 * `moec export onnx`: every exported graph runs in onnxruntime-node and agrees with the CPU
 * reference (relative L2 < 1e-5), through com.microsoft.MoE where it applies and standard
 * ops elsewhere; `moec import onnx` of each gives back the same model and weights.
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
  const r = await exportAndRun(text, opts);
  expectRoundTrip(r.bytes, text, r.weights);
  return { error: r.error, fused: r.fusedLayers };
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

/** Requests in no particular order, a negative id among them: coupling stays within each. */
const requests = Int32Array.from({ length: 11 }, (_, i) => ((i * 5) % 3) - 1);

const constructs: [string, string, TokenInputs?][] = [
  ['capacity factor, overflow drops the latest, per request', model('swiglu', 'softmax | topk(2) | capacity(factor = 2)', 'scope request'), { requests }],
  ['capacity factor, score drops the lightest, whole batch', model('relu', 'softmax | topk(2) | capacity(factor = 0.75, drop = score)', 'scope batch')],
  ['capacity limit (Switch), per request', model('relu', 'softmax | topk(1) | capacity(limit = 2)', 'scope request'), { requests }],
  ['expert choice per request', model('swiglu', 'softmax | expert_choice(capacity = 4)', 'scope request'), { requests }],
  ['expert choice over the batch, then normalize', model('gelu', 'sigmoid | expert_choice(capacity = 1.5) | normalize', 'scope batch')],
  ['top_p (dynamic k)', model('swiglu', 'softmax | top_p(0.5, max = 4)')],
  ['top_p after a group limit, scaled', model('silu', 'softmax | group_limit(groups = 4, keep = 2) | top_p(0.7, max = 3) | scale(2)')],
  ['hash routing (token ids)', model('swiglu', 'x').replace('linear(hidden -> experts) | x', 'hash(experts, k = 3, seed = 11)')],
  ['fixed routing', model('relu', 'x').replace('linear(hidden -> experts) | x', 'fixed(experts, experts = [6, 1])')],
  ['null and identity experts among FFN experts of two sizes', model('swiglu', 'softmax | topk(3) | normalize', '', undefined).replace('experts e x experts', 'experts e x 4, big x 2, same x 1, none x 1').replace('expert dense', 'expert big = swiglu(hidden -> 30 -> hidden)\n expert same = identity\n expert none = null\n expert dense')],
  ['low-rank and latent experts, biased', model('geglu', 'softmax | topk(2)').replace('geglu(hidden -> 12 -> hidden)', 'geglu(hidden -> 12 -> hidden, rank = 4, bias = true)').replace('expert common = geglu(hidden -> 10 -> hidden)', 'expert common = geglu(hidden -> 10 -> hidden, latent = 6)') + ''],
  ['int8 experts', model('swiglu', 'softmax | topk(2) | normalize').replace('dims', 'weights int8\n dims')],
  ['int4 experts', model('relu', 'softmax | topk(2)').replace('dims', 'weights int4\n dims')],
  ['bf16 weights', model('swiglu', 'softmax | topk(2) | normalize', 'shared common').replace('dims', 'weights bf16\n dims')],
  ['f16 weights, layernorm', model('gelu_tanh', 'softmax | topk(2)', '', 'layers 2 { x = x + moe(layernorm(x)) }').replace('dims', 'weights f16\n dims')],
];

describe('every construct exports to ONNX, runs in onnxruntime-node, agrees with the CPU reference and imports back', () => {
  it.each(constructs)('%s', async (_name, text, inputs) => {
    const r = await exportAndRun(text, inputs ? { inputs } : {});
    expect(r.error).toBeLessThan(1e-5);
    expectRoundTrip(r.bytes, text, r.weights);
    expect(Buffer.from((await exportAndRun(text, inputs ? { inputs } : {})).bytes).equals(Buffer.from(r.bytes)), 'the same model exports to the same bytes').toBe(true);
  });

  it.each(exampleFiles())('examples/%s at test sizes', async (name) => {
    // Two of 24 layers are enough (hmoe's experts keep their real widths, 256 to 2048).
    const text = readExample(name).replace(/layers 24 \{/, 'layers 2 {');
    const r = await exportAndRun(text, { set: small[name]!, inputs: { requests } });
    expect(r.error).toBeLessThan(1e-5);
    expectRoundTrip(r.bytes, text, r.weights, small[name]);
  });

  it.each([
    ['topk', 'softmax | topk(3)', ''],
    ['top_p', 'softmax | top_p(0.3, max = 3)', ''],
    ['top_p reaching p exactly (1/8 + 1/8 = 0.25: two entries, not three)', 'softmax | top_p(0.25, max = 3)', ''],
    ['group limit (top2) then topk', 'sigmoid | group_limit(groups = 4, keep = 2, score = top2) | topk(3)', ''],
    ['expert choice', 'softmax | expert_choice(capacity = 4)', 'scope request'],
    ['capacity, drop by score', 'softmax | topk(2) | capacity(factor = 0.5, drop = score)', 'scope request'],
    ['com.microsoft.MoE (softmax, topk, normalize)', 'softmax | topk(3) | normalize', ''],
  ])('ties go to the lower index: %s with every key equal (a zero router)', async (_name, router, scope) => {
    const zero = (w: Map<string, Tensor>) => {
      for (const [n, t] of w) if (n.endsWith('gate.weight')) w.set(n, { ...t, data: new Float32Array(t.data.length) });
    };
    const r = await exportAndRun(model('relu', router, scope), { weights: zero, inputs: { requests } });
    expect(r.error).toBeLessThan(1e-5);
  });
});

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
    // Weights of other sizes: exit 1, the tensor named, nothing written.
    const bad = moec('export', 'onnx', file, '--set', 'hidden=8', '--weights', join(work, 'cli.safetensors'), '-o', join(work, 'bad.onnx'), '--external-data');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/cli\.safetensors: \d+ problems with the weights:\n\s+tensor 'layers\.0\.[\w.]+' is F32 \[16\], expected F32 \[8\]/);
    expect(existsSync(join(work, 'bad.onnx')) || existsSync(join(work, 'bad.onnx.data'))).toBe(false);
  });

  it('with --set, the exported source states the sizes; --external-data keeps the weights beside the model; hash routing reads ids', async () => {
    const file = join(work, 'set.moe');
    const text = model('relu', 'x').replace('linear(hidden -> experts) | x', 'hash(experts, k = 2, seed = 3)');
    writeFileSync(file, text);
    const moec = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: work });
    const set = ['--set', 'hidden=8', '--set', 'experts=6'];
    expect(moec('init-weights', file, ...set, '--seed', '1', '-o', join(work, 'set.safetensors')).status).toBe(0);
    const r = moec('export', 'onnx', file, ...set, '--weights', join(work, 'set.safetensors'), '-o', join(work, 'set.onnx'), '--external-data');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/wrote .*set\.onnx and .*set\.onnx\.data \(the weights\)/);
    const stored = readSafetensors(readFileSync(join(work, 'set.safetensors')));
    expect(statSync(join(work, 'set.onnx.data')).size, 'every weight, byte for byte').toBe([...stored.values()].reduce((n, t) => n + t.tensor.data.length * STORED_BYTES[t.stored], 0));
    const session = await ort.InferenceSession.create(join(work, 'set.onnx'));
    expect(session.inputNames).toEqual(['x', 'ids']);
    const { graph } = compileText(text, { hidden: 8, experts: 6 });
    const weights = new Map([...stored].map(([n, t]) => [n, t.tensor]));
    const x = randomInput(5, 8, 1);
    const ids = Int32Array.from([4, 0, -9, 4, 2147483647]);
    const theirs = (await session.run({ x: new ort.Tensor('float32', x.data as Float32Array, [5, 8]), ids: new ort.Tensor('int32', ids, [5]) }))['y']!.data as Float32Array;
    expect(relativeL2(theirs, run(graph, weights, { x, ids }))).toBeLessThan(1e-5);
    const back = moec('import', 'onnx', join(work, 'set.onnx'), '-o', join(work, 'set-back.moe'));
    expect(back.status, back.stderr).toBe(0);
    expect(readFileSync(join(work, 'set-back.moe'), 'utf8')).toMatch(/hidden = 8\s+experts = 6/);
    const ran = moec('run', join(work, 'set-back.moe'), '--weights', join(work, 'set-back.safetensors'), '--random-input', '3', '-o', join(work, 'set-y.safetensors'));
    expect(ran.status, ran.stderr).toBe(0);
    const [a, b] = ['set.safetensors', 'set-back.safetensors'].map((f) => readSafetensors(readFileSync(join(work, f))));
    expect([...b!.keys()].sort()).toEqual([...a!.keys()].sort());
    for (const [n, t] of a!) expect([b!.get(n)!.stored, b!.get(n)!.tensor.data], n).toEqual([t.stored, t.tensor.data]);
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
    const ms = g.reduce('ReduceMean', g.node('Mul', ['x', 'x']), [-1], 1);
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
