import { describe, expect, it } from 'vitest';
import { add, builtin, f32, i32, KernelBuilder, load, lt, mul, tokens } from '../src/codegen/build.js';
import { buildProgram } from '../src/codegen/compile.js';
import type { Expr, Kernel } from '../src/codegen/kernel-ir.js';
import type { BufferDecl, Dispatch, Grid, Program } from '../src/codegen/program.js';
import { SCHEDULES } from '../src/codegen/schedule.js';
import { verifyKernel, verifyProgram } from '../src/codegen/verify.js';
import { runPipeline } from '../src/passes/pipeline.js';
import { exampleFiles, readExample } from './helpers.js';
import { compileText } from './support/model.js';
import { small } from './support/small.js';

/**
 * src/codegen/verify.ts: each broken kernel or program is rejected with its own message (and
 * only that one), and every example's Program, under every schedule, verifies clean.
 */

// ---- kernels ----

/** dst[i] = src[i] + 1 for i < T: the valid kernel the broken ones start from. */
function valid(): KernelBuilder {
  const k = new KernelBuilder('k', 'dst = src + 1', [64, 1, 1]);
  k.buffer('src', 'f32', 'read');
  k.buffer('dst', 'f32', 'read_write');
  return k;
}

describe('verifyKernel', () => {
  it('accepts a valid kernel that uses every kind of scope', () => {
    const k = valid();
    const i = k.let('i', builtin('global_x'));
    const acc = k.var('acc', f32(0));
    const arr = k.array('arr', 'f32', 4);
    k.if(lt(i, tokens), (b) => {
      const v = b.let('v', load('src', 'f32', i));
      b.for('j', 0, 4, (j, inner) => {
        inner.set(arr, j, add(v, acc.get));
        acc.set(add(acc.get, arr.at(j)));
      });
      b.store('dst', i, acc.get);
    });
    expect(verifyKernel(k.finish())).toEqual([]);
  });

  it('rejects a let declared inside an if and used after it', () => {
    const k = valid();
    const i = k.let('i', builtin('global_x'));
    let v: Expr | undefined;
    k.if(lt(i, tokens), (b) => {
      v = b.let('v', load('src', 'f32', i));
    });
    k.store('dst', i, v!);
    expect(verifyKernel(k.finish())).toEqual(['v1 is used outside its scope']);
  });

  it('rejects a name from the then branch used in the else branch', () => {
    const k = valid();
    const i = k.let('i', builtin('global_x'));
    let v: Expr | undefined;
    k.if(
      lt(i, tokens),
      (b) => {
        v = b.let('v', load('src', 'f32', i));
      },
      (b) => b.store('dst', i, v!),
    );
    expect(verifyKernel(k.finish())).toEqual(['v1 is used outside its scope']);
  });

  it('rejects a for loop index and a let from its body used after the loop', () => {
    const k = valid();
    let index: Expr | undefined;
    let inner: Expr | undefined;
    k.for('j', 0, 4, (j, b) => {
      index = j;
      inner = b.let('x', load('src', 'f32', j));
    });
    k.store('dst', index!, inner!);
    expect(verifyKernel(k.finish())).toEqual(['j0 is used outside its scope', 'x1 is used outside its scope']);
  });

  it('rejects a name used before its declaration', () => {
    const k = valid();
    k.store('dst', 0, { k: 'ref', type: 'f32', name: 'later0' });
    k.emit({ k: 'let', name: 'later0', value: f32(1) });
    expect(verifyKernel(k.finish())).toEqual(['later0 is used outside its scope']);
  });

  it('rejects a let whose value reads itself', () => {
    const k = valid();
    k.emit({ k: 'let', name: 'x0', value: add({ k: 'ref', type: 'i32', name: 'x0' }, 1) });
    expect(verifyKernel(k.finish())).toEqual(['x0 is used outside its scope']);
  });

  it('rejects a var assigned, and an array written and read, outside their scopes', () => {
    const k = valid();
    let arr: ReturnType<KernelBuilder['array']> | undefined;
    k.if(lt(builtin('global_x'), tokens), (b) => {
      b.var('acc', f32(0));
      arr = b.array('arr', 'f32', 2);
    });
    // Emitted directly: the builder's own `set` would put it back inside the if (see below).
    k.emit({ k: 'assign', name: 'acc0', value: f32(1) });
    k.set(arr!, 0, f32(2));
    k.store('dst', 0, arr!.at(1));
    expect(verifyKernel(k.finish())).toEqual(['assigns acc0 outside its scope', 'writes array arr1 outside its scope', 'array arr1 is used outside its scope']);
  });

  it('keeps a var assigned after its block where it was written', () => {
    const k = valid();
    let acc: ReturnType<KernelBuilder['var']> | undefined;
    k.if(lt(builtin('global_x'), tokens), (b) => {
      acc = b.var('acc', f32(0));
    });
    acc!.set(f32(1)); // at the top level, after the if: out of scope
    k.store('dst', 0, f32(3));
    const kernel = k.finish();
    // The assignment lands inside the if (src/codegen/build.ts, Block.var: `this.names.current ?? this`),
    // so the kernel differs from the calls that built it and verifyKernel cannot see the mistake.
    expect(kernel.body.map((s) => s.k)).toEqual(['if', 'assign', 'store']);
    expect(verifyKernel(kernel)).toEqual(['assigns acc0 outside its scope']);
  });

  it('rejects subgroup operations and the lane in a kernel that does not declare subgroups, and a negated u32', () => {
    const k = valid();
    k.store('dst', 0, { k: 'subgroup', type: 'f32', op: 'sum', a: load('src', 'f32', 0) });
    k.store('dst', 1, { k: 'cast', type: 'f32', a: builtin('subgroup_lane') });
    k.store('dst', 2, { k: 'cast', type: 'f32', a: { k: 'unary', type: 'u32', op: '-', a: { k: 'const', type: 'u32', value: 1 } } });
    expect(verifyKernel(k.finish())).toEqual(['uses a subgroup operation without declaring subgroups', 'reads the subgroup lane without declaring subgroups', 'negates a u32']);
  });

  it('rejects a store to a read-only param', () => {
    const k = valid();
    k.store('src', 0, f32(1));
    expect(verifyKernel(k.finish())).toEqual(['writes the read-only param src']);
  });

  it('rejects a store to, and a load from, a name that is not a param', () => {
    const k = valid();
    k.store('dst', 0, load('nowhere', 'f32', 0));
    k.store('elsewhere', 0, f32(1));
    expect(verifyKernel(k.finish())).toEqual(['loads from nowhere, which is not a param', 'writes elsewhere, which is not a param']);
  });

  it('rejects an atomic add to a plain param, and a plain store to an atomic one', () => {
    const k = new KernelBuilder('k', 'counts', [64, 1, 1]);
    k.buffer('plain', 'i32', 'read_write');
    k.buffer('counts', 'i32', 'read_write', true);
    k.atomicAdd('plain', 0, i32(1));
    k.store('counts', 0, i32(1));
    k.atomicAdd('counts', 1, i32(1));
    expect(verifyKernel(k.finish())).toEqual(['atomic add to the plain param plain', 'plain store to the atomic param counts']);
  });

  it('rejects an atomic add to a read-only param as a write to it', () => {
    const k = new KernelBuilder('k', 'counts', [64, 1, 1]);
    k.buffer('counts', 'i32', 'read', true);
    k.atomicAdd('counts', 0, i32(1));
    expect(verifyKernel(k.finish())).toEqual(['writes the read-only param counts']);
  });

  it('checks the scopes inside indices, conditions and loop bounds', () => {
    const k = valid();
    const ghost: Expr = { k: 'ref', type: 'i32', name: 'ghost9' };
    k.if(lt(ghost, tokens), () => undefined);
    k.for('j', 0, ghost, () => undefined);
    k.store('dst', mul(ghost, 2), f32(0));
    expect(verifyKernel(k.finish())).toEqual(['ghost9 is used outside its scope', 'ghost9 is used outside its scope', 'ghost9 is used outside its scope']);
  });
});

