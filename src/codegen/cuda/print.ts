import { CLikePrinter, floatLiteral } from '../c-like.js';
import { MATRIX, type Builtin, type Expr, type Kernel, type MathFn, type MatrixStmt, type Scalar, type SubgroupOp } from '../kernel-ir.js';

/**
 * CUDA C++ spellings over the shared C-like printer. One kernel becomes one `__global__`
 * function; the lowerings that make it a CUDA kernel rather than a WebGPU one are these:
 *
 * - The token count is read from device memory (`moec_shape[0]`), never passed by value, so one
 *   launch sequence serves every token count up to the context's maximum (CUDA graphs).
 * - Every launch is a fixed one-dimensional grid whose blocks walk the dispatch's virtual
 *   workgroups: the grid the Program asks for is computed on the device, from the token count
 *   for a direct grid or read from the grid buffer for an indirect one. `return` becomes a
 *   jump to the next virtual workgroup. WGSL's uniformity rules (which every kernel passes)
 *   put a `return` before a barrier only in uniform control flow, so whole blocks jump
 *   together; a kernel with workgroup arrays or subgroup operations synchronises before the
 *   next workgroup, so no thread reuses shared memory or meets a shuffle of another workgroup.
 * - Private arrays are zeroed, as WGSL zeroes them; f32 -> int conversions saturate, as WGSL's.
 * - Subgroups are warps (or the whole block, for blocks of fewer than 32 threads).
 */
class CudaPrinter extends CLikePrinter {
  private kernel!: Kernel;

  override print(kernel: Kernel): string {
    this.kernel = kernel;
    return super.print(kernel);
  }

  protected typeName(t: Scalar): string {
    return TYPES[t];
  }

  protected literal(type: Scalar, value: number | boolean): string {
    if (type === 'bool') return String(value);
    const v = value as number;
    if (type === 'u32') return `${v >>> 0}u`;
    if (type === 'i32') return v === -2147483648 ? '(-2147483647 - 1)' : String(v);
    const f32 = Number.isNaN(v) ? '__int_as_float(0x7fc00000)' : !Number.isFinite(v) ? (v > 0 ? '__int_as_float(0x7f800000)' : '__int_as_float(0xff800000)') : floatLiteral(v);
    // A 16-bit constant: the f32 value rounded to the nearest (as WGSL's f16(...) does).
    const narrow = SIXTEEN_BIT[type];
    return narrow ? `${narrow.fromFloat}(${f32})` : f32;
  }

  protected declare(kind: 'let' | 'var', name: string, type: Scalar, value: string): string {
    return `${kind === 'let' ? 'const ' : ''}${TYPES[type]} ${name} = ${value}`;
  }

  protected declareArray(name: string, type: Scalar, length: number, space: 'private' | 'workgroup'): string {
    // WGSL zeroes private arrays; kernels may rely on it. Workgroup arrays are written before they
    // are read; subgroup matrices load and store them at 32-byte aligned addresses (WMMA's rule).
    if (space === 'private') return `${TYPES[type]} ${name}[${length}] = {}`;
    return `__shared__ ${this.kernel.matrices ? '__align__(32) ' : ''}${TYPES[type]} ${name}[${length}]`;
  }

  protected builtin(name: Builtin): string {
    return name;
  }

  protected tokens(): string {
    return 'moec_tokens';
  }

  protected castTo(type: Scalar, value: string, from: Scalar): string {
    // half and bf16 convert through float: rounding to nearest on the way in, WGSL's saturation on the way out.
    const [to, out] = [SIXTEEN_BIT[type], SIXTEEN_BIT[from]];
    if (to) return `${to.fromFloat}(${from === 'f32' ? value : this.castTo('f32', value, from)})`;
    if (out) return type === 'f32' ? `${out.toFloat}(${value})` : this.castTo(type, `${out.toFloat}(${value})`, 'f32');
    // WGSL's f32 -> i32/u32 conversions saturate (NaN gives 0); CUDA's round-toward-zero intrinsics do the same.
    if (from === 'f32' && type === 'i32') return `__float2int_rz(${value})`;
    if (from === 'f32' && type === 'u32') return `__float2uint_rz(${value})`;
    return `static_cast<${TYPES[type]}>(${value})`;
  }

  protected bitcastTo(type: Scalar, value: string, from: Scalar): string {
    // WGSL has no such bitcast either (an f16 has 16 bits; the kernel IR's other scalars 32).
    if (SIXTEEN_BIT[type] || SIXTEEN_BIT[from]) throw new Error(`internal: a bitcast between ${from} and ${type}`);
    if (from === 'f32') return type === 'i32' ? `__float_as_int(${value})` : `__float_as_uint(${value})`;
    if (type === 'f32') return from === 'i32' ? `__int_as_float(${value})` : `__uint_as_float(${value})`;
    return `static_cast<${TYPES[type]}>(${value})`;
  }

