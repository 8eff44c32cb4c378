import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { wgslFiles } from '../src/codegen/compile.js';
import { cudaFiles } from '../src/codegen/cuda/files.js';
import { printCudaKernel } from '../src/codegen/cuda/print.js';
import type { Kernel } from '../src/codegen/kernel-ir.js';
import { printWgslKernel } from '../src/codegen/wgsl/print.js';
import { exampleFiles, root } from './helpers.js';
import { buildCuda, buildExample, PRINTER_KERNELS, TENSOR_CORE_BUILDS } from './support/cuda.js';
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

describe('16-byte loads', () => {
  it('are one vector load in CUDA and four loads in WGSL', () => {
    const k = PRINTER_KERNELS[4]!;
    expect(printCudaKernel(k)).toMatchInlineSnapshot(`
      "// vector_loads: test kernel vector_loads
      __global__ void __launch_bounds__(64) moec_k_vector_loads(const int* __restrict__ moec_shape, const moec::Grid moec_grid, const unsigned int* __restrict__ w, const float* __restrict__ x, float* __restrict__ y) {
        const int moec_tokens = moec_shape[0];
        const moec::Workgroups moec_groups = moec::workgroups(moec_grid, moec_tokens);
        for (long long moec_v = blockIdx.x; moec_v < moec_groups.total; moec_v += gridDim.x) {
          const int global_x = static_cast<int>(moec_v % moec_groups.x) * 64 + static_cast<int>(threadIdx.x);
          {
            const int i0 = global_x;
            if (i0 < moec_tokens) {
              const uint4 w1_v = *reinterpret_cast<const uint4*>(w + (i0 * 4)); const unsigned int w1 = w1_v.x; const unsigned int w2 = w1_v.y; const unsigned int w3 = w1_v.z; const unsigned int w4 = w1_v.w;
              const float4 x5_v = *reinterpret_cast<const float4*>(x + (i0 * 4)); const float x5 = x5_v.x; const float x6 = x5_v.y; const float x7 = x5_v.z; const float x8 = x5_v.w;
              y[i0] = static_cast<float>(w1) + static_cast<float>(w2) + static_cast<float>(w3) + static_cast<float>(w4) + (x5 + x6 + x7 + x8);
            }
          }
        }
      }
      "
    `);
    expect(printWgslKernel(k)).toMatchInlineSnapshot(`
      "// vector_loads: test kernel vector_loads
      struct Shape { tokens: u32 }
      @group(0) @binding(0) var<uniform> shape: Shape;
      @group(0) @binding(1) var<storage, read> w: array<u32>;
      @group(0) @binding(2) var<storage, read> x: array<f32>;
      @group(0) @binding(3) var<storage, read_write> y: array<f32>;

      @compute @workgroup_size(64, 1, 1)
      fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
        let global_x: i32 = i32(gid.x);
        let i0: i32 = global_x;
        if (i0 < i32(shape.tokens)) {
          let w1: u32 = w[i0 * 4i]; let w2: u32 = w[(i0 * 4i) + 1i]; let w3: u32 = w[(i0 * 4i) + 2i]; let w4: u32 = w[(i0 * 4i) + 3i];
          let x5: f32 = x[i0 * 4i]; let x6: f32 = x[(i0 * 4i) + 1i]; let x7: f32 = x[(i0 * 4i) + 2i]; let x8: f32 = x[(i0 * 4i) + 3i];
          y[i0] = f32(w1) + f32(w2) + f32(w3) + f32(w4) + (x5 + x6 + x7 + x8);
        }
      }
      "
    `);
  });
});