// ---- programs ----

const grid: Grid = { kind: 'direct', x: { a: 1, b: 0, per: 64 }, y: { a: 0, b: 1, per: 1 }, z: { a: 0, b: 1, per: 1 } };

function copyKernel(): Kernel {
  const k = valid();
  const i = k.let('i', builtin('global_x'));
  k.if(lt(i, tokens), (b) => b.store('dst', i, add(load('src', 'f32', i), 1)));
  return k.finish();
}

/** Reads a and b, writes dst. */
function twoInputs(): Kernel {
  const k = new KernelBuilder('add2', 'dst = a + b', [64, 1, 1]);
  k.buffer('a', 'f32', 'read');
  k.buffer('b', 'f32', 'read');
  k.buffer('dst', 'f32', 'read_write');
  const i = k.let('i', builtin('global_x'));
  k.if(lt(i, tokens), (b) => b.store('dst', i, add(load('a', 'f32', i), load('b', 'f32', i))));
  return k.finish();
}

/** x -> t (slot 2) -> u (slot 3) -> y, with t and u's slots named so tests can alias them. */
function program(dispatches: Dispatch[], extra: BufferDecl[] = []): Program {
  const bytes = { a: 4, b: 0 };
  const buffers: BufferDecl[] = [
    { name: 'x', role: 'input', element: 'f32', bytes, slot: 0, source: 'x' },
    { name: 'y', role: 'output', element: 'f32', bytes, slot: 1 },
    { name: 't', role: 'activation', element: 'f32', bytes, slot: 2 },
    { name: 'u', role: 'activation', element: 'f32', bytes, slot: 3 },
    ...extra,
  ];
  return {
    name: 'p',
    width: 1,
    buffers,
    slots: [0, 1, 2, 3].map((id) => ({ id, bytes, role: (['input', 'output', 'activation', 'activation'] as const)[id]! })),
    kernels: [copyKernel(), twoInputs()],
    dispatches,
    inputs: [{ name: 'x', buffer: 'x' }],
    output: 'y',
    params: [],
    notes: [],
  };
}

