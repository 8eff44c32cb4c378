import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/runtime/tensor.js';
import { quantize, unpackQuantized } from '../src/runtime/init-weights.js';
import { ffnRows } from '../src/runtime/reference/experts.js';
import { activations, erf, matmul } from '../src/runtime/reference/math.js';
import { rmsnorm } from '../src/runtime/reference/norms.js';
import { compileText, randomInput, randomWeights, run } from './support/model.js';
import { exampleFiles, readExample } from './helpers.js';
import { small } from './support/small.js';

const rows = (t: Tensor | Float32Array, r: number, d: number) => (t instanceof Float32Array ? t : (t.data as Float32Array)).slice(r * d, (r + 1) * d);

describe('math kernels', () => {
  it('erf and exact gelu match tabulated values', () => {
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(erf(-2)).toBeCloseTo(-0.9953222650189527, 14);
    expect(erf(3.5)).toBeCloseTo(0.9999992569016276, 14);
    expect(activations.gelu(1)).toBeCloseTo(0.8413447460685429, 6);
    expect(activations.silu(1)).toBeCloseTo(0.7310585786300049, 6);
  });

  it('rmsnorm of [3, 4] is [3, 4] / sqrt(12.5)', () => {
    const y = rmsnorm(Float32Array.from([3, 4]), 1, 2, Float32Array.from([1, 2]), 0);
    expect(y[0]).toBeCloseTo(3 / Math.sqrt(12.5), 6);
    expect(y[1]).toBeCloseTo((2 * 4) / Math.sqrt(12.5), 6);
  });
});

describe('quantisation', () => {
  it('int4 packs two values per byte, low nibble first, and unpacks them exactly', () => {
    // One row of 8 columns: each column's scale is |v| / 7, so every value is q · scale exactly.
    const values = Float32Array.from([-8, -1, 0, 1, 7, 3, -5, 2]);
    const { stored, scale } = quantize(values, [1, 8], 4);
    expect(stored.length).toBe(4);
    const back = unpackQuantized(stored, 4);
    back.forEach((q, i) => expect(q * scale[i]!).toBeCloseTo(values[i]!, 5));
  });

  it('the error of each quantised weight is at most half its column scale', () => {
    const rng = randomInput(32, 16, 7).data as Float32Array;
    for (const bits of [8, 4] as const) {
      const { stored, scale } = quantize(rng, [32, 16], bits);
      const q = unpackQuantized(stored, bits);
      q.forEach((v, i) => expect(Math.abs(v * scale[i % 16]! - rng[i]!)).toBeLessThanOrEqual(scale[i % 16]! / 2 + 1e-7));
    }
  });
});