  protected mathFn(fn: MathFn, type: Scalar): string {
    if (type === 'bf16') throw new Error(`internal: ${fn} of a bf16 (bf16 exists only in subgroup matrices' tiles)`);
    if (type === 'f16') return HALF_FNS[fn];
    if (type !== 'f32') return fn; // min, max and abs have integer overloads in device code
    return FLOAT_FNS[fn];
  }

  protected load(kernel: Kernel, buffer: string, index: string): string {
    const param = kernel.params.find((p) => p.name === buffer);
    // An atomic load: an atomic add of zero, which reads the value other blocks' atomics left.
    return param?.atomic ? `atomicAdd(&${buffer}[${index}], 0)` : `${buffer}[${index}]`;
  }

  protected atomicAdd(buffer: string, index: string, value: string): string {
    return `atomicAdd(&${buffer}[${index}], ${value})`;
  }

  protected barrier(): string {
    return '__syncthreads()';
  }

  protected subgroup(op: SubgroupOp, value: string, lane: number | undefined): string {
    const width = subgroupWidth(this.kernel);
    const mask = width === 32 ? '0xffffffffu' : `0x${((2 ** width - 1) >>> 0).toString(16)}u`;
    return op === 'broadcast' ? `__shfl_sync(${mask}, ${value}, ${lane}, ${width})` : `moec_subgroup_${op}(${value}, ${mask}, ${width})`;
  }

  protected forHeader(name: string, from: string, to: string, step: number): string {
    return `for (int ${name} = ${from}; ${name} < ${to}; ${name} += ${step})`;
  }

  /** A 16-byte load: uint4, int4 or float4 through the buffer pointer (aligned: kernel-ir.ts load4). */
  protected load4(names: readonly string[], type: Scalar, buffer: string, index: string): string {
    const vector = `${names[0]}_v`;
    const parts = ['x', 'y', 'z', 'w'].map((c, j) => `const ${TYPES[type]} ${names[j]} = ${vector}.${c}`);
    return [`const ${VECTORS[type]} ${vector} = *reinterpret_cast<const ${VECTORS[type]}*>(${buffer} + (${index}))`, ...parts].join('; ');
  }

  /** Subgroup matrices are WMMA fragments (mma.h), m16n16k16; a bf16 fragment needs sm_80. */
  protected matrixStmt(s: MatrixStmt, offset: string | undefined): string {
    switch (s.k) {
      case 'matrix': {
        const shape = `${MATRIX}, ${MATRIX}, ${MATRIX}`;
        if (s.role === 'result') return `nvcuda::wmma::fragment<nvcuda::wmma::accumulator, ${shape}, float> ${s.name}; nvcuda::wmma::fill_fragment(${s.name}, 0.0f)`;
        return `nvcuda::wmma::fragment<nvcuda::wmma::matrix_${s.role === 'left' ? 'a' : 'b'}, ${shape}, ${TYPES[s.type]}, nvcuda::wmma::row_major> ${s.name}`;
      }
      case 'matrix_load':
        return `nvcuda::wmma::load_matrix_sync(${s.matrix}, ${s.array} + ${offset}, ${s.stride})`;
      case 'matrix_mma':
        return `nvcuda::wmma::mma_sync(${s.result}, ${s.left}, ${s.right}, ${s.result})`;
      case 'matrix_store':
        return `nvcuda::wmma::store_matrix_sync(${s.array} + ${offset}, ${s.matrix}, ${s.stride}, nvcuda::wmma::mem_row_major)`;
    }
  }

  protected override returnStmt(): string {
    return 'goto moec_next';
  }

  protected override expr(e: Expr, parent = 0): string {
    // C has no float remainder operator; WGSL's is truncated, as fmodf.
    if (e.k === 'binary' && e.op === '%' && e.type === 'f32') return `fmodf(${this.expr(e.a)}, ${this.expr(e.b)})`;
    if (e.k === 'binary' && e.op === '%' && e.type === 'f16') return `__float2half_rn(fmodf(__half2float(${this.expr(e.a)}), __half2float(${this.expr(e.b)})))`;
    return super.expr(e, parent);
  }

