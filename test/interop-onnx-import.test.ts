import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxPkg from 'onnx-proto';
import ort from 'onnxruntime-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatSource } from '../src/format/format.js';
import { InteropError } from '../src/interop/hf/config.js';
import { OnnxGraph } from '../src/interop/onnx/builder.js';
import { exportOnnx } from '../src/interop/onnx/export.js';
import { interleaveRows } from '../src/interop/onnx/fused-moe.js';
import { importOnnx } from '../src/interop/onnx/import.js';
import { writeOnnx } from '../src/interop/onnx/write.js';
import { initWeights } from '../src/runtime/init-weights.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { loaded } from './support/interop-onnx.js';
import { compileText, randomInput, relativeL2, run } from './support/model.js';

/**
 * `moec import onnx`: moec's own exports come back as the same model and weights; graphs of
 * onnxruntime MoE/QMoE nodes import and compute what onnxruntime computes.
 */
const [H, I, E, T] = [8, 6, 4, 7];

const values = (n: number, seed: number, scale = 0.5) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.37 + seed) * scale);
const asTensors = (w: ReturnType<typeof importOnnx>['weights']) => new Map<string, Tensor>([...loaded(w)].map(([n, t]) => [n, t.tensor]));

async function ortRun(bytes: Uint8Array, x: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  return (await session.run({ x: new ort.Tensor('float32', x, [x.length / H, H]) }))['y']!.data as Float32Array;
}