describe('topologies against their definitions', () => {
  const base = (block: string, experts = 'e x 4', extraDims = '') => `model t {
    dims { hidden = 8, ffn = 6 ${extraDims} }
    expert e = swiglu(hidden -> ffn -> hidden)
    ${experts.includes('small') ? 'expert small = relu(hidden -> 3 -> hidden)' : ''}
    block moe { ${block}
      experts ${experts} }
    layers 1 { x = moe(x) }
  }`;
  const x = randomInput(5, 8, 1);

  it('chain: h1 = x + moe_0(x), h2 = h1 + moe_1(h1), each iteration with its own router', () => {
    const chain = compileText(base('router gate = linear(hidden -> 4) | softmax | topk(2) | normalize\n topology chain(iterations = 2)'));
    const one = compileText(base('router gate = linear(hidden -> 4) | softmax | topk(2) | normalize'));
    const w = randomWeights(chain.graph, 3);
    const single = (gate: string) => new Map([...w].map(([n, t]) => [n === 'layers.0.moe.gate.weight' ? n : n, n === 'layers.0.moe.gate.weight' ? w.get(gate)! : t]));
    const h1 = run(one.graph, single('layers.0.moe.gate.weight'), { x }).map((v, i) => v + (x.data[i] as number));
    const h1t: Tensor = { dtype: 'f32', shape: [5, 8], data: h1 };
    const h2 = run(one.graph, single('layers.0.moe.gate@1.weight'), { x: h1t }).map((v, i) => v + h1[i]!);
    expect(run(chain.graph, w, { x })).toEqual(h2);
  });

  it('union: the expert weight is the group weight times the expert router weight', () => {
    const u = compileText(
      base(
        `router groups = linear(hidden -> 2) | softmax | topk(1)
         router pick = linear(hidden -> 4) | softmax | topk(1)
         topology union(group = groups, expert = pick)`,
      ),
    );
    const w = randomWeights(u.graph, 4);
    const y = run(u.graph, w, { x });
    // By hand: group g* = argmax softmax(x·Wg), u = its probability; expert e* = argmax over the
    // 2 experts of g* of softmax(x·We) over all 4 (the expert router's softmax sees every entry
    // before the group mask applies); y = u · p(e*) · expert_e*(x).
    const softmax = (v: Float32Array): number[] => {
      const m = Math.max(...v);
      const ex = [...v].map((a) => Math.exp(a - m));
      const s = ex.reduce((a, b) => a + b, 0);
      return ex.map((a) => a / s);
    };
    for (let t = 0; t < 5; t++) {
      const xr = rows(x, t, 8);
      const pg = softmax(matmul(xr, 1, 8, w.get('layers.0.moe.groups.weight')!.data as Float32Array, 2));
      const g = pg[1]! > pg[0]! ? 1 : 0;
      const logits = matmul(xr, 1, 8, w.get('layers.0.moe.pick.weight')!.data as Float32Array, 4);
      const pair = softmax(logits.subarray(2 * g, 2 * g + 2));
      const e = pair[1]! > pair[0]! ? 2 * g + 1 : 2 * g;
      const pe = { [e]: pair[e - 2 * g]! } as Record<number, number>;
      const slice = (name: string, per: number) => (w.get(`layers.0.moe.experts.e.${name}`)!.data as Float32Array).subarray(e * per, (e + 1) * per);
      const ye = ffnRows({ kind: 'ffn', name: 'e', gated: true, act: 'silu', input: 8, hidden: 6, output: 8 }, xr, 1, [slice('w_gate', 48), slice('w_up', 48), slice('w_down', 48)]);
      const want = [...ye].map((v) => pg[g]! * pe[e]! * v);
      [...rows(y, t, 8)].forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    }
  });

  it('multihead: project, route sub-tokens, merge and project back', () => {
    const mh = compileText(`model t {
      dims { hidden = 8, sub = 4 }
      expert e = relu(sub -> 6 -> sub)
      block moe {
        router gate = linear(sub -> 4) | softmax | topk(2)
        experts e x 4
        topology multihead(heads = 2)
      }
      layers 1 { x = moe(x) }
    }`);
    const std = compileText(`model t {
      dims { sub = 4 }
      expert e = relu(sub -> 6 -> sub)
      block moe {
        router gate = linear(sub -> 4) | softmax | topk(2)
        experts e x 4
      }
      layers 1 { x = moe(x) }
    }`);
    const w = randomWeights(mh.graph, 5);
    const z = matmul(x.data as Float32Array, 5, 8, w.get('layers.0.moe.heads_in.weight')!.data as Float32Array, 8);
    const sub = run(std.graph, w, { x: { dtype: 'f32', shape: [10, 4], data: z } });
    const want = matmul(sub, 5, 8, w.get('layers.0.moe.heads_out.weight')!.data as Float32Array, 8);
    expect(run(mh.graph, w, { x })).toEqual(want);
  });

  it('heterogeneous experts: each slot runs its own declaration', () => {
    const h = compileText(base('router gate = linear(hidden -> 4) | softmax | topk(4)', 'e x 2, small x 2'));
    const w = randomWeights(h.graph, 6);
    const y = run(h.graph, w, { x });
    const route = (t: number) => {
      const l = matmul(rows(x, t, 8), 1, 8, w.get('layers.0.moe.gate.weight')!.data as Float32Array, 4);
      const m = Math.max(...l);
      const s = [...l].reduce((a, b) => a + Math.exp(b - m), 0);
      return [...l].map((v) => Math.exp(v - m) / s);
    };
    for (let t = 0; t < 5; t++) {
      const p = route(t);
      const xr = rows(x, t, 8);
      const big = (j: number) => ffnRows({ kind: 'ffn', name: 'e', gated: true, act: 'silu', input: 8, hidden: 6, output: 8 }, xr, 1, ['w_gate', 'w_up', 'w_down'].map((n) => (w.get(`layers.0.moe.experts.e.${n}`)!.data as Float32Array).subarray(j * 48, (j + 1) * 48)));
      const small = (j: number) => ffnRows({ kind: 'ffn', name: 'small', gated: false, act: 'relu', input: 8, hidden: 3, output: 8 }, xr, 1, ['w_up', 'w_down'].map((n) => (w.get(`layers.0.moe.experts.small.${n}`)!.data as Float32Array).subarray(j * 24, (j + 1) * 24)));
      const outs = [big(0), big(1), small(0), small(1)];
      const want = Array.from({ length: 8 }, (_, i) => outs.reduce((a, o, e) => a + p[e]! * o[i]!, 0));
      [...rows(y, t, 8)].forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    }
  });

  it('shared experts with a sigmoid gate add sigmoid(x·w) · shared(x)', () => {
    const withShared = compileText(base('router gate = linear(hidden -> 4) | softmax | topk(2)\n shared e x 1 gate sigmoid'));
    const routedOnly = compileText(base('router gate = linear(hidden -> 4) | softmax | topk(2)'));
    const w = randomWeights(withShared.graph, 7);
    const y = run(withShared.graph, w, { x });
    const r = run(routedOnly.graph, w, { x });
    const sh = ffnRows({ kind: 'ffn', name: 'e', gated: true, act: 'silu', input: 8, hidden: 6, output: 8 }, x.data as Float32Array, 5, ['w_gate', 'w_up', 'w_down'].map((n) => w.get(`layers.0.moe.shared.e.${n}`)!.data as Float32Array));
    const g = matmul(x.data as Float32Array, 5, 8, w.get('layers.0.moe.shared_gate.weight')!.data as Float32Array, 1);
    y.forEach((v, i) => expect(v).toBeCloseTo(r[i]! + sh[i]! / (1 + Math.exp(-g[Math.floor(i / 8)]!)), 5));
  });
});