  protected module(kernel: Kernel, body: string): string {
    const [x, y, z] = kernel.workgroup;
    const uses = (name: string) => new RegExp(`\\b${name}\\b`).test(body);
    const params = kernel.params.map((p) => {
      const element = TYPES[p.element];
      return p.access === 'read' && !p.atomic ? `const ${element}* __restrict__ ${p.name}` : `${element}* __restrict__ ${p.name}`;
    });
    const locals = BUILTINS.filter(([name]) => uses(name)).map(([name, value]) => `    const int ${name} = ${value(kernel.workgroup)};`);
    const sharesMemory = kernel.body.some(function has(s): boolean {
      return (s.k === 'array' && s.space === 'workgroup') || (s.k === 'if' && [...s.then, ...(s.else ?? [])].some(has)) || (s.k === 'for' && s.body.some(has));
    });
    const exits = uses('goto moec_next');
    const lines = [
      `// ${kernel.name}: ${kernel.summary}`,
      `__global__ void __launch_bounds__(${x * y * z}) ${cudaKernelName(kernel.name)}(${['const int* __restrict__ moec_shape', 'const moec::Grid moec_grid', ...params].join(', ')}) {`,
      '  const int moec_tokens = moec_shape[0];',
      '  const moec::Workgroups moec_groups = moec::workgroups(moec_grid, moec_tokens);',
      ...(uses('local_x') ? ['  const int local_x = static_cast<int>(threadIdx.x);'] : []),
      ...(uses('local_y') ? ['  const int local_y = static_cast<int>(threadIdx.y);'] : []),
      ...(uses('subgroup_lane') ? ['  const int subgroup_lane = static_cast<int>(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) & 31;'] : []),
      '  for (long long moec_v = blockIdx.x; moec_v < moec_groups.total; moec_v += gridDim.x) {',
      ...locals,
      '    {',
      body
        .trimEnd()
        .split('\n')
        .map((l) => (l ? `    ${l}` : l))
        .join('\n'),
      '    }',
      ...(exits ? ['  moec_next:'] : []),
      // Shared arrays and subgroup operations: the block starts the next workgroup together.
      ...(sharesMemory || kernel.subgroups ? ['    __syncthreads();'] : exits ? ['    ;'] : []),
      '  }',
      '}',
      '',
    ];
    return lines.join('\n');
  }
}

/** C++ spellings of the kernel IR's scalar types. */
export const TYPES: Readonly<Record<Scalar, string>> = { f32: 'float', f16: 'half', bf16: '__nv_bfloat16', i32: 'int', u32: 'unsigned int', bool: 'bool' };

/** The 16-bit scalars' conversions from and to float (cuda_fp16.h, cuda_bf16.h; rounding to nearest). */
const SIXTEEN_BIT: Partial<Record<Scalar, { fromFloat: string; toFloat: string }>> = {
  f16: { fromFloat: '__float2half_rn', toFloat: '__half2float' },
  bf16: { fromFloat: '__float2bfloat16_rn', toFloat: '__bfloat162float' },
};

/** CUDA's 16-byte vector types of the 32-bit scalars. */
const VECTORS: Partial<Record<Scalar, string>> = { f32: 'float4', i32: 'int4', u32: 'uint4' };

const FLOAT_FNS: Record<MathFn, string> = { exp: 'expf', sqrt: 'sqrtf', inverse_sqrt: 'rsqrtf', tanh: 'tanhf', abs: 'fabsf', max: 'fmaxf', min: 'fminf', erf: 'erff' };
/** cuda_fp16.h's half intrinsics (sm_80+ for max and min); tanh and erf through float (moec_runtime.cuh). */
const HALF_FNS: Record<MathFn, string> = { exp: 'hexp', sqrt: 'hsqrt', inverse_sqrt: 'hrsqrt', tanh: 'moec_htanh', abs: '__habs', max: '__hmax', min: '__hmin', erf: 'moec_herf' };

/** The workgroup ids come from the virtual workgroup index; global ids from those and the thread's. */
const BUILTINS: [string, (wg: readonly [number, number, number]) => string][] = [
  ['workgroup_x', () => 'static_cast<int>(moec_v % moec_groups.x)'],
  ['workgroup_y', () => 'static_cast<int>((moec_v / moec_groups.x) % moec_groups.y)'],
  ['workgroup_z', () => 'static_cast<int>(moec_v / (static_cast<long long>(moec_groups.x) * moec_groups.y))'],
  ['global_x', ([x]) => `static_cast<int>(moec_v % moec_groups.x) * ${x} + static_cast<int>(threadIdx.x)`],
  ['global_y', ([, y]) => `static_cast<int>((moec_v / moec_groups.x) % moec_groups.y) * ${y} + static_cast<int>(threadIdx.y)`],
  ['global_z', ([, , z]) => `static_cast<int>(moec_v / (static_cast<long long>(moec_groups.x) * moec_groups.y)) * ${z} + static_cast<int>(threadIdx.z)`],
];

/** Lanes that take part in a subgroup operation: a warp, or the whole (power-of-two) block when it is smaller. */
function subgroupWidth(kernel: Kernel): number {
  const threads = kernel.workgroup[0] * kernel.workgroup[1] * kernel.workgroup[2];
  if (threads >= 32) return 32;
  if (threads & (threads - 1)) throw new Error(`internal: kernel ${kernel.name} uses subgroup operations in a block of ${threads} threads, not a power of two`);
  return threads;
}

/** The C++ name of a kernel's `__global__` function. */
export function cudaKernelName(kernel: string): string {
  return `moec_k_${kernel}`;
}

const printer = new CudaPrinter();

/** One kernel as a `__global__` function (it needs moec_runtime.cuh for moec::Grid and the helpers). */
export function printCudaKernel(kernel: Kernel): string {
  return printer.print(kernel);
}
