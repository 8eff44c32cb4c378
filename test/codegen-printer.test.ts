/// <reference types="@webgpu/types" />
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { add, and, bitAnd, bitcast, bitXor, bool, builtin, call, cast, div, eq, f32, ge, gt, i32, KernelBuilder, le, load, lt, mod, mul, ne, neg, not, or, select, shr, sub, tokens, u32 } from '../src/codegen/build.js';
import type { Expr, Kernel, Stmt } from '../src/codegen/kernel-ir.js';
import { floatLiteral, printWgslKernel } from '../src/codegen/wgsl/print.js';
import { BUFFER_USAGE, MAP_MODE } from '../src/runtime/webgpu/constants.js';
import { compileKernel } from '../src/runtime/webgpu/pipelines.js';
import { gpuSuiteTitle, openTestDevice } from './support/webgpu.js';

/**
 * The WGSL printer (src/codegen/wgsl/print.ts over src/codegen/c-like.ts): small kernels built
 * with the DSL, printed and read back as inline snapshots; every one of them compiled on the
 * WebGPU device; and a fast-check property that random expression trees, printed and run on the
 * device, compute what the kernel IR says (f32 rounding, i32 wrapping), which is what catches
 * precedence and literal bugs that a snapshot only shows.
 */
const gpu = await openTestDevice();

/** Every kernel this file prints, by name: the GPU suite compiles each one. */
const kernels = new Map<string, Kernel>();

function kernel(name: string, summary: string, workgroup: readonly [number, number, number], fill: (k: KernelBuilder) => void): Kernel {
  const k = new KernelBuilder(name, summary, workgroup);
  fill(k);
  const done = k.finish();
  if (kernels.has(name)) throw new Error(`two test kernels named ${name}`);
  kernels.set(name, done);
  return done;
}

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

// ---- the kernels ----

const elementwise = kernel('scale_shift', 'y = 2x + 0.1 for the first T·16 elements', [64, 1, 1], (k) => {
  k.buffer('x', 'f32', 'read');
  k.buffer('y', 'f32', 'read_write');
  const i = k.let('i', builtin('global_x'));
  k.if(lt(i, mul(tokens, 16)), (b) => b.store('y', i, add(mul(load('x', 'f32', i), 2), 0.1)));
});

/** Literal spellings: one store per value, in this order (the device test reads them back). */
const I32_LITERALS = [5, -7, 0, INT_MAX, INT_MIN];
const U32_LITERALS = [5, 0, 4294967295];
const F32_LITERALS = [1, 0.1, -2.5, 1e-7, 3e38, 16777216, 1e21, 0.5, 1 / 3, -Infinity, Infinity];
const literals = kernel('literals', 'every literal spelling', [1, 1, 1], (k) => {
  k.buffer('out_i', 'i32', 'read_write');
  k.buffer('out_u', 'u32', 'read_write');
  k.buffer('out_f', 'f32', 'read_write');
  I32_LITERALS.forEach((v, n) => k.store('out_i', n, i32(v)));
  U32_LITERALS.forEach((v, n) => k.store('out_u', n, u32(v)));
  F32_LITERALS.forEach((v, n) => k.store('out_f', n, f32(v)));
  k.store('out_i', I32_LITERALS.length, select(bool(true), i32(1), i32(0)));
  k.store('out_i', I32_LITERALS.length + 1, cast('i32', bool(false)));
});

/** Operands a, b, c, d loaded from `ins`; results to `out_i` (i32 and bool as 0/1). */
const PRECEDENCE_INPUTS = [7, -3, 5, 2];
const precedenceCases: Expr[] = (() => {
  const [a, b, c, d] = [0, 1, 2, 3].map((n) => load('ins', 'i32', n)) as [Expr, Expr, Expr, Expr];
  return [
    sub(a, sub(b, c)),
    sub(sub(a, b), c),
    mul(a, add(b, c)),
    add(mul(a, b), c),
    div(a, mul(b, d)),
    mod(mul(a, b), c),
    mul(a, mod(b, c)),
    add(bitAnd(a, b), c),
    bitAnd(add(a, b), c),
    bitXor(bitAnd(a, b), c),
    bitAnd(bitAnd(a, b), c),
    shr(add(a, b), 1),
    { k: 'binary', type: 'i32', op: '<<', a: add(a, c), b: u32(3) },
    neg(add(a, b)),
    // '--' is two minus signs in an expression: WGSL tokenises by what the parser can accept
    // there, and a decrement is a statement (gpuweb/gpuweb#4669). Tint agrees; see the GPU suite.
    neg(neg(a)),
    neg(i32(-5)),
    sub(a, i32(-5)),
    mul(neg(a), b),
    select(lt(a, b), a, b),
    cast('i32', or(and(lt(a, b), lt(b, c)), eq(a, c))),
    cast('i32', and(or(lt(a, b), lt(b, c)), ne(a, d))),
    cast('i32', eq(lt(a, b), lt(b, c))),
    cast('i32', not(lt(a, b))),
    cast('i32', lt(add(a, b), mul(b, c))),
    cast('i32', ne(bitAnd(a, 1), 0)),
    cast('i32', ge(sub(a, b), bitXor(c, d))),
  ];
})();
const precedence = kernel('precedence', 'operators that need and do not need parentheses', [1, 1, 1], (k) => {
  k.buffer('ins', 'i32', 'read');
  k.buffer('out_i', 'i32', 'read_write');
  precedenceCases.forEach((e, n) => k.store('out_i', n, e));
});

const control = kernel('control_flow', 'let, var, nested for with break and continue, if/else, return, select', [8, 1, 1], (k) => {
  k.buffer('src', 'f32', 'read');
  k.buffer('dst', 'f32', 'read_write');
  const row = k.let('row', builtin('global_x'));
  k.if(ge(row, tokens), (b) => b.return());
  const acc = k.var('acc', f32(0));
  const best = k.var('best', f32(-Infinity));
  k.for('j', 0, 16, (j, b) => {
    b.if(eq(mod(j, 4), 3), (t) => t.emit({ k: 'continue' }));
    const v = b.let('v', load('src', 'f32', add(mul(row, 16), j)));
    b.if(
      gt(v, best.get),
      () => best.set(v),
      () => acc.set(add(acc.get, v)),
    );
    b.for('r', j, 16, (r, inner) => inner.if(gt(r, 13), (t) => t.break()), 2);
  });
  k.store('dst', row, select(gt(best.get, acc.get), best.get, acc.get));
});

