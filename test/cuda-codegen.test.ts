import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { add, builtin, f32, i32, KernelBuilder, load, lt, mod, mul, tokens, u32 } from '../src/codegen/build.js';
import { buildProgram, wgslFiles } from '../src/codegen/compile.js';
import { cudaFiles } from '../src/codegen/cuda/files.js';
import { printCudaKernel } from '../src/codegen/cuda/print.js';
import type { Kernel } from '../src/codegen/kernel-ir.js';
import type { Program } from '../src/codegen/program.js';
import { SCHEDULES } from '../src/codegen/schedule.js';
import { runPipeline } from '../src/passes/pipeline.js';
import { exampleFiles, readExample } from './helpers.js';
import { compileText } from './support/model.js';
import { small } from './support/small.js';

/**
 * The CUDA printer (src/codegen/cuda): it prints the same Program the WGSL printer prints, so
 * the structural tests read the generated tables back and compare them with the Program and
 * with the WGSL files (same kernels, same dispatches in the same order, same bindings); the
 * output is the same on every build; two examples' sources are golden files; and small
 * kernels show each CUDA-specific lowering as an inline snapshot. test/cuda-nvcc.test.ts
 * compiles all of it.
 */

export function buildExample(name: string, schedule: string): Program {
  const { graph } = compileText(readExample(name), small[name]);
  return buildProgram(runPipeline(graph), SCHEDULES[schedule]!);
}

const names = exampleFiles().filter((f) => f in small);

/** The rows of a generated table, `const moec::NAME[] = { ... };`, without their trailing comments. */
function tableRows(cu: string, table: string): string[] {
  const body = new RegExp(`const moec::\\w+ ${table}\\[\\] = \\{\\n([\\s\\S]*?)\\n\\};`).exec(cu)?.[1];
  if (body === undefined) throw new Error(`no table ${table}`);
  return body.split('\n').map((l) => l.trim().replace(/,\s*\/\/.*$/, ','));
}

describe('CUDA and WGSL print the same Program', () => {
  it.each(names)('%s: the same kernels, dispatches and bindings, in order', (name) => {
    const p = buildExample(name, 'cuda');
    const cu = cudaFiles(p).get(`${p.name}.cu`)!;
    const wgsl = [...wgslFiles(p).keys()].map((f) => f.replace(/\.wgsl$/, ''));

    // One __global__ function per kernel of the Program, in the Program's order, as in WGSL.
    const globals = [...cu.matchAll(/__global__ void __launch_bounds__\(\d+\) moec_k_(\w+)\(/g)].map((m) => m[1]);
    expect(globals).toEqual(p.kernels.map((k) => k.name));
    expect(globals).toEqual(wgsl);
    const kernelRows = tableRows(cu, 'KERNELS');
    expect(kernelRows.map((r) => /"(\w+)"/.exec(r)![1])).toEqual(wgsl);
    p.kernels.forEach((k, i) => expect(kernelRows[i]).toContain(`{${k.workgroup.join(', ')}}, ${k.params.length}}`));

    // The dispatch table: the Program's dispatch list, each with its kernel, grid and bindings.
    const slots = new Map(p.buffers.map((b) => [b.name, b.slot]));
    const bindings = /const int BINDINGS\[\] = \{([^}]*)\};/.exec(cu)![1]!.split(', ').map(Number);
    const rows = tableRows(cu, 'DISPATCHES');
    expect(rows).toHaveLength(p.dispatches.length);
    let first = 0;
    p.dispatches.forEach((d, i) => {
      const fields = rows[i]!.replace(/[{}]/g, '').split(',').map((f) => f.trim()).filter(Boolean).map(Number);
      expect(p.kernels[fields[0]!]!.name, `dispatch ${i}`).toBe(d.kernel);
      if (d.grid.kind === 'indirect') expect(fields.slice(1, 3)).toEqual([slots.get(d.grid.buffer), d.grid.offset]);
      else {
        const dims = [d.grid.x, d.grid.y, d.grid.z];
        expect(fields.slice(1, 15)).toEqual([-1, 0, ...dims.map((g) => g.a), ...dims.map((g) => g.b), ...dims.map((g) => g.per), ...dims.map((g) => g.max ?? 2147483647)]);
      }
      expect(fields[15]).toBe(first);
      expect(bindings.slice(first, first + d.bindings.length)).toEqual(d.bindings.map((b) => slots.get(b)));
      first += d.bindings.length;
    });
    expect(bindings).toHaveLength(first || 1);
  });

  it.each(names)('%s: every weight buffer loads its own range of its param', (name) => {
    const p = buildExample(name, 'cuda');
    const cu = cudaFiles(p).get(`${p.name}.cu`)!;
    const rows = tableRows(cu, 'WEIGHTS');
    const weights = p.buffers.filter((b) => b.role === 'weight');
    expect(rows).toHaveLength(Math.max(1, weights.length));
    weights.forEach((b, i) => {
      const range = b.sourceRange ?? { offset: 0, count: b.bytes.b / 4 };
      const param = p.params.findIndex((q) => q.name === (b.source ?? b.name));
      expect(rows[i]).toBe(`{${param}, ${b.slot}, moec::ELEMENT_${b.element.toUpperCase()}, ${range.offset}, ${range.count}},`);
    });
  });
});