/** Coupling routers: batching invariance holds per request, tested separately. */
const coupling = new Set(['switch-base-8.moe', 'expert-choice.moe']);

describe('isolation', () => {
  const models = Object.keys(small).filter((n) => !coupling.has(n)).map((name) => {
    const { graph } = compileText(readExample(name), small[name]);
    return { name, graph, weights: randomWeights(graph, 1) };
  });

  it('token-choice routers give every token bit-identical results alone or in any batch', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: models.length - 1 }), fc.integer({ min: 2, max: 9 }), fc.integer({ min: 0, max: 1000 }), (m, tokens, seed) => {
        const { graph, weights } = models[m]!;
        const width = graph.inputs[0]!.type.shape[1] as number;
        const x = randomInput(tokens, width, seed);
        const batched = run(graph, weights, { x });
        const t = seed % tokens;
        const alone = run(graph, weights, { x: { dtype: 'f32', shape: [1, width], data: rows(x, t, width) } });
        expect(alone).toEqual(rows(batched, t, width));
      }),
      { numRuns: 60 },
    );
  });

  it('coupling routers under scope request: a request gets the same output whatever shares its batch', () => {
    const text = readExample('expert-choice.moe');
    const { graph } = compileText(text, { hidden: 16, ffn: 24, experts: 4, depth: 2 });
    const weights = randomWeights(graph, 2);
    const a = randomInput(3, 16, 1);
    const b = randomInput(4, 16, 2);
    const together: Tensor = { dtype: 'f32', shape: [7, 16], data: Float32Array.from([...a.data, ...b.data]) };
    const y = run(graph, weights, { x: together, requests: Int32Array.from([0, 0, 0, 1, 1, 1, 1]) });
    const ya = run(graph, weights, { x: a, requests: Int32Array.from([0, 0, 0]) });
    expect(y.slice(0, 3 * 16)).toEqual(ya);
  });

  it('every example runs at test sizes with finite outputs', () => {
    for (const name of exampleFiles()) {
      // An example without test sizes would run at full size (gpt-oss: 20 B parameters).
      expect(small[name], `${name} needs test sizes in test/support/small.ts`).toBeDefined();
      const { graph } = compileText(readExample(name), small[name]);
      const width = graph.inputs[0]!.type.shape[1] as number;
      const y = run(graph, randomWeights(graph, 3), { x: randomInput(4, width, 4), requests: new Int32Array(4) });
      expect(y.length, name).toBe(4 * width);
      expect(y.every(Number.isFinite), name).toBe(true);
    }
  });

  it('int8 and int4 experts run as their dequantised values: q · scale per output column', () => {
    for (const bits of [8, 4] as const) {
      const text = `model t {
        dims { hidden = 8 }
        weights int${bits}
        expert e = relu(hidden -> 6 -> hidden)
        block moe {
          router gate = linear(hidden -> 4) | softmax | topk(2)
          experts e x 4
        }
        layers 1 { x = moe(x) }
      }`;
      const quantised = compileText(text);
      const full = compileText(text.replace(`weights int${bits}`, 'weights f32'));
      const w = randomWeights(quantised.graph, 2);
      // The same model with the dequantised matrices stored in f32 gives the same output exactly.
      const dq = new Map<string, Tensor>([...w].filter(([n]) => !n.endsWith('.scale')).map(([n, t]) => {
        const scale = w.get(`${n}.scale`);
        if (!scale) return [n, t] as const;
        const shape = full.graph.params.find((p) => p.name === n)!.type.shape as number[];
        const q = unpackQuantized(t.data as Int32Array, bits);
        const [inDim, outDim] = [shape[1]!, shape[2]!];
        const data = Float32Array.from(q, (v, i) => v * (scale.data as Float32Array)[Math.floor(i / (inDim * outDim)) * outDim + (i % outDim)]!);
        return [n, { dtype: 'f32', shape, data } as Tensor] as const;
      }));
      const x = randomInput(5, 8, 1);
      expect(run(quantised.graph, w, { x })).toEqual(run(full.graph, dq, { x }));
    }
  });
});