describe('subgroup matrices', () => {
  it('print as WMMA fragments over 32-byte aligned shared tiles, and never as WGSL', () => {
    const k = PRINTER_KERNELS[3]!;
    expect(printCudaKernel(k)).toMatchInlineSnapshot(`
      "// subgroup_matrices: test kernel subgroup_matrices
      __global__ void __launch_bounds__(32) moec_k_subgroup_matrices(const int* __restrict__ moec_shape, const moec::Grid moec_grid, const float* __restrict__ x, float* __restrict__ y) {
        const int moec_tokens = moec_shape[0];
        const moec::Workgroups moec_groups = moec::workgroups(moec_grid, moec_tokens);
        const int local_x = static_cast<int>(threadIdx.x);
        for (long long moec_v = blockIdx.x; moec_v < moec_groups.total; moec_v += gridDim.x) {
          {
            __shared__ __align__(32) __nv_bfloat16 tile0[256];
            __shared__ __align__(32) float out1[256];
            for (int i2 = local_x; i2 < 256; i2 += 32) {
              tile0[i2] = __float2bfloat16_rn(x[i2]);
            }
            __syncthreads();
            nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> left3;
            nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> right4;
            nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> acc5; nvcuda::wmma::fill_fragment(acc5, 0.0f);
            nvcuda::wmma::load_matrix_sync(left3, tile0 + 0, 16);
            nvcuda::wmma::load_matrix_sync(right4, tile0 + 0, 16);
            nvcuda::wmma::mma_sync(acc5, left3, right4, acc5);
            nvcuda::wmma::store_matrix_sync(out1 + 0, acc5, 16, nvcuda::wmma::mem_row_major);
            __syncthreads();
            for (int i6 = local_x; i6 < 256; i6 += 32) {
              y[i6] = out1[i6];
            }
          }
          __syncthreads();
        }
      }
      "
    `);
    expect(() => printWgslKernel(k)).toThrow('internal: WGSL has no subgroup matrices');
  });

  it('carry the cuda schedule\'s f16 and bf16 products; the other launches are those of f32', () => {
    for (const build of TENSOR_CORE_BUILDS) {
      const { program } = buildCuda(build);
      const full = buildCuda({ ...build, arithmetic: 'f32' }).program;
      expect(program.matrices).toBe(true);
      expect(program.kernels.filter((k) => k.matrices).map((k) => k.name)).toEqual(expect.arrayContaining(['grouped_glu', 'grouped_down']));
      // The same launches in the same order, but for split-K's (slices of 16 k split less: the sum
      // kernel of a product too short to split is not launched, a grid kernel may differ in its slices).
      const launches = (p: typeof program) => p.dispatches.map((d) => d.kernel.replace(/_\d+$/, '')).filter((k) => !k.endsWith('_sum'));
      expect(launches(program)).toEqual(launches(full));
      expect(cudaFiles(program).get(`${program.name}.cu`)).toContain('#include <mma.h>');
    }
    // f32 never uses them; neither do schedules without tensor cores.
    expect(buildCuda({ ...TENSOR_CORE_BUILDS[0]!, arithmetic: 'f32' }).program.matrices).toBeUndefined();
    expect(buildCuda({ ...TENSOR_CORE_BUILDS[0]!, schedule: 'gpu', arithmetic: 'f16' }).program.matrices).toBeUndefined();
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

  // Sizes at which products run on tensor cores (K and N multiples of 16).
  const build = TENSOR_CORE_BUILDS[0]!;
  const sizes = Object.entries({ ...small[build.example], ...build.sizes }).flatMap(([k, v]) => ['--set', `${k}=${v}`]);

  it('--arithmetic f16 and bf16 print the program in that arithmetic, on tensor cores under the cuda schedule', () => {
    const out = mkdtempSync(join(tmpdir(), 'moec-cuda-cli-'));
    const r = moec('compile', example, ...sizes, '--target', 'cuda', '--arithmetic', 'bf16', '-o', out);
    expect(r.status).toBe(0);
    const program = buildCuda({ ...build, edit: undefined });
    expect(readFileSync(join(out, 'cuda', 'mixtral_8x7b.cu'), 'utf8')).toBe(cudaFiles(program.program).get('mixtral_8x7b.cu'));
    expect(readFileSync(join(out, 'cuda', 'mixtral_8x7b.cu'), 'utf8')).toContain('nvcuda::wmma::mma_sync');
    // The weight tiles load 16 bytes per lane (8 bf16 columns).
    expect(readFileSync(join(out, 'cuda', 'mixtral_8x7b.cu'), 'utf8')).toContain('*reinterpret_cast<const uint4*>(w0 + ');
  });

  it.each([
    [['--target', 'wgsl', '--arithmetic', 'bf16'], /--arithmetic bf16 is for CUDA only \(WGSL has no bf16\)/],
    [['--target', 'cuda', '--schedule', 'gpu', '--arithmetic', 'bf16'], /tensor cores, which the gpu schedule does not use/],
    [['--target', 'all', '--schedule', 'cuda', '--arithmetic', 'f16'], /run on tensor cores, which WGSL does not have/],
    [['--target', 'none', '--arithmetic', 'f16'], /--arithmetic f16 changes the kernels/],
  ])('refuses %j, writing nothing', (args, message) => {
    const out = join(mkdtempSync(join(tmpdir(), 'moec-cuda-cli-')), 'out');
    const r = moec('compile', example, ...sizes, ...args, '-o', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(existsSync(join(out, 'cuda'))).toBe(false);
    expect(existsSync(join(out, 'wgsl'))).toBe(false);
  });
});