const casts = kernel('casts', 'value conversions, bit reinterpretation and u32 shifts', [1, 1, 1], (k) => {
  k.buffer('fin', 'f32', 'read');
  k.buffer('uin', 'u32', 'read');
  k.buffer('out_i', 'i32', 'read_write');
  k.buffer('out_u', 'u32', 'read_write');
  k.buffer('out_f', 'f32', 'read_write');
  const x = k.let('x', load('fin', 'f32', 0));
  const w = k.let('w', load('uin', 'u32', 0));
  k.store('out_i', 0, cast('i32', x));
  k.store('out_f', 0, cast('f32', cast('i32', x)));
  k.store('out_u', 0, bitcast('u32', x));
  k.store('out_f', 1, bitcast('f32', w));
  k.store('out_i', 1, bitcast('i32', w));
  k.store('out_u', 1, shr(w, 4));
  k.store('out_u', 2, { k: 'binary', type: 'u32', op: '<<', a: w, b: u32(8) });
  k.store('out_u', 3, bitAnd(shr(w, 16), u32(255)));
  k.store('out_i', 2, cast('i32', cast('u32', i32(-1))));
  k.store('out_f', 2, cast('f32', shr(w, 8)));
  k.store('out_i', 3, cast('i32', x));
  k.store('out_f', 3, cast('f32', x)); // already f32: no conversion printed
});

const math = kernel('math', 'every math function; erf and infinities through helpers', [1, 1, 1], (k) => {
  k.buffer('fin', 'f32', 'read');
  k.buffer('out_f', 'f32', 'read_write');
  k.buffer('out_i', 'i32', 'read_write');
  const x = k.let('x', load('fin', 'f32', 0));
  const n = k.let('n', cast('i32', x));
  k.store('out_f', 0, call('exp', x));
  k.store('out_f', 1, call('sqrt', call('abs', x)));
  k.store('out_f', 2, call('inverse_sqrt', call('abs', x)));
  k.store('out_f', 3, call('tanh', x));
  k.store('out_f', 4, call('erf', x));
  k.store('out_f', 5, call('max', x, f32(-Infinity)));
  k.store('out_f', 6, call('min', x, 0.5));
  k.store('out_i', 0, call('max', n, -3));
  k.store('out_i', 1, call('abs', n));
});

const subgroups = kernel('subgroups', 'subgroup broadcast of lane 3 and subgroup sum', [8, 1, 1], (k) => {
  k.useSubgroups();
  k.buffer('src', 'f32', 'read');
  k.buffer('dst', 'f32', 'read_write');
  const lane = k.let('lane', builtin('subgroup_lane'));
  const v = k.let('v', load('src', 'f32', lane));
  k.store('dst', lane, { k: 'subgroup', type: 'f32', op: 'broadcast', a: v, lane: 3 });
  k.store('dst', add(lane, 8), { k: 'subgroup', type: 'f32', op: 'sum', a: v });
});

const atomics = kernel('atomics', 'integer atomic add and atomic load', [64, 1, 1], (k) => {
  k.buffer('counts', 'i32', 'read_write', true);
  k.buffer('dst', 'i32', 'read_write');
  k.atomicAdd('counts', 0, add(builtin('local_x'), 1));
  k.barrier();
  k.if(eq(builtin('local_x'), 0), (b) => b.store('dst', 0, load('counts', 'i32', 0)));
});

const someBuiltins = kernel('some_builtins', 'reads the local x and y and workgroup y ids only', [4, 2, 1], (k) => {
  k.buffer('dst', 'i32', 'read_write');
  const [wy, ly] = [builtin('workgroup_y'), builtin('local_y')];
  k.store('dst', add(mul(add(mul(wy, 2), ly), 4), builtin('local_x')), add(mul(wy, 10), ly));
});

const minimal = kernel('minimal', 'one constant store', [1, 1, 1], (k) => {
  k.buffer('dst', 'f32', 'read_write');
  k.store('dst', 0, f32(2));
});

const privateArray = kernel('private_array', 'a private array, written and read by index', [1, 1, 1], (k) => {
  k.buffer('dst', 'f32', 'read_write');
  const acc = k.array('acc', 'f32', 4);
  k.for('i', 0, 4, (i, b) => b.set(acc, i, cast('f32', mul(i, i))));
  k.store('dst', 0, add(acc.at(3), acc.at(1)));
});

const workgroupArray = kernel('workgroup_array', 'lanes share a tile through workgroup memory; lane 0 sums it', [8, 1, 1], (k) => {
  k.buffer('src', 'f32', 'read');
  k.buffer('dst', 'f32', 'read_write');
  const lane = k.let('lane', builtin('local_x'));
  const tile = k.array('tile', 'f32', 8, 'workgroup');
  k.set(tile, lane, load('src', 'f32', lane));
  k.barrier();
  k.if(eq(lane, 0), (b) => {
    const sum = b.var('sum', f32(0));
    b.for('i', 0, 8, (i) => sum.set(add(sum.get, tile.at(i))));
    b.store('dst', 0, sum.get);
  });
});

// ---- snapshots ----