const dispatch = (kernel: string, bindings: string[], node = 7): Dispatch => ({ kernel, bindings, grid, node });

describe('verifyProgram', () => {
  it('accepts a valid program, including a slot bound twice for reading', () => {
    const p = program([dispatch('k', ['x', 't']), dispatch('add2', ['t', 't', 'u']), dispatch('k', ['u', 'y'])]);
    expect(verifyProgram(p)).toEqual([]);
  });

  it('reports a broken kernel under its name', () => {
    const p = program([dispatch('k', ['x', 'y'])]);
    const broken = valid();
    broken.store('src', 0, f32(0));
    p.kernels.push({ ...broken.finish(), name: 'broken' });
    expect(verifyProgram(p)).toEqual(['kernel broken: writes the read-only param src']);
  });

  it('rejects a dispatch that binds too few or too many buffers', () => {
    const p = program([dispatch('k', ['x'], 3), dispatch('k', ['x', 't', 'u'], 4)]);
    expect(verifyProgram(p)).toEqual(['dispatch 0 (k, %3): 1 bindings for 2 params', 'dispatch 1 (k, %4): 3 bindings for 2 params']);
  });

  it('rejects a dispatch that binds an unknown buffer', () => {
    const p = program([dispatch('k', ['x', 'nothing'], 5)]);
    expect(verifyProgram(p)).toEqual(['dispatch 0 (k, %5): binds unknown buffer nothing']);
  });

  it('rejects a dispatch of an unknown kernel', () => {
    const p = program([dispatch('ghost', ['x', 'y'], 2)]);
    expect(verifyProgram(p)).toEqual(['dispatch 0 (ghost, %2): no kernel ghost']);
  });

  it('rejects a slot bound twice in one dispatch where one binding writes, whichever comes first', () => {
    // t2 shares t's slot: reading t while writing t2 aliases one allocation.
    const t2: BufferDecl = { name: 't2', role: 'activation', element: 'f32', bytes: { a: 4, b: 0 }, slot: 2 };
    const readThenWrite = program([dispatch('k', ['t', 't2'], 6)], [t2]);
    expect(verifyProgram(readThenWrite)).toEqual(['dispatch 0 (k, %6): slot2 bound twice with a write (t2)']);
    const sameBuffer = program([dispatch('add2', ['u', 'x', 'u'], 8)]);
    expect(verifyProgram(sameBuffer)).toEqual(['dispatch 0 (add2, %8): slot3 bound twice with a write (u)']);
  });

  it('rejects an output that is not a buffer', () => {
    const p = program([dispatch('k', ['x', 'y'])]);
    p.output = 'z';
    expect(verifyProgram(p)).toEqual(['the output z is not a buffer']);
  });

  it('rejects a buffer in a missing slot, a buffer larger than its slot, and an indirect grid read from nowhere', () => {
    const p = program([{ ...dispatch('k', ['x', 'y'], 9), grid: { kind: 'indirect', buffer: 'args', offset: 0 } }]);
    p.buffers.push({ name: 'lost', role: 'activation', element: 'f32', bytes: { a: 4, b: 0 }, slot: 99 });
    p.buffers.push({ name: 'big', role: 'activation', element: 'f32', bytes: { a: 1e6, b: 0 }, slot: 2 });
    expect(verifyProgram(p)).toEqual([
      'buffer lost is in slot99, which does not exist',
      'buffer big does not fit slot2 at every token count',
      'dispatch 0 (k, %9): reads its grid from unknown buffer args',
    ]);
  });

  it('reports every problem, in order', () => {
    const p = program([dispatch('k', ['x'], 1), dispatch('k', ['x', 'nope'], 2)]);
    p.output = 'gone';
    expect(verifyProgram(p)).toEqual(['dispatch 0 (k, %1): 1 bindings for 2 params', 'dispatch 1 (k, %2): binds unknown buffer nope', 'the output gone is not a buffer']);
  });
});

// ---- every example's Program ----

describe('every example, under every schedule, builds a Program that verifies clean', () => {
  const cases = exampleFiles()
    .filter((f) => f in small)
    .flatMap((name) => Object.keys(SCHEDULES).map((schedule) => [name, schedule] as const));

  it('covers every example', () => {
    expect(exampleFiles().filter((f) => !(f in small))).toEqual([]);
  });

  it.each(cases)('%s (%s)', (name, schedule) => {
    const { graph } = compileText(readExample(name), small[name]);
    const p = buildProgram(runPipeline(graph), SCHEDULES[schedule]!);
    expect(verifyProgram(p)).toEqual([]);
    expect(p.dispatches.length).toBeGreaterThan(0);
    for (const k of p.kernels) expect(verifyKernel(k), k.name).toEqual([]);
  });
});
