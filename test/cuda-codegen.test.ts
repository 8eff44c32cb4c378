import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { wgslFiles } from '../src/codegen/compile.js';
import { cudaFiles } from '../src/codegen/cuda/files.js';
import { printCudaKernel } from '../src/codegen/cuda/print.js';
import type { Kernel } from '../src/codegen/kernel-ir.js';
import { exampleFiles, root } from './helpers.js';
import { buildExample, PRINTER_KERNELS } from './support/cuda.js';
import { small } from './support/small.js';

/**
 * The CUDA printer (src/codegen/cuda): it prints the same Program the WGSL printer prints, so
 * the structural tests read the generated tables back and compare them with the Program and
 * with the WGSL files (same kernels, same dispatches in the same order, same bindings); the
 * output is the same on every build; two examples' sources are golden files; and small
 * kernels show each CUDA-specific lowering as an inline snapshot. test/cuda-nvcc.test.ts
 * compiles all of it.
 */

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

  it.each(names)('%s: every weight buffer loads its own range of its param, widened or as stored', (name) => {
    const p = buildExample(name, 'cuda');
    const cu = cudaFiles(p).get(`${p.name}.cu`)!;
    const rows = tableRows(cu, 'WEIGHTS');
    const weights = p.buffers.filter((b) => b.role === 'weight');
    expect(rows).toHaveLength(Math.max(1, weights.length));
    weights.forEach((b, i) => {
      const param = p.params.findIndex((q) => q.name === (b.source ?? b.name));
      const { shape, dtype } = p.params[param]!;
      // Stored elements: int4 packs two values a byte.
      const range = b.sourceRange ?? { offset: 0, count: shape.reduce((x, y) => x * y, 1) / (dtype === 'int4' ? 2 : 1) };
      const raw = { bf16: 2, f16: 2, int8: 1, int4: 1 }[b.stored ?? 'none' as never] ?? 0;
      // A stored buffer holds the file's bytes, padded to whole words; a widened one 4 bytes a stored element.
      expect(b.bytes.b).toBe(raw ? Math.ceil((range.count * raw) / 4) * 4 : range.count * 4);
      expect(rows[i]).toBe(`{${param}, ${b.slot}, moec::ELEMENT_${b.element === 'f32' ? 'F32' : 'I32'}, ${range.offset}, ${range.count}, ${raw}},`);
    });
  });
});

describe('the CUDA output is the same on every build', () => {
  it.each(names)('%s: byte-identical across two builds', (name) => {
    expect([...cudaFiles(buildExample(name, 'cuda'))]).toEqual([...cudaFiles(buildExample(name, 'cuda'))]);
  });
});

/**
 * Two examples as golden files: Mixtral under the cuda schedule with every file it writes, and
 * DeepSeek-V3 under llvmpipe (subgroups, two-pass GLU) with its model files only (the runtime,
 * safetensors, harness and CMake files differ from Mixtral's by the model's name at most).
 */
const GOLDEN: [string, string, (file: string) => boolean][] = [
  ['mixtral-8x7b.moe', 'cuda', () => true],
  ['deepseek-v3.moe', 'llvmpipe', (file) => file.startsWith('deepseek_v3.')],
];

