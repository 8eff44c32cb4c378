import { add, builtin, call, cast, f32, i32, KernelBuilder, load, lt, mod, mul, tokens, u32 } from '../../src/codegen/build.js';
import { buildProgram } from '../../src/codegen/compile.js';
import type { Expr, Kernel } from '../../src/codegen/kernel-ir.js';
import type { Program } from '../../src/codegen/program.js';
import { SCHEDULES } from '../../src/codegen/schedule.js';
import { runPipeline } from '../../src/passes/pipeline.js';
import { readExample } from '../helpers.js';
import { compileText } from './model.js';
import { small } from './small.js';

/** What the CUDA tests share: examples built at test sizes, and small kernels that show each CUDA lowering. */

/** An example at its test sizes (test/support/small.ts), scheduled and verified. */
export function buildExample(name: string, schedule: string): Program {
  const { graph } = compileText(readExample(name), small[name]);
  return buildProgram(runPipeline(graph), SCHEDULES[schedule]!);
}

function kernel(name: string, workgroup: readonly [number, number, number], fill: (k: KernelBuilder) => void): Kernel {
  const k = new KernelBuilder(name, `test kernel ${name}`, workgroup);
  fill(k);
  return k.finish();
}

/** Kernels the nvcc test compiles too. */
export const PRINTER_KERNELS: Kernel[] = [
  kernel('literals_and_casts', [64, 1, 1], (k) => {
    k.buffer('x', 'f32', 'read');
    k.buffer('y', 'f32', 'read_write');
    k.buffer('n', 'i32', 'read_write');
    k.buffer('u', 'u32', 'read_write');
    const i = k.let('i', builtin('global_x'));
    k.if(lt(i, tokens), (b) => {
      b.store('y', i, add(mul(load('x', 'f32', i), f32(0.1)), f32(-Infinity)));
      b.store('n', i, { k: 'cast', type: 'i32', a: load('x', 'f32', i) });
      b.store('u', i, add({ k: 'bitcast', type: 'u32', a: load('x', 'f32', i) }, u32(4294967295)));
      b.store('y', add(i, 1), { k: 'binary', type: 'f32', op: '%', a: load('x', 'f32', i), b: f32(NaN) });
      b.store('n', add(i, 1), add(i32(-2147483648), mod(i, 3)));
    });
  }),
  kernel('shared_and_subgroups', [8, 1, 1], (k) => {
    k.buffer('x', 'f32', 'read');
    k.buffer('y', 'f32', 'read_write');
    k.buffer('hits', 'i32', 'read_write', true);
    k.useSubgroups();
    const tile = k.array('tile', 'f32', 8, 'workgroup');
    const lane = builtin('local_x');
    k.set(tile, lane, load('x', 'f32', add(mul(builtin('workgroup_x'), 8), lane)));
    k.emit({ k: 'barrier' });
    const sum = k.let('sum', { k: 'subgroup', type: 'f32', op: 'sum', a: tile.at(lane) });
    const first = k.let('first', { k: 'subgroup', type: 'f32', op: 'broadcast', a: tile.at(lane), lane: 0 });
    const top = k.let('top', { k: 'subgroup', type: 'f32', op: 'max', a: tile.at(lane) });
    const low = k.let('low', { k: 'subgroup', type: 'i32', op: 'min', a: lane });
    k.if(lt(lane, 1), (b) => b.store('y', builtin('workgroup_x'), add(add(sum, first), add(top, cast('f32', low)))));
    k.atomicAdd('hits', 0, i32(1));
  }),
  {
    ...kernel('half_arithmetic', [32, 1, 1], (k) => {
      k.buffer('x', 'f32', 'read');
      k.buffer('y', 'f32', 'read_write');
      k.useSubgroups();
      const lane = builtin('local_x');
      const h = k.let('h', cast('f16', load('x', 'f32', lane)));
      const half = (v: number): Expr => ({ k: 'const', type: 'f16', value: v });
      const fns = k.let('fns', add(add(call('exp', h), call('tanh', h)), add(call('erf', h), call('max', call('abs', h), half(0.5)))));
      const rest = k.let('rest', add(mod(fns, half(3)), call('inverse_sqrt', add(mul(h, h), half(1)))));
      const sum = k.let('sum', { k: 'subgroup', type: 'f16', op: 'sum', a: rest });
      k.store('y', lane, add(cast('f32', sum), cast('f32', cast('i32', h))));
    }),
    f16: true,
  },
];