describe('WGSL printer: snapshots', () => {
  it('prints an elementwise kernel: bindings after the token-count uniform, builtins as i32', () => {
    expect(printWgslKernel(elementwise)).toMatchInlineSnapshot(`
      "// scale_shift: y = 2x + 0.1 for the first T·16 elements
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read> x: array<f32>;
      @group(0) @binding(2) var<storage, read_write> y: array<f32>;

      @compute @workgroup_size(64, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        let global_x: i32 = i32(gid.x);
        let i0: i32 = global_x;
        if (i0 < i32(shape.tokens) * 16i) {
          y[i0] = x[i0] * 2.0f + 0.10000000149011612f;
        }
      }
      "
    `);
  });

  it('spells literals: i32 with i, u32 with u, f32 with a point or exponent and the f suffix, i32 minimum and infinities as expressions', () => {
    const text = printWgslKernel(literals);
    expect(text).toMatchInlineSnapshot(`
      "// literals: every literal spelling
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read_write> out_i: array<i32>;
      @group(0) @binding(2) var<storage, read_write> out_u: array<u32>;
      @group(0) @binding(3) var<storage, read_write> out_f: array<f32>;

      fn moec_f32_bits(bits: u32) -> f32 {
        return bitcast<f32>(bits);
      }

      @compute @workgroup_size(1, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        out_i[0i] = 5i;
        out_i[1i] = -7i;
        out_i[2i] = 0i;
        out_i[3i] = 2147483647i;
        out_i[4i] = i32(-2147483648);
        out_u[0i] = 5u;
        out_u[1i] = 0u;
        out_u[2i] = 4294967295u;
        out_f[0i] = 1.0f;
        out_f[1i] = 0.10000000149011612f;
        out_f[2i] = -2.5f;
        out_f[3i] = 1.0000000116860974e-7f;
        out_f[4i] = 3.0000000054977558e38f;
        out_f[5i] = 16777216.0f;
        out_f[6i] = 1.0000000200408773e21f;
        out_f[7i] = 0.5f;
        out_f[8i] = 0.3333333432674408f;
        out_f[9i] = moec_f32_bits(0xff800000u);
        out_f[10i] = moec_f32_bits(0x7f800000u);
        out_i[5i] = select(0i, 1i, true);
        out_i[6i] = i32(false);
      }
      "
    `);
    // 0.1 prints the f32 nearest 0.1 exactly, not the f64 0.1.
    expect(Math.fround(Number(floatLiteral(0.1).slice(0, -1)))).toBe(Math.fround(0.1));
  });

  it('parenthesises bitwise operands, mixed && and ||, comparisons as operands and equal-precedence right operands', () => {
    expect(printWgslKernel(precedence)).toMatchInlineSnapshot(`
      "// precedence: operators that need and do not need parentheses
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read> ins: array<i32>;
      @group(0) @binding(2) var<storage, read_write> out_i: array<i32>;

      @compute @workgroup_size(1, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        out_i[0i] = ins[0i] - (ins[1i] - ins[2i]);
        out_i[1i] = ins[0i] - ins[1i] - ins[2i];
        out_i[2i] = ins[0i] * (ins[1i] + ins[2i]);
        out_i[3i] = ins[0i] * ins[1i] + ins[2i];
        out_i[4i] = ins[0i] / (ins[1i] * ins[3i]);
        out_i[5i] = ins[0i] * ins[1i] % ins[2i];
        out_i[6i] = ins[0i] * (ins[1i] % ins[2i]);
        out_i[7i] = (ins[0i] & ins[1i]) + ins[2i];
        out_i[8i] = (ins[0i] + ins[1i]) & ins[2i];
        out_i[9i] = (ins[0i] & ins[1i]) ^ ins[2i];
        out_i[10i] = (ins[0i] & ins[1i]) & ins[2i];
        out_i[11i] = (ins[0i] + ins[1i]) >> u32(1i);
        out_i[12i] = (ins[0i] + ins[2i]) << 3u;
        out_i[13i] = -(ins[0i] + ins[1i]);
        out_i[14i] = - -ins[0i];
        out_i[15i] = - -5i;
        out_i[16i] = ins[0i] - -5i;
        out_i[17i] = -ins[0i] * ins[1i];
        out_i[18i] = select(ins[1i], ins[0i], ins[0i] < ins[1i]);
        out_i[19i] = i32(((ins[0i] < ins[1i]) && (ins[1i] < ins[2i])) || (ins[0i] == ins[2i]));
        out_i[20i] = i32(((ins[0i] < ins[1i]) || (ins[1i] < ins[2i])) && (ins[0i] != ins[3i]));
        out_i[21i] = i32((ins[0i] < ins[1i]) == (ins[1i] < ins[2i]));
        out_i[22i] = i32(!(ins[0i] < ins[1i]));
        out_i[23i] = i32(ins[0i] + ins[1i] < ins[1i] * ins[2i]);
        out_i[24i] = i32((ins[0i] & 1i) != 0i);
        out_i[25i] = i32(ins[0i] - ins[1i] >= (ins[2i] ^ ins[3i]));
      }
      "
    `);
  });

  it('prints control flow: nested for with a step, break, continue, if/else, return, select argument order', () => {
    expect(printWgslKernel(control)).toMatchInlineSnapshot(`
      "// control_flow: let, var, nested for with break and continue, if/else, return, select
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read> src: array<f32>;
      @group(0) @binding(2) var<storage, read_write> dst: array<f32>;

      fn moec_f32_bits(bits: u32) -> f32 {
        return bitcast<f32>(bits);
      }

      @compute @workgroup_size(8, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        let global_x: i32 = i32(gid.x);
        let row0: i32 = global_x;
        if (row0 >= i32(shape.tokens)) {
          return;
        }
        var acc1: f32 = 0.0f;
        var best2: f32 = moec_f32_bits(0xff800000u);
        for (var j3: i32 = 0i; j3 < 16i; j3 += 1) {
          if (j3 % 4i == 3i) {
            continue;
          }
          let v4: f32 = src[row0 * 16i + j3];
          if (v4 > best2) {
            best2 = v4;
          } else {
            acc1 = acc1 + v4;
          }
          for (var r5: i32 = j3; r5 < 16i; r5 += 2) {
            if (r5 > 13i) {
              break;
            }
          }
        }
        dst[row0] = select(acc1, best2, best2 > acc1);
      }
      "
    `);
  });

  it('prints casts, bitcasts and u32 shifts', () => {
    expect(printWgslKernel(casts)).toMatchInlineSnapshot(`
      "// casts: value conversions, bit reinterpretation and u32 shifts
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read> fin: array<f32>;
      @group(0) @binding(2) var<storage, read> uin: array<u32>;
      @group(0) @binding(3) var<storage, read_write> out_i: array<i32>;
      @group(0) @binding(4) var<storage, read_write> out_u: array<u32>;
      @group(0) @binding(5) var<storage, read_write> out_f: array<f32>;

      @compute @workgroup_size(1, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        let x0: f32 = fin[0i];
        let w1: u32 = uin[0i];
        out_i[0i] = i32(x0);
        out_f[0i] = f32(i32(x0));
        out_u[0i] = bitcast<u32>(x0);
        out_f[1i] = bitcast<f32>(w1);
        out_i[1i] = bitcast<i32>(w1);
        out_u[1i] = w1 >> u32(4i);
        out_u[2i] = w1 << 8u;
        out_u[3i] = (w1 >> u32(16i)) & 255u;
        out_i[2i] = i32(u32(-1i));
        out_f[2i] = f32(w1 >> u32(8i));
        out_i[3i] = i32(x0);
        out_f[3i] = x0;
      }
      "
    `);
  });

  it('prints math calls, with moec_erf and moec_f32_bits helpers only where used', () => {
    expect(printWgslKernel(math)).toMatchInlineSnapshot(`
      "// math: every math function; erf and infinities through helpers
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read> fin: array<f32>;
      @group(0) @binding(2) var<storage, read_write> out_f: array<f32>;
      @group(0) @binding(3) var<storage, read_write> out_i: array<i32>;

      fn moec_erf(x: f32) -> f32 {
        let z = abs(x);
        let t = 1.0 / (1.0 + 0.5 * z);
        let p = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
        let r = 1.0 - t * exp(p);
        return select(r, -r, x < 0.0);
      }

      fn moec_f32_bits(bits: u32) -> f32 {
        return bitcast<f32>(bits);
      }

      @compute @workgroup_size(1, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        let x0: f32 = fin[0i];
        let n1: i32 = i32(x0);
        out_f[0i] = exp(x0);
        out_f[1i] = sqrt(abs(x0));
        out_f[2i] = inverseSqrt(abs(x0));
        out_f[3i] = tanh(x0);
        out_f[4i] = moec_erf(x0);
        out_f[5i] = max(x0, moec_f32_bits(0xff800000u));
        out_f[6i] = min(x0, 0.5f);
        out_i[0i] = max(n1, -3i);
        out_i[1i] = abs(n1);
      }
      "
    `);
  });

  it('enables subgroups and declares the lane only for a subgroup kernel', () => {
    expect(printWgslKernel(subgroups)).toMatchInlineSnapshot(`
      "enable subgroups;

      // subgroups: subgroup broadcast of lane 3 and subgroup sum
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read> src: array<f32>;
      @group(0) @binding(2) var<storage, read_write> dst: array<f32>;

      @compute @workgroup_size(8, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sgid: u32) {
        let subgroup_lane: i32 = i32(sgid);
        let lane0: i32 = subgroup_lane;
        let v1: f32 = src[lane0];
        dst[lane0] = subgroupBroadcast(v1, 3u);
        dst[lane0 + 8i] = subgroupAdd(v1);
      }
      "
    `);
  });

  it('declares atomic params read_write and reads them with atomicLoad', () => {
    expect(printWgslKernel(atomics)).toMatchInlineSnapshot(`
      "// atomics: integer atomic add and atomic load
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read_write> counts: array<atomic<i32>>;
      @group(0) @binding(2) var<storage, read_write> dst: array<i32>;

      @compute @workgroup_size(64, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        let local_x: i32 = i32(lid.x);
        atomicAdd(&counts[0i], local_x + 1i);
        workgroupBarrier();
        if (local_x == 0i) {
          dst[0i] = atomicLoad(&counts[0i]);
        }
      }
      "
    `);
  });

  it('declares only the builtins a kernel reads', () => {
    expect(printWgslKernel(someBuiltins)).toMatchInlineSnapshot(`
      "// some_builtins: reads the local x and y and workgroup y ids only
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read_write> dst: array<i32>;

      @compute @workgroup_size(4, 2, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        let local_x: i32 = i32(lid.x);
        let local_y: i32 = i32(lid.y);
        let workgroup_y: i32 = i32(wid.y);
        dst[(workgroup_y * 2i + local_y) * 4i + local_x] = workgroup_y * 10i + local_y;
      }
      "
    `);
  });

  it('prints a kernel with no builtins, helpers or extensions', () => {
    expect(printWgslKernel(minimal)).toMatchInlineSnapshot(`
      "// minimal: one constant store
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read_write> dst: array<f32>;

      @compute @workgroup_size(1, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        dst[0i] = 2.0f;
      }
      "
    `);
  });

  it('prints private arrays', () => {
    expect(printWgslKernel(privateArray)).toMatchInlineSnapshot(`
      "// private_array: a private array, written and read by index
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read_write> dst: array<f32>;

      @compute @workgroup_size(1, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        var acc0: array<f32, 4>;
        for (var i1: i32 = 0i; i1 < 4i; i1 += 1) {
          acc0[i1] = f32(i1 * i1);
        }
        dst[0i] = acc0[3i] + acc0[1i];
      }
      "
    `);
  });

  it('declares workgroup arrays at module scope, private arrays in main', () => {
    expect(printWgslKernel(workgroupArray)).toMatchInlineSnapshot(`
      "// workgroup_array: lanes share a tile through workgroup memory; lane 0 sums it
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read> src: array<f32>;
      @group(0) @binding(2) var<storage, read_write> dst: array<f32>;

      var<workgroup> tile1: array<f32, 8>;

      @compute @workgroup_size(8, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        let local_x: i32 = i32(lid.x);
        let lane0: i32 = local_x;
        tile1[lane0] = src[lane0];
        workgroupBarrier();
        if (lane0 == 0i) {
          var sum2: f32 = 0.0f;
          for (var i3: i32 = 0i; i3 < 8i; i3 += 1) {
            sum2 = sum2 + tile1[i3];
          }
          dst[0i] = sum2;
        }
      }
      "
    `);
  });
});