describe.each(GOLDEN)('golden CUDA source: %s (%s schedule)', (name, schedule, golden) => {
  const files = new Map([...cudaFiles(buildExample(name, schedule))].filter(([file]) => golden(file)));
  const dir = `golden/cuda/${name.replace(/\.moe$/, '')}`;

  it.each([...files.keys()])('prints the golden %s', async (file) => {
    await expect(files.get(file)).toMatchFileSnapshot(`${dir}/${file}`);
  });

  it('has a golden file for every file it keeps and none for a file that is gone', () => {
    const path = join(import.meta.dirname, dir);
    if (!existsSync(path)) return; // written by the tests above on the first run
    expect(readdirSync(path).sort()).toEqual([...files.keys()].sort());
  });
});

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
            const float top3 = moec_subgroup_max(tile0[local_x], 0xffu, 8);
            const int low4 = moec_subgroup_min(local_x, 0xffu, 8);
            if (local_x < 1) {
              y[workgroup_x] = sum1 + first2 + (top3 + static_cast<float>(low4));
            }
            atomicAdd(&hits[0], 1);
          }
          __syncthreads();
        }
      }
      "
    `);
  });

  it('spells half arithmetic with cuda_fp16.h, through float where it has no function, and refuses 16-bit bit casts', () => {
    expect(printCudaKernel(PRINTER_KERNELS[2]!)).toMatchInlineSnapshot(`
      "// half_arithmetic: test kernel half_arithmetic
      __global__ void __launch_bounds__(32) moec_k_half_arithmetic(const int* __restrict__ moec_shape, const moec::Grid moec_grid, const float* __restrict__ x, float* __restrict__ y) {
        const int moec_tokens = moec_shape[0];
        const moec::Workgroups moec_groups = moec::workgroups(moec_grid, moec_tokens);
        const int local_x = static_cast<int>(threadIdx.x);
        for (long long moec_v = blockIdx.x; moec_v < moec_groups.total; moec_v += gridDim.x) {
          {
            const half h0 = __float2half_rn(x[local_x]);
            const half fns1 = hexp(h0) + moec_htanh(h0) + (moec_herf(h0) + __hmax(__habs(h0), __float2half_rn(0.5f)));
            const half rest2 = __float2half_rn(fmodf(__half2float(fns1), __half2float(__float2half_rn(3.0f)))) + hrsqrt(h0 * h0 + __float2half_rn(1.0f));
            const half sum3 = moec_subgroup_sum(rest2, 0xffffffffu, 32);
            y[local_x] = __half2float(sum3) + static_cast<float>(__float2int_rz(__half2float(h0)));
          }
          __syncthreads();
        }
      }
      "
    `);
    const bitcast = { ...PRINTER_KERNELS[2]!, body: [{ k: 'let', name: 'x', value: { k: 'bitcast', type: 'u32', a: { k: 'const', type: 'f16', value: 1 } } }] } as Kernel;
    expect(() => printCudaKernel(bitcast)).toThrow('internal: a bitcast between f16 and u32');
  });
});

describe('moec compile --target cuda', () => {
  const moec = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: root });
  const dims = Object.entries(small['mixtral-8x7b.moe']!).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const example = join(root, 'examples', 'mixtral-8x7b.moe');

  it('writes DIR/cuda/ and the program, under the cuda schedule by default', () => {
    const out = mkdtempSync(join(tmpdir(), 'moec-cuda-cli-'));
    const r = moec('compile', example, ...dims, '--target', 'cuda', '-o', out);
    expect(r.stderr).toContain('program (cuda schedule)');
    expect(r.status).toBe(0);
    const files = cudaFiles(buildExample('mixtral-8x7b.moe', 'cuda'));
    expect(readdirSync(join(out, 'cuda')).sort()).toEqual([...files.keys()].sort());
    for (const [name, text] of files) expect(readFileSync(join(out, 'cuda', name), 'utf8'), name).toBe(text);
    expect(existsSync(join(out, 'mixtral_8x7b.program'))).toBe(true);
    expect(existsSync(join(out, 'wgsl'))).toBe(false);
  });

  it('--target all prints WGSL and CUDA from one program', () => {
    const out = mkdtempSync(join(tmpdir(), 'moec-cuda-cli-'));
    const r = moec('compile', example, ...dims, '--target', 'all', '-o', out);
    expect(r.status).toBe(0);
    const p = buildExample('mixtral-8x7b.moe', 'gpu');
    expect(readFileSync(join(out, 'cuda', 'mixtral_8x7b.cu'), 'utf8')).toBe(cudaFiles(p).get('mixtral_8x7b.cu'));
    expect(readdirSync(join(out, 'wgsl')).sort()).toEqual([...wgslFiles(p).keys()].sort());
  });
});