describe('the CUDA output is the same on every build', () => {
  it.each(names)('%s: byte-identical across two builds', (name) => {
    expect([...cudaFiles(buildExample(name, 'cuda'))]).toEqual([...cudaFiles(buildExample(name, 'cuda'))]);
  });
});

/** Two examples as golden files: Mixtral under the cuda schedule, DeepSeek-V3 under llvmpipe (subgroups, two-pass GLU). */
const GOLDEN: [string, string][] = [
  ['mixtral-8x7b.moe', 'cuda'],
  ['deepseek-v3.moe', 'llvmpipe'],
];

describe.each(GOLDEN)('golden CUDA source: %s (%s schedule)', (name, schedule) => {
  const files = cudaFiles(buildExample(name, schedule));
  const dir = `golden/cuda/${name.replace(/\.moe$/, '')}`;

  it.each([...files.keys()])('prints the golden %s', async (file) => {
    await expect(files.get(file)).toMatchFileSnapshot(`${dir}/${file}`);
  });

  it('has a golden file for every output file and none for a file that is gone', () => {
    const path = join(import.meta.dirname, dir);
    if (!existsSync(path)) return; // written by the tests above on the first run
    expect(readdirSync(path).sort()).toEqual([...files.keys()].sort());
  });
});

// ---- CUDA-specific lowerings, one small kernel each ----

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
    k.if(lt(lane, 1), (b) => b.store('y', builtin('workgroup_x'), add(sum, first)));
    k.atomicAdd('hits', 0, i32(1));
  }),
];

describe('CUDA lowerings', () => {
  it('spells literals, conversions, bit casts and the float remainder as WGSL computes them', () => {
    expect(printCudaKernel(PRINTER_KERNELS[0]!)).toMatchInlineSnapshot(`
      "// literals_and_casts: test kernel literals_and_casts
      __global__ void __launch_bounds__(64) moec_k_literals_and_casts(const int* __restrict__ moec_shape, const moec::Grid moec_grid, const float* __restrict__ x, float* __restrict__ y, int* __restrict__ n, unsigned int* __restrict__ u) {
        const int moec_tokens = moec_shape[0];
        const moec::Workgroups moec_groups = moec::workgroups(moec_grid, moec_tokens);
        for (long long moec_v = blockIdx.x; moec_v < moec_groups.total; moec_v += gridDim.x) {
          const int global_x = static_cast<int>(moec_v % moec_groups.x) * 64 + static_cast<int>(threadIdx.x);
          {
            const int i0 = global_x;
            if (i0 < moec_tokens) {
              y[i0] = x[i0] * 0.10000000149011612f + __int_as_float(0xff800000);
              n[i0] = __float2int_rz(x[i0]);
              u[i0] = __float_as_uint(x[i0]) + 4294967295u;
              y[i0 + 1] = fmodf(x[i0], __int_as_float(0x7fc00000));
              n[i0 + 1] = (-2147483647 - 1) + i0 % 3;
            }
          }
        }
      }
      "
    `);
  });

  it('keeps shared arrays, barriers, subgroup operations and integer atomics', () => {
    expect(printCudaKernel(PRINTER_KERNELS[1]!)).toMatchInlineSnapshot(`
      "// shared_and_subgroups: test kernel shared_and_subgroups
      __global__ void __launch_bounds__(8) moec_k_shared_and_subgroups(const int* __restrict__ moec_shape, const moec::Grid moec_grid, const float* __restrict__ x, float* __restrict__ y, int* __restrict__ hits) {
        const int moec_tokens = moec_shape[0];
        const moec::Workgroups moec_groups = moec::workgroups(moec_grid, moec_tokens);
        const int local_x = static_cast<int>(threadIdx.x);
        for (long long moec_v = blockIdx.x; moec_v < moec_groups.total; moec_v += gridDim.x) {
          const int workgroup_x = static_cast<int>(moec_v % moec_groups.x);
          {
            __shared__ float tile0[8];
            tile0[local_x] = x[workgroup_x * 8 + local_x];
            __syncthreads();
            const float sum1 = moec_subgroup_sum(tile0[local_x], 0xffu, 8);
            const float first2 = __shfl_sync(0xffu, tile0[local_x], 0, 8);
            if (local_x < 1) {
              y[workgroup_x] = sum1 + first2;
            }
            atomicAdd(&hits[0], 1);
          }
          __syncthreads(); // the next workgroup reuses the shared arrays
        }
      }
      "
    `);
  });
});