// ---- what every printed kernel declares, from its IR ----

function exprs(stmts: readonly Stmt[]): Expr[] {
  const out: Expr[] = [];
  const expr = (e: Expr): void => {
    out.push(e);
    if ('a' in e && e.a) expr(e.a);
    if (e.k === 'binary' || e.k === 'select') expr(e.b);
    if (e.k === 'select') expr(e.cond);
    if (e.k === 'call') e.args.forEach(expr);
    if (e.k === 'load' || e.k === 'element') expr(e.index);
  };
  const stmt = (s: Stmt): void => {
    if ('value' in s) expr(s.value);
    if ('index' in s) expr(s.index);
    if (s.k === 'if') {
      expr(s.cond);
      s.then.forEach(stmt);
      s.else?.forEach(stmt);
    }
    if (s.k === 'for') {
      expr(s.from);
      expr(s.to);
      s.body.forEach(stmt);
    }
  };
  stmts.forEach(stmt);
  return out;
}

const ALL_BUILTINS = ['global_x', 'global_y', 'global_z', 'local_x', 'local_y', 'workgroup_x', 'workgroup_y', 'workgroup_z', 'subgroup_lane'] as const;

describe('WGSL printer: declarations follow use', () => {
  it.each([...kernels.keys()])('%s declares exactly the builtins, helpers and extensions it uses', (name) => {
    const k = kernels.get(name)!;
    const text = printWgslKernel(k);
    const used = exprs(k.body);
    for (const b of ALL_BUILTINS) {
      const declared = new RegExp(`^  let ${b}: i32 = i32\\(`, 'm').test(text);
      expect(declared, `${name}: builtin ${b}`).toBe(used.some((e) => e.k === 'builtin' && e.name === b));
    }
    const usesErf = used.some((e) => e.k === 'call' && e.fn === 'erf');
    const usesInf = used.some((e) => e.k === 'const' && e.type === 'f32' && !Number.isFinite(e.value as number));
    expect(text.includes('fn moec_erf('), `${name}: moec_erf`).toBe(usesErf);
    expect(text.includes('fn moec_f32_bits('), `${name}: moec_f32_bits`).toBe(usesInf);
    expect(text.startsWith('enable subgroups;\n'), `${name}: enable subgroups`).toBe(Boolean(k.subgroups));
    expect(text.includes('subgroup_invocation_id'), `${name}: subgroup lane parameter`).toBe(Boolean(k.subgroups));
    // Binding 0 is the uniform; params follow in order.
    k.params.forEach((p, n) => expect(text).toContain(`@group(0) @binding(${n + 1}) var<storage, ${p.access === 'read' && !p.atomic ? 'read' : 'read_write'}> ${p.name}: array<${p.atomic ? `atomic<${p.element}>` : p.element}>;`));
  });
});

