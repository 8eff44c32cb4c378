import { add, builtin, call, cast, f32, i32, KernelBuilder, load, lt, mod, mul, tokens, u32 } from '../../src/codegen/build.js';
import { buildProgram } from '../../src/codegen/compile.js';
import type { Expr, Kernel } from '../../src/codegen/kernel-ir.js';
import type { Arithmetic, Program } from '../../src/codegen/program.js';
import type { Graph } from '../../src/ir/graph.js';
import { SCHEDULES } from '../../src/codegen/schedule.js';
import { runPipeline } from '../../src/passes/pipeline.js';
import { readExample } from '../helpers.js';
import { compileText } from './model.js';
import { small } from './small.js';

/** What the CUDA tests share: examples built at test sizes, and small kernels that show each CUDA lowering. */

/** An example at its test sizes (test/support/small.ts), scheduled and verified. */
export function buildExample(name: string, schedule: string): Program {
  return buildCuda({ example: name, schedule }).program;
}

/** One CUDA output the tests build: an example under a schedule, in an arithmetic, at its test sizes unless `sizes` and `edit` change them. */
export interface CudaBuild {
  example: string;
  schedule: string;
  arithmetic?: Arithmetic;
  sizes?: Record<string, number>;
  /** An edit of the example's text, [from, to]: fewer layers. */
  edit?: readonly [string, string];
}

/** A directory-friendly name for a build: example, schedule, and arithmetic when not f32. */
export function buildName(b: CudaBuild): string {
  return [b.example.replace(/\.moe$/, ''), b.schedule, ...(b.arithmetic && b.arithmetic !== 'f32' ? [b.arithmetic] : [])].join('-');
}

/** The build's source: the example, edited. */
export function exampleText(b: CudaBuild): string {
  const text = readExample(b.example);
  if (b.edit && !text.includes(b.edit[0])) throw new Error(`${b.example} has no '${b.edit[0]}' to edit`);
  return b.edit ? text.replace(b.edit[0], b.edit[1]) : text;
}

/** The build's graph (for weights and the CPU reference) and its verified Program. */
export function buildCuda(b: CudaBuild): { graph: Graph; program: Program } {
  const { graph } = compileText(exampleText(b), { ...small[b.example], ...b.sizes });
  return { graph, program: buildProgram(runPipeline(graph), SCHEDULES[b.schedule]!, b.arithmetic) };
}

/**
 * The cuda schedule's tensor-core products (f16 and bf16 arithmetic), at sizes whose K and N are
 * multiples of 16 (the test sizes are not) and with few layers: 16-bit operands round each
 * product by about 1e-3, and in a deep model with random weights that can flip a router's
 * choice, after which no tolerance holds. Mixtral in bf16: grouped products (gate and up
 * sharing A); DeepSeek-V3 in f16: dense products too, and shared experts; the edge DeepSeek-V2-
 * Lite in f16: int8 experts beside f16 dense and shared ones; gpt-oss in f16: biases added to
 * the sums, clamped SwiGLU, in the product and in split-K's sum. Every weight tile loads 16 bytes
 * per lane but DeepSeek-V3's experts' (16 columns of bf16: too few for the lanes).
 */
export const TENSOR_CORE_BUILDS: CudaBuild[] = [
  { example: 'mixtral-8x7b.moe', schedule: 'cuda', arithmetic: 'bf16', sizes: { hidden: 32, ffn: 64 }, edit: ['layers 32 {', 'layers 1 {'] },
  { example: 'deepseek-v3.moe', schedule: 'cuda', arithmetic: 'f16', sizes: { hidden: 32, dense_ffn: 48, expert_ffn: 16, layers_total: 2, first_dense: 1 } },
  { example: 'edge-deepseek-v2-lite.moe', schedule: 'cuda', arithmetic: 'f16', sizes: { hidden: 32, dense_ffn: 48, expert_ffn: 32 }, edit: ['layers 1..27 {', 'layers 1..3 {'] },
  { example: 'gpt-oss-20b.moe', schedule: 'cuda', arithmetic: 'f16', sizes: { hidden: 32, ffn: 32, experts: 8 }, edit: ['layers 24 {', 'layers 2 {'] },
];

/** What a 16-bit build must meet against the CPU reference (relative L2); f32's is 1e-5. */
export const HALF_TOLERANCE = 2e-3;

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
  kernel('subgroup_matrices', [32, 1, 1], (k) => {
    // y[16 x 16] = x[16 x 16] (rounded to bf16) times itself: one subgroup matrix product.
    k.buffer('x', 'f32', 'read');
    k.buffer('y', 'f32', 'read_write');
    k.useMatrices();
    const lane = builtin('local_x');
    const tile = k.array('tile', 'bf16', 256, 'workgroup');
    const out = k.array('out', 'f32', 256, 'workgroup');
    k.for('i', lane, 256, (i, b) => b.set(tile, i, cast('bf16', load('x', 'f32', i))), 32);
    k.barrier();
    const [left, right, acc] = [k.matrix('left', 'left', 'bf16'), k.matrix('right', 'right', 'bf16'), k.matrix('acc', 'result', 'f32')];
    k.matrixLoad(left, tile, 0, 16);
    k.matrixLoad(right, tile, 0, 16);
    k.mma(acc, left, right);
    k.matrixStore(acc, out, 0, 16);
    k.barrier();
    k.for('i', lane, 256, (i, b) => b.store('y', i, out.at(i)), 32);
  }),
  kernel('vector_loads', [64, 1, 1], (k) => {
    k.buffer('w', 'u32', 'read');
    k.buffer('x', 'f32', 'read');
    k.buffer('y', 'f32', 'read_write');
    const i = k.let('i', builtin('global_x'));
    k.if(lt(i, tokens), (b) => {
      const words = b.load4('w', 'w', 'u32', mul(i, 4));
      const floats = b.load4('x', 'x', 'f32', mul(i, 4));
      // Every element used: nvcc under -Werror rejects an unused one.
      const sum = (vs: Expr[]) => vs.reduce((x, v) => add(x, v));
      b.store('y', i, add(sum(words.map((w) => cast('f32', w))), sum(floats)));
    });
  }),
];