describe('moec import onnx', () => {
  it.each([false, true])("gives back a moec export's model and weights (standard ops only: %s)", (standardOnly) => {
    const text = `// a comment that travels
model t {
  dims { hidden = ${H}, experts = ${E} }
  expert e = swiglu(hidden -> ${I} -> hidden)
  block moe {
    router gate = linear(hidden -> experts) | softmax | topk(2) | normalize
    experts e x experts
  }
  layers 2 { x = x + moe(rmsnorm(x)) }
}
`;
    const { model, graph } = compileText(text);
    const weights = initWeights(graph, 4);
    const { bytes } = exportOnnx(model, new Map([...weights].map(([n, w]) => [n, w.tensor])), { standardOnly, source: { text, model: 't' } });
    const back = importOnnx(bytes, 'rt.onnx');
    const formatted = formatSource(text);
    expect(formatted.ok && back.text).toBe(formatted.ok && formatted.text);
    expect([...back.weights.keys()].sort()).toEqual([...weights.keys()].sort());
    for (const [name, w] of weights) expect(loaded(back.weights).get(name)!.tensor.data, name).toEqual(w.tensor.data);
  });

  it.each([
    ['a wrong shape', (t: onnxPkg.onnx.ITensorProto) => (t.dims = [E, H])],
    ['a wrong element type', (t: onnxPkg.onnx.ITensorProto) => (t.dataType = onnxPkg.onnx.TensorProto.DataType.DOUBLE)],
  ])("refuses an export whose initializer has %s, naming it and what the source needs", (_what, tamper) => {
    const text = `model t {\n dims { hidden = ${H}, experts = ${E} }\n expert e = relu(hidden -> ${I} -> hidden)\n block moe {\n router gate = linear(hidden -> experts) | softmax | topk(2)\n experts e x experts\n }\n layers 1 { x = x + moe(rmsnorm(x)) }\n}\n`;
    const { model, graph } = compileText(text);
    const weights = initWeights(graph, 4);
    const proto = onnxPkg.onnx.ModelProto.decode(exportOnnx(model, new Map([...weights].map(([n, w]) => [n, w.tensor])), { source: { text, model: 't' } }).bytes);
    tamper(proto.graph!.initializer!.find((t) => t.name === 'layers.0.moe.gate.weight')!);
    const bytes = onnxPkg.onnx.ModelProto.encode(proto).finish();
    expect(() => importOnnx(bytes, 'bad.onnx')).toThrow(InteropError);
    expect(() => importOnnx(bytes, 'bad.onnx')).toThrow(new RegExp(`bad\\.onnx: initializer 'layers\\.0\\.moe\\.gate\\.weight' is \\w+ \\[.*\\]; the model's source needs F32 \\[${H}, ${E}\\]`));
  });

  it('reads external data beside the model (com.microsoft.MoE weights included), refusing a location elsewhere and a data file too short', () => {
    const text = `model t {\n dims { hidden = ${H}, experts = ${E} }\n expert e = relu(hidden -> ${I} -> hidden)\n block moe {\n router gate = linear(hidden -> experts) | softmax | topk(2) | normalize\n experts e x experts\n }\n layers 1 { x = x + moe(rmsnorm(x)) }\n}\n`;
    const { model, graph } = compileText(text);
    const weights = initWeights(graph, 4);
    const dir = mkdtempSync(join(tmpdir(), 'moec-onnx-external-'));
    const path = join(dir, 'm.onnx');
    const out = writeOnnx(path, true, (external) => exportOnnx(model, new Map([...weights].map(([n, w]) => [n, w.tensor])), { source: { text, model: 't' }, ...(external ? { external } : {}) }));
    expect(out.fusedLayers, 'experts inside com.microsoft.MoE: fc1 and fc2 are external too').toBe(1);
    const back = loaded(importOnnx(out.bytes, path).weights);
    for (const [name, w] of weights) expect(back.get(name)!.tensor.data, name).toEqual(w.tensor.data);
    const moved = onnxPkg.onnx.ModelProto.decode(out.bytes);
    for (const t of moved.graph!.initializer!) for (const kv of t.externalData ?? []) if (kv.key === 'location') kv.value = '../m.onnx.data';
    expect(() => loaded(importOnnx(onnxPkg.onnx.ModelProto.encode(moved).finish(), path).weights)).toThrow(/is in '\.\.\/m\.onnx\.data', not a file beside the model/);
    writeFileSync(`${path}.data`, readFileSync(`${path}.data`).subarray(0, 10));
    expect(() => loaded(importOnnx(out.bytes, path).weights)).toThrow(/ends before initializer/);
  });

  /** x -> (x + MoE(x))^layers, router logits x · W, as onnxruntime's contrib op takes it. */
  function moeGraph(layers: number, moe: (g: OnnxGraph, h: string, logits: string, layer: number) => string, residual = true, gateScale = 1): Uint8Array {
    const g = new OnnxGraph();
    let x = 'x';
    for (let l = 0; l < layers; l++) {
      const logits = g.node('MatMul', [x, g.floats(`gate${l}`, [H, E], values(H * E, l, gateScale))]);
      const y = moe(g, x, logits, l);
      x = residual ? g.node('Add', [x, y]) : y;
    }
    return g.encode('foreign', H, x, '');
  }

  const fc1 = (l: number, rows = I) => values(E * rows * H, 10 + l);
  const fc2 = (l: number) => values(E * H * I, 20 + l);
  const moeNode = (g: OnnxGraph, h: string, logits: string, l: number, act: string, normalize: number, fc1Rows = I, extra = {}) =>
    g.node('MoE', [h, logits, g.floats(`fc1_${l}`, [E, fc1Rows, H], fc1(l, fc1Rows)), '', g.floats(`fc2_${l}`, [E, H, I], fc2(l))], { k: 2, normalize_routing_weights: normalize, activation_type: act, ...extra }, 'com.microsoft');
  const swiglu = { swiglu_fusion: 1, activation_alpha: { float: 1 }, activation_beta: { float: 0 }, swiglu_limit: { float: 1e30 } };

  const foreign: [string, Uint8Array][] = [
    ['two ReLU MoE layers, renormalised', moeGraph(2, (g, h, lg, l) => moeNode(g, h, lg, l, 'relu', 1))],
    ['SiLU experts', moeGraph(1, (g, h, lg, l) => moeNode(g, h, lg, l, 'silu', 1))],
    ['tanh-GELU experts', moeGraph(2, (g, h, lg, l) => moeNode(g, h, lg, l, 'gelu', 1))],
    ['SwiGLU, gate and up rows interleaved', moeGraph(2, (g, h, lg, l) => moeNode(g, h, lg, l, 'swiglu', 1, 2 * I, swiglu))],
    ['a single MoE without a residual', moeGraph(1, (g, h, lg, l) => moeNode(g, h, lg, l, 'relu', 1), false)],
    ['a zero router: every probability ties, and the op picks the higher experts', moeGraph(2, (g, h, lg, l) => moeNode(g, h, lg, l, 'relu', 1), true, 0)],
  ];
  for (const [bits, gateScale] of [[8, 1], [4, 1], [8, 0]] as const) {
    const pack = bits === 4 ? 2 : 1;
    const q = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + seed * 11) % 256);
    foreign.push([
      `QMoE, ${bits}-bit weights${gateScale ? '' : ', a zero router (ties)'}`,
      moeGraph(2, (g, h, lg, l) =>
        g.node(
          'QMoE',
          [h, lg, g.uint8(`fc1_${l}`, [E, I, H / pack], q((E * I * H) / pack, l)), g.floats(`s1_${l}`, [E, I], values(E * I, l, 0.02).map(Math.abs)), '', g.uint8(`fc2_${l}`, [E, H, I / pack], q((E * H * I) / pack, l + 5)), g.floats(`s2_${l}`, [E, H], values(E * H, l + 3, 0.02).map(Math.abs))],
          { k: 2, normalize_routing_weights: 1, activation_type: 'relu', expert_weight_bits: bits },
          'com.microsoft',
        ),
      true,
      gateScale,
      ),
    ]);
  }

  it.each(foreign)('%s: computes what onnxruntime computes', async (_name, bytes) => {
    const imported = importOnnx(bytes, 'foreign.onnx');
    const x = randomInput(T, H, 9).data as Float32Array;
    const ours = run(compileText(imported.text).graph, asTensors(imported.weights), { x: { dtype: 'f32', shape: [T, H], data: x } });
    expect(relativeL2(ours, await ortRun(bytes, x))).toBeLessThan(1e-5);
  });

  it('reads the other SwiGLU layouts (gate block then up block; gate in fc1 and up in fc3) as the same experts', () => {
    const gate = values(E * I * H, 1);
    const up = values(E * I * H, 2);
    const layouts: { fc1: Float32Array; rows: number; extra: Record<string, number>; fc3: Float32Array | undefined }[] = [
      { fc1: interleaveRows(gate, up, E, I, H), rows: 2 * I, extra: { swiglu_fusion: 1 }, fc3: undefined },
      { fc1: Float32Array.from({ length: 2 * E * I * H }, (_, i) => { const [e, r] = [Math.floor(i / (2 * I * H)), i % (2 * I * H)]; return r < I * H ? gate[e * I * H + r]! : up[e * I * H + r - I * H]!; }), rows: 2 * I, extra: { swiglu_fusion: 2 }, fc3: undefined },
      { fc1: gate, rows: I, extra: {}, fc3: up },
    ];
    const imported = layouts.map(({ fc1: f1, rows, extra, fc3 }) => {
      const bytes = moeGraph(1, (g, h, lg) =>
        g.node('MoE', [h, lg, g.floats('fc1', [E, rows, H], f1), '', g.floats('fc2', [E, H, I], values(E * H * I, 3)), ...(fc3 ? ['', g.floats('fc3', [E, I, H], fc3)] : [])], { k: 2, normalize_routing_weights: 1, activation_type: fc3 ? 'silu' : 'swiglu', ...extra }, 'com.microsoft'),
      );
      return importOnnx(bytes, 'layout.onnx');
    });
    for (const other of imported.slice(1)) {
      expect(other.text).toBe(imported[0]!.text);
      for (const [n, w] of loaded(imported[0]!.weights)) expect(loaded(other.weights).get(n)!.tensor.data, n).toEqual(w.tensor.data);
    }
  });

  it('never fails internally: random bytes and damaged models are user errors or imports', () => {
    const valid = moeGraph(2, (g, h, lg, l) => moeNode(g, h, lg, l, 'swiglu', 1, 2 * I, swiglu));
    const damaged = fc.tuple(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat(valid.length)).map(([edits, cut]) => {
      const b = valid.slice(0, Math.max(cut, 16));
      for (const [at, v] of edits) if (at < b.length) b[at] = v;
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), damaged), (bytes) => {
        try {
          importOnnx(bytes, 'fuzz.onnx');
        } catch (e) {
          expect(e, String(e)).toBeInstanceOf(InteropError);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('refuses what it cannot read, naming it', () => {
    const biased = moeGraph(1, (g, h, lg) => g.node('MoE', [h, lg, g.floats('fc1', [E, I, H], fc1(0)), g.floats('b1', [E, I], values(E * I, 1)), g.floats('fc2', [E, H, I], fc2(0))], { k: 2, activation_type: 'relu' }, 'com.microsoft'));
    expect(() => importOnnx(biased, 'b.onnx')).toThrow(/expert biases/);
    const g = new OnnxGraph();
    expect(() => importOnnx(g.encode('t', H, g.node('Relu', ['x']), ''), 'relu.onnx')).toThrow(/node Relu .* is not part of an MoE layer/);
    expect(() => importOnnx(Uint8Array.of(1, 2, 3, 255), 'junk.onnx')).toThrow(/junk\.onnx: not an ONNX model/);
  });
});