describe('regressions', () => {
  it('a null expert declared inside a block is a null expert', () => {
    const text = (local: boolean) => `model t {
      dims { hidden = 8 }
      expert e = relu(hidden -> 6 -> hidden)
      ${local ? '' : 'expert nothing = null'}
      block moe {
        ${local ? 'expert nothing = null' : ''}
        router gate = linear(hidden -> 8) | softmax | topk(2) | normalize
        experts e x 4, nothing x 4
      }
      layers 1 { x = moe(x) }
    }`;
    const [a, b] = [compileText(text(true)), compileText(text(false))];
    const w = randomWeights(a.graph, 1);
    const x = randomInput(6, 8, 2);
    expect(run(a.graph, w, { x })).toEqual(run(b.graph, w, { x }));
  });

  it('a union whose group router hashes reads the token ids', () => {
    const { graph } = compileText(`model t {
      dims { hidden = 8 }
      expert e = relu(hidden -> 6 -> hidden)
      block moe {
        router g = hash(4, k = 2)
        router r = linear(hidden -> 8) | softmax | topk(2)
        experts e x 8
        topology union(group = g, expert = r)
      }
      layers 1 { x = moe(x) }
    }`);
    expect(graph.inputs.map((n) => n.attrs.name)).toEqual(['x', 'ids']);
    const y = run(graph, randomWeights(graph, 1), { x: randomInput(3, 8, 1), ids: Int32Array.from([5, 6, 7]) });
    expect(y.every(Number.isFinite)).toBe(true);
  });

  it("a block's own offload precision decides how its experts are stored", () => {
    const { graph } = compileText(`model t {
      dims { hidden = 8 }
      expert e = relu(hidden -> 6 -> hidden)
      block moe {
        router gate = linear(hidden -> 4) | softmax | topk(2)
        experts e x 4
        offload { precision = { e = int8 } }
      }
      layers 1 { x = moe(x) }
    }`);
    expect(graph.params.find((p) => p.name === 'layers.0.moe.experts.e.w_up')!.type.dtype).toBe('int8');
  });
});