// ---- f32 literals ----

/** WGSL's decimal float literal with the f32 suffix, after an optional unary minus. */
const WGSL_FLOAT = /^-?(\d*\.\d+([eE][+-]?\d+)?|\d+\.\d*([eE][+-]?\d+)?|\d+[eE][+-]?\d+)f$/;

describe('WGSL printer: f32 literals', () => {
  it('round-trip every finite f32 exactly and are WGSL float literals', () => {
    fc.assert(
      fc.property(
        fc.float({ noNaN: true, noDefaultInfinity: true }).filter((v) => !Object.is(v, -0)),
        (v) => {
          const text = floatLiteral(v);
          expect(text).toMatch(WGSL_FLOAT);
          expect(Math.fround(Number(text.slice(0, -1)))).toBe(v);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('keep the sign of -0', () => {
    expect(floatLiteral(-0)).toBe('-0.0f');
  });

  it('never print NaN, which WGSL cannot spell', () => {
    const k = new KernelBuilder('nan', 'stores a NaN', [1, 1, 1]);
    k.buffer('dst', 'f32', 'read_write');
    k.store('dst', 0, f32(NaN));
    expect(printWgslKernel(k.finish())).toContain('dst[0i] = moec_f32_bits(0x7fc00000u);');
  });
});

// ---- random expression trees against the kernel IR's semantics ----

class Reject extends Error {}

interface Inputs {
  ints: readonly number[];
  floats: readonly number[];
}

/** A value and whether WGSL folds it at shader creation (only literals below it). */
interface Val {
  v: number | boolean;
  c: boolean;
}

const TWO24 = 2 ** 24;
const TWO31 = 2 ** 31;

/**
 * What the kernel IR says an expression computes: f32 ops round to f32 (Math.fround), i32 ops
 * wrap (Math.imul, |0), i32 division truncates. Throws Reject where the answer is not pinned
 * down or WGSL refuses it: i32 division by 0 or of INT_MIN by -1; f32 to i32 out of range; i32
 * to f32 beyond 2^24 (WGSL may round either way); non-finite f32; where WGSL folds the value at
 * shader creation, i32 overflow (a creation error); and any f32 op that rounds. Drivers may
 * contract a·b + c into an fma and, without NoContraction, reassociate: Mesa turns
 * a + (c - (0 + a)) into c on lavapipe. Where no op rounds, every such rewrite gives the same
 * value, so exact f32 trees pin the printed precedence down without depending on the driver.
 * (Constant subtrees that round are a printer bug: see the abstract-float test below.)
 */
function evaluate(e: Expr, inputs: Inputs): Val {
  const f32v = (exact: number, c: boolean): Val => {
    const f = Math.fround(exact);
    if (!Number.isFinite(f) || !Number.isFinite(exact)) throw new Reject('non-finite f32');
    if (f !== exact) throw new Reject('inexact f32');
    if (f !== 0 && Math.abs(f) < 2 ** -100) throw new Reject('near the subnormals, which a driver may flush');
    return { v: f, c };
  };
  const i32v = (wrapped: number, exact: bigint, c: boolean): Val => {
    if (c && BigInt(wrapped) !== exact) throw new Reject('folded i32 overflow');
    return { v: wrapped, c };
  };
  switch (e.k) {
    case 'const':
      return { v: e.type === 'f32' ? Math.fround(e.value as number) : e.value, c: true };
    case 'load':
      {
      const v = (e.type === 'f32' ? inputs.floats : inputs.ints)[(e.index as { value: number }).value]!;
      return { v: e.type === 'f32' ? Math.fround(v) : v, c: false };
    }
    case 'unary': {
      const a = evaluate(e.a, inputs);
      if (e.op === '!') return { v: !a.v, c: a.c };
      if (e.type === 'f32') return { v: -(a.v as number), c: a.c };
      return i32v(-(a.v as number) | 0, -BigInt(a.v as number), a.c);
    }
    case 'select': {
      const [cond, a, b] = [evaluate(e.cond, inputs), evaluate(e.a, inputs), evaluate(e.b, inputs)];
      return { v: cond.v ? a.v : b.v, c: cond.c && a.c && b.c };
    }
    case 'cast': {
      const a = evaluate(e.a, inputs);
      const from = e.a.type;
      if (e.type === 'bool') return { v: a.v !== 0, c: a.c };
      if (from === 'bool') return { v: a.v ? 1 : 0, c: a.c };
      const x = a.v as number;
      if (e.type === 'f32') {
        if (Math.abs(x) > TWO24) throw new Reject('i32 to f32 rounds');
        return { v: Math.fround(x), c: a.c };
      }
      if (e.type === 'i32' && from === 'f32') {
        if (!(x > -TWO31 - 1 && x < TWO31)) throw new Reject('f32 to i32 out of range');
        return { v: Math.trunc(x) | 0, c: a.c };
      }
      if (e.type === 'i32') return { v: x | 0, c: a.c };
      if (e.type === 'u32') return { v: x >>> 0, c: a.c };
      throw new Error(`cast to ${e.type}`);
    }
    case 'binary': {
      const [a, b] = [evaluate(e.a, inputs), evaluate(e.b, inputs)];
      const c = a.c && b.c;
      const [x, y] = [a.v as number, b.v as number];
      switch (e.op) {
        case '&&':
          return { v: (a.v as boolean) && (b.v as boolean), c };
        case '||':
          return { v: (a.v as boolean) || (b.v as boolean), c };
        case '<':
          return { v: x < y, c };
        case '<=':
          return { v: x <= y, c };
        case '>':
          return { v: x > y, c };
        case '>=':
          return { v: x >= y, c };
        case '==':
          return { v: a.v === b.v, c };
        case '!=':
          return { v: a.v !== b.v, c };
        default:
          break;
      }
      if (e.type === 'f32') {
        switch (e.op) {
          case '+':
            return f32v(x + y, c);
          case '-':
            return f32v(x - y, c);
          case '*':
            return f32v(x * y, c);
          case '/':
            return f32v(x / y, c);
          default:
            throw new Error(`f32 ${e.op}`);
        }
      }
      if (e.type === 'u32') {
        switch (e.op) {
          case '&':
            return { v: (x & y) >>> 0, c };
          case '>>':
            return { v: x >>> y, c };
          default:
            throw new Error(`u32 ${e.op}`);
        }
      }
      const [X, Y] = [BigInt(x), BigInt(y)];
      switch (e.op) {
        case '+':
          return i32v((x + y) | 0, X + Y, c);
        case '-':
          return i32v((x - y) | 0, X - Y, c);
        case '*':
          return i32v(Math.imul(x, y), X * Y, c);
        case '/':
        case '%':
          if (y === 0 || (x === INT_MIN && y === -1)) throw new Reject('i32 division by 0 or INT_MIN / -1');
          return { v: e.op === '/' ? Math.trunc(x / y) | 0 : x % y | 0, c };
        case '&':
          return { v: x & y, c };
        case '^':
          return { v: x ^ y, c };
        case '<<':
          return i32v(x << y, X << BigInt(y), c);
        case '>>':
          return { v: x >> y, c };
        default:
          throw new Error(`i32 ${e.op}`);
      }
    }
    default:
      throw new Error(`no evaluation of ${e.k}`);
  }
}

const N_INPUTS = 6;
const POW2 = [0.25, 0.5, 2, 4, -0.5, -2];

type TreeType = 'i32' | 'f32' | 'bool';
const memo = new Map<string, fc.Arbitrary<Expr>>();

/** Random typed expression trees over runtime loads and literals, at most `depth` deep. */
function tree(type: TreeType, depth: number): fc.Arbitrary<Expr> {
  const key = `${type}${depth}`;
  const known = memo.get(key);
  if (known) return known;
  const index = fc.integer({ min: 0, max: N_INPUTS - 1 });
  const leaves: Record<TreeType, fc.Arbitrary<Expr>> = {
    i32: fc.oneof(
      { arbitrary: index.map((n) => load('ini', 'i32', n)), weight: 3 },
      { arbitrary: fc.constantFrom(0, 1, -1, 2, 7, -13, 31, 100, INT_MAX, INT_MIN).map((v) => i32(v)), weight: 2 },
    ),
    f32: fc.oneof(
      { arbitrary: index.map((n) => load('inf', 'f32', n)), weight: 3 },
      { arbitrary: fc.constantFrom(0, 1, -1, 0.5, 2.25, -3.75, 10, 0.1, 1e-3).map((v) => f32(v)), weight: 2 },
    ),
    bool: fc.constantFrom(true, false).map((v) => bool(v)),
  };
  let arb: fc.Arbitrary<Expr>;
  if (depth === 0) {
    arb = leaves[type];
  } else {
    const I = tree('i32', depth - 1);
    const F = tree('f32', depth - 1);
    const B = tree('bool', depth - 1);
    const two = <A, C>(x: fc.Arbitrary<A>, y: fc.Arbitrary<C>) => fc.tuple(x, y);
    const nodes: Record<TreeType, fc.Arbitrary<Expr>[]> = {
      i32: [
        two(I, I).map(([a, b]) => add(a, b)),
        two(I, I).map(([a, b]) => sub(a, b)),
        two(I, I).map(([a, b]) => mul(a, b)),
        two(I, I).map(([a, b]) => div(a, b)),
        two(I, I).map(([a, b]) => mod(a, b)),
        two(I, I).map(([a, b]) => bitAnd(a, b)),
        two(I, I).map(([a, b]) => bitXor(a, b)),
        two(I, fc.integer({ min: 0, max: 31 })).map(([a, s]) => shr(a, s)),
        two(I, fc.integer({ min: 0, max: 31 })).map(([a, s]): Expr => ({ k: 'binary', type: 'i32', op: '<<', a, b: u32(s) })),
        two(I, I).map(([a, s]): Expr => ({ k: 'binary', type: 'i32', op: '>>', a, b: bitAnd(cast('u32', s), u32(31)) })),
        I.map(neg),
        fc.tuple(B, I, I).map(([c, a, b]) => select(c, a, b)),
        F.map((a) => cast('i32', a)),
        B.map((a) => cast('i32', a)),
      ],
      f32: [
        two(F, F).map(([a, b]) => add(a, b)),
        two(F, F).map(([a, b]) => sub(a, b)),
        two(F, F).map(([a, b]) => mul(a, b)),
        // Division only by powers of two: WGSL allows 2.5 ulp of error in f32 division.
        two(F, fc.constantFrom(...POW2)).map(([a, b]) => div(a, f32(b))),
        F.map(neg),
        fc.tuple(B, F, F).map(([c, a, b]) => select(c, a, b)),
        I.map((a) => cast('f32', a)),
        B.map((a) => cast('f32', a)),
      ],
      bool: [
        two(I, I).map(([a, b]) => lt(a, b)),
        two(I, I).map(([a, b]) => eq(a, b)),
        two(I, I).map(([a, b]) => ge(a, b)),
        two(F, F).map(([a, b]) => lt(a, b)),
        two(F, F).map(([a, b]) => le(a, b)),
        two(F, F).map(([a, b]) => ne(a, b)),
        two(F, F).map(([a, b]) => gt(a, b)),
        two(B, B).map(([a, b]) => and(a, b)),
        two(B, B).map(([a, b]) => or(a, b)),
        B.map(not),
        fc.tuple(B, B, B).map(([c, a, b]) => select(c, a, b)),
        I.map((a) => cast('bool', a)),
      ],
    };
    arb = fc.oneof({ arbitrary: leaves[type], weight: 1 }, { arbitrary: fc.oneof(...nodes[type]), weight: 3 });
  }
  memo.set(key, arb);
  return arb;
}

const inputsArb: fc.Arbitrary<Inputs> = fc.record({
  ints: fc.array(fc.oneof(fc.integer({ min: -50, max: 50 }), fc.constantFrom(INT_MIN, INT_MAX, -1, 0), fc.integer()), { minLength: N_INPUTS, maxLength: N_INPUTS }),
  floats: fc.array(
    fc.oneof(
      fc.integer({ min: -64, max: 64 }).map((n) => n / 4),
      fc.constantFrom(0.1, 1e6, -0.001, 3),
    ),
    { minLength: N_INPUTS, maxLength: N_INPUTS },
  ),
});

const treesArb = fc.array(
  fc.oneof(tree('i32', 4), tree('f32', 4), tree('bool', 4)),
  { minLength: 30, maxLength: 60 },
);

// ---- running kernels on the device ----

type Data = Int32Array | Uint32Array | Float32Array;

/** Run one kernel once (one workgroup unless told), with `inputs` and zeroed `outputs`; returns the outputs' bytes. */
async function runKernel(device: GPUDevice, k: Kernel, data: Record<string, Data>, workgroups: [number, number, number] = [1, 1, 1]): Promise<Record<string, ArrayBuffer>> {
  const compiled = await compileKernel(device, k);
  device.pushErrorScope('validation');
  const uniform = device.createBuffer({ size: 16, usage: BUFFER_USAGE.UNIFORM | BUFFER_USAGE.COPY_DST });
  device.queue.writeBuffer(uniform, 0, new Uint32Array([1, 0, 0, 0]));
  const buffers = k.params.map((p) => {
    const d = data[p.name];
    if (!d) throw new Error(`no data for ${p.name}`);
    const buffer = device.createBuffer({ size: Math.max(16, d.byteLength), usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST });
    device.queue.writeBuffer(buffer, 0, d);
    return buffer;
  });
  const group = device.createBindGroup({ layout: compiled.layout, entries: [uniform, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } })) });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(compiled.pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(...workgroups);
  pass.end();
  const readable = k.params.map((p, n) => {
    const staging = device.createBuffer({ size: buffers[n]!.size, usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST });
    encoder.copyBufferToBuffer(buffers[n]!, 0, staging, 0, buffers[n]!.size);
    return [p.name, staging] as const;
  });
  device.queue.submit([encoder.finish()]);
  const error = await device.popErrorScope();
  if (error) throw new Error(`running ${k.name}: ${error.message}`);
  const out: Record<string, ArrayBuffer> = {};
  for (const [name, staging] of readable) {
    await staging.mapAsync(MAP_MODE.READ);
    out[name] = staging.getMappedRange().slice(0);
    staging.destroy();
  }
  [uniform, ...buffers].forEach((b) => b.destroy());
  return out;
}

/** Errors and warnings of the module, and pipeline creation: what a kernel's WGSL costs on this device. */
async function diagnostics(device: GPUDevice, k: Kernel): Promise<string[]> {
  const code = printWgslKernel(k);
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: k.name, code });
  const info = await module.getCompilationInfo();
  const error = await device.popErrorScope();
  const found = info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`);
  if (error) found.push(`validation: ${error.message}`);
  if (!found.length) {
    const compiled = await compileKernel(device, k).catch((e: unknown) => e as Error);
    if (compiled instanceof Error) found.push(compiled.message);
  }
  return found;
}

let accepted = 0;
let generated = 0;

describe.skipIf(!gpu)(gpuSuiteTitle('WGSL printer on the device', gpu), () => {
  // The body is collected even when the suite is skipped: no dereference of a missing device here.
  const device = gpu?.device as GPUDevice;

  it.each([...kernels.keys()])('%s compiles without errors or warnings', async (name) => {
    expect(await diagnostics(device, kernels.get(name)!)).toEqual([]);
  });

  it('stores every literal with the exact bits it spells', async () => {
    const out = await runKernel(device, literals, { out_i: new Int32Array(8), out_u: new Uint32Array(4), out_f: new Float32Array(F32_LITERALS.length) });
    expect(Array.from(new Int32Array(out.out_i!)).slice(0, I32_LITERALS.length + 2)).toEqual([...I32_LITERALS, 1, 0]);
    expect(Array.from(new Uint32Array(out.out_u!)).slice(0, U32_LITERALS.length)).toEqual(U32_LITERALS);
    expect(Array.from(new Float32Array(out.out_f!).slice(0, F32_LITERALS.length))).toEqual(F32_LITERALS.map(Math.fround));
  });

  it('round-trips random f32, i32 and u32 literals bit for bit on the device', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.float({ noNaN: true }).filter((v) => !Object.is(v, -0)), { minLength: 1, maxLength: 64 }),
        fc.array(fc.integer(), { minLength: 1, maxLength: 64 }),
        fc.array(fc.nat({ max: 4294967295 }), { minLength: 1, maxLength: 64 }),
        async (fs, is, us) => {
          const k = new KernelBuilder('random_literals', 'stores literals', [1, 1, 1]);
          k.buffer('out_f', 'f32', 'read_write');
          k.buffer('out_i', 'i32', 'read_write');
          k.buffer('out_u', 'u32', 'read_write');
          fs.forEach((v, n) => k.store('out_f', n, f32(v)));
          is.forEach((v, n) => k.store('out_i', n, i32(v)));
          us.forEach((v, n) => k.store('out_u', n, u32(v)));
          const out = await runKernel(device, k.finish(), { out_f: new Float32Array(fs.length), out_i: new Int32Array(is.length), out_u: new Uint32Array(us.length) });
          expect(Array.from(new Uint32Array(out.out_f!).slice(0, fs.length))).toEqual(Array.from(new Uint32Array(Float32Array.from(fs).buffer)));
          expect(Array.from(new Int32Array(out.out_i!).slice(0, is.length))).toEqual(is);
          expect(Array.from(new Uint32Array(out.out_u!).slice(0, us.length))).toEqual(us);
        },
      ),
      { numRuns: 10 },
    );
  });

  it('computes the precedence cases as C/TypeScript precedence says', async () => {
    const ints = PRECEDENCE_INPUTS;
    const want = precedenceCases.map((e) => {
      const v = evaluate(e, { ints, floats: [] }).v;
      return typeof v === 'boolean' ? Number(v) : v;
    });
    const out = await runKernel(device, precedence, { ins: Int32Array.from(ints), out_i: new Int32Array(precedenceCases.length) });
    expect(Array.from(new Int32Array(out.out_i!).slice(0, want.length))).toEqual(want);
  });

  it('runs control flow, casts, math, arrays, atomics and builtins as written', async () => {
    const src = Float32Array.from({ length: 16 * 8 }, (_, n) => ((n * 7) % 11) - 5);
    const flowOut = await runKernel(device, control, { src, dst: new Float32Array(8) });
    const flow = new Float32Array(flowOut.dst!).slice(0, 1);
    let acc = 0;
    let best = -Infinity;
    for (let j = 0; j < 16; j++) {
      if (j % 4 === 3) continue;
      const v = src[j]!;
      if (v > best) best = v;
      else acc += v;
    }
    expect(Array.from(flow)).toEqual([Math.fround(best > acc ? best : acc)]);

    const c = await runKernel(device, casts, { fin: Float32Array.of(-7.75), uin: Uint32Array.of(0x3f800000 + 0x12345), out_i: new Int32Array(4), out_u: new Uint32Array(4), out_f: new Float32Array(4) });
    const w = 0x3f800000 + 0x12345;
    expect(Array.from(new Int32Array(c.out_i!))).toEqual([-7, w, -1, -7]);
    expect(Array.from(new Uint32Array(c.out_u!))).toEqual([new Uint32Array(Float32Array.of(-7.75).buffer)[0], w >>> 4, (w << 8) >>> 0, (w >>> 16) & 255]);
    expect(Array.from(new Float32Array(c.out_f!))).toEqual([-7, new Float32Array(Uint32Array.of(w).buffer)[0], w >>> 8, -7.75]);

    const m = await runKernel(device, math, { fin: Float32Array.of(0.5), out_f: new Float32Array(7), out_i: new Int32Array(2) });
    const got = Array.from(new Float32Array(m.out_f!));
    const erf05 = 0.5204998778130465;
    [Math.exp(0.5), Math.sqrt(0.5), 1 / Math.sqrt(0.5), Math.tanh(0.5), erf05, 0.5, 0.5].forEach((v, n) => expect(got[n], `math ${n}`).toBeCloseTo(v, 5));
    expect(Array.from(new Int32Array(m.out_i!).slice(0, 2))).toEqual([0, 0]);

    const a = await runKernel(device, privateArray, { dst: new Float32Array(1) });
    expect(new Float32Array(a.dst!)[0]).toBe(10);

    const wg = await runKernel(device, workgroupArray, { src: Float32Array.from({ length: 8 }, (_, n) => n + 0.5), dst: new Float32Array(1) });
    expect(new Float32Array(wg.dst!)[0]).toBe(32);

    const at = await runKernel(device, atomics, { counts: new Int32Array(1), dst: new Int32Array(1) });
    expect(new Int32Array(at.counts!)[0]).toBe((64 * 65) / 2);

    const sb = await runKernel(device, someBuiltins, { dst: new Int32Array(16) }, [1, 2, 1]);
    expect(Array.from(new Int32Array(sb.dst!))).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 10, 10, 10, 10, 11, 11, 11, 11]);
  });

  it.skipIf(!gpu?.features.includes('subgroups'))('broadcasts lane 3 and sums over the subgroup', async () => {
    const src = Float32Array.from({ length: 8 }, (_, n) => n * n);
    const out = new Float32Array((await runKernel(device, subgroups, { src, dst: new Float32Array(16) })).dst!);
    // A subgroup of at least 8 lanes holds the whole workgroup (lavapipe: 8 lanes of 256 bits).
    expect(Array.from(out.slice(0, 8))).toEqual(Array<number>(8).fill(9));
    expect(Array.from(out.slice(8, 16))).toEqual(Array<number>(8).fill(140));
  });

  it('folds constant f32 subexpressions with f32 rounding', async () => {
    // The kernel IR rounds every f32 op: 1 + 2^-24 is a tie that rounds to 1, twice. WGSL folds
    // '1.0 + 5.960464477539063e-8 + 5.960464477539063e-8' as an abstract float and rounds once.
    const eps = 2 ** -24;
    const k = new KernelBuilder('folded', 'a constant f32 expression', [1, 1, 1]);
    k.buffer('dst', 'f32', 'read_write');
    k.store('dst', 0, add(add(f32(1), f32(eps)), f32(eps)));
    const out = await runKernel(device, k.finish(), { dst: new Float32Array(1) });
    expect(new Float32Array(out.dst!)[0]).toBe(Math.fround(Math.fround(1 + eps) + eps));
  });

  it('random expression trees compute on the device what the kernel IR says (property)', async () => {
    await fc.assert(
      fc.asyncProperty(inputsArb, treesArb, async (inputs, trees) => {
        const cases: { e: Expr; want: number }[] = [];
        for (const e of trees) {
          generated++;
          try {
            const v = evaluate(e, inputs).v;
            cases.push({ e, want: typeof v === 'boolean' ? Number(v) : v });
          } catch (error) {
            if (!(error instanceof Reject)) throw error;
          }
        }
        accepted += cases.length;
        const k = new KernelBuilder('random_trees', 'one random expression per output', [1, 1, 1]);
        k.buffer('ini', 'i32', 'read');
        k.buffer('inf', 'f32', 'read');
        k.buffer('out_i', 'i32', 'read_write');
        k.buffer('out_f', 'f32', 'read_write');
        cases.forEach(({ e }, n) => (e.type === 'f32' ? k.store('out_f', n, e) : k.store('out_i', n, cast('i32', e))));
        const kernel = k.finish();
        const out = await runKernel(device, kernel, { ini: Int32Array.from(inputs.ints), inf: Float32Array.from(inputs.floats), out_i: new Int32Array(cases.length), out_f: new Float32Array(cases.length) });
        const [oi, of] = [new Int32Array(out.out_i!), new Float32Array(out.out_f!)];
        const wrong = cases.flatMap(({ e, want }, n) => {
          const got = e.type === 'f32' ? of[n]! : oi[n]!;
          return got === want ? [] : [`out[${n}]: want ${want}, got ${got}: ${printWgslKernel(kernel).split('\n').find((l) => l.includes(`[${n}i] =`))!.trim()}`];
        });
        expect(wrong, `inputs ${JSON.stringify(inputs)}`).toEqual([]);
      }),
      { numRuns: 40 },
    );
    // Most trees are checked, not rejected as undefined (about 78% of them on lavapipe).
    expect(accepted / generated).toBeGreaterThan(0.6);
  });
});
