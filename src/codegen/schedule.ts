/**
 * The schedule: every performance choice the scheduler makes, apart from what the kernels
 * compute (Halide's algorithm/schedule split). Changing a field changes speed, never the
 * function computed: the WebGPU schedules reduce each output element in the same order, so they
 * agree bit for bit; the cuda schedule sums some rows by subgroup (`rowLanes`) and some products
 * by slices of k (`matmul.splitK`), in other fixed orders, so it agrees within the f32
 * tolerance, deterministically.
 *
 * Device knowledge lives here. On llvmpipe (lavapipe) a subgroup is 8 SIMD lanes, workgroup
 * memory and barriers are slow, and the fastest matmul gives each lane one output column and
 * several rows (DESIGN.md §5); real GPUs want larger workgroups.
 */
export interface Schedule {
  name: string;
  /** Invocations per workgroup for one-thread-per-element kernels. */
  elementwise: number;
  /** Invocations per workgroup for one-thread-per-row kernels (routers, norms, combine). */
  rows: number;
  /**
   * Lanes that share one row of a row kernel (norms, routers): 1, or a subgroup of exactly
   * that many lanes, one row per workgroup, whose reductions (norm sums, softmax, the gate's
   * dot products, top-k) combine the lanes' partial results by subgroup operations. Maximum,
   * minimum and selection are exact; a sum's order changes (the target's fixed order).
   */
  rowLanes: number;
  /**
   * Dense and grouped matmuls: lanes per workgroup (one output column each) and rows per lane;
   * `shareA`: the workgroup is one subgroup of exactly `lanes` lanes, which load A once and
   * share it by subgroupBroadcast.
   */
  matmul: {
    lanes: number;
    rows: number;
    shareA: boolean;
    /**
     * Split-K for runs of at most `tokens` tokens: a product's k range in up to `slices` parts,
     * one workgroup each, added in a fixed order by a second kernel (scheduler/split-k.ts).
     */
    splitK?: { slices: number; tokens: number };
    /**
     * Under f16 or bf16 arithmetic, products whose K and N are multiples of 16 run on subgroup
     * matrices (tensor cores): a workgroup of one subgroup takes 16 rows by up to 64 columns,
     * through workgroup-memory tiles (scheduler/matmul-matrices.ts), and grouped products tile
     * their experts' rows by 16.
     */
    tensorCores?: boolean;
  };
  /**
   * A gated expert's gate and up projections: in one kernel with two accumulators, or in two
   * passes (the second's epilogue applies act(gate) · up). On llvmpipe two single-weight passes
   * are faster (the bench helper measured 39 ms fused vs 23 ms in two passes on one expert of
   * 2048 x 8192 at one token); GPUs keep the shared A loads.
   */
  glu: 'fused' | 'two-pass';
  /**
   * The most bytes one buffer binding may hold (the adapter's maxStorageBufferBindingSize).
   * Stacked expert weights larger than this are bound in chunks of whole experts, one grouped
   * dispatch per chunk.
   */
  maxBindingBytes: number;
  /**
   * Storage buffers one kernel may bind: WebGPU guarantees 8 per shader stage (and moec asks for
   * no more, so every adapter runs a program); CUDA has no such limit. A gated product that would
   * bind more in one kernel (gpt-oss's biased gate and up) runs in two passes.
   */
  maxStorageBuffers: number;
  /**
   * How weights live on the device: `stored` keeps bf16, f16, int8 and int4 weights as the
   * file's bytes and decodes them in the kernels (half or a quarter of the memory and traffic);
   * `widened` holds one f32 or i32 per stored element. Results are the same either way.
   */
  weights: 'stored' | 'widened';
}

export interface AdapterFacts {
  vendor?: string;
  architecture?: string;
  description?: string;
  /** Subgroup sizes, when the device has subgroups: sharing A by subgroup needs one fixed size. */
  subgroups?: { min: number; max: number };
}

/** WebGPU's default maxStorageBufferBindingSize: what every adapter allows. */
const DEFAULT_BINDING_BYTES = 128 * 1024 * 1024;

const cpuLike: Schedule = { name: 'llvmpipe', elementwise: 64, rows: 8, rowLanes: 1, matmul: { lanes: 8, rows: 8, shareA: true }, glu: 'two-pass', maxBindingBytes: DEFAULT_BINDING_BYTES, maxStorageBuffers: 8, weights: 'stored' };
const gpu: Schedule = { name: 'gpu', elementwise: 256, rows: 64, rowLanes: 1, matmul: { lanes: 64, rows: 4, shareA: false }, glu: 'fused', maxBindingBytes: DEFAULT_BINDING_BYTES, maxStorageBuffers: 8, weights: 'stored' };
/**
 * NVIDIA GPUs through the CUDA printer. CUDA has no binding limit, so stacked expert weights
 * are split only where a buffer's i32 element indices would come near 2^31 (2 GiB keeps every
 * index below 2^29), which keeps one grouped dispatch per weight at real sizes. Weights stay
 * as stored, as on WebGPU: the CUDA host code copies a stored buffer's bytes as they are.
 */
const cuda: Schedule = { ...gpu, name: 'cuda', rowLanes: 32, matmul: { ...gpu.matmul, splitK: { slices: 8, tokens: 16 }, tensorCores: true }, maxBindingBytes: 2 * 1024 * 1024 * 1024, maxStorageBuffers: Infinity };

/** A software rasteriser (lavapipe, SwiftShader): a CPU, which wants the CPU-shaped schedule and f32 arithmetic. */
export function isSoftwareAdapter(adapter: AdapterFacts): boolean {
  const text = `${adapter.vendor ?? ''} ${adapter.architecture ?? ''} ${adapter.description ?? ''}`.toLowerCase();
  return /llvmpipe|lavapipe|swiftshader/.test(text);
}

/** The schedule for an adapter (software rasterisers get the CPU-shaped one), within its binding limit. */
export function scheduleFor(adapter: AdapterFacts = {}, maxBindingBytes = DEFAULT_BINDING_BYTES): Schedule {
  const base = isSoftwareAdapter(adapter) ? cpuLike : gpu;
  if (!base.matmul.shareA) return { ...base, maxBindingBytes };
  // The A-sharing matmul's workgroup is one subgroup: size it to the device's, or share nothing.
  const { subgroups } = adapter;
  const matmul = subgroups && subgroups.min === subgroups.max ? { ...base.matmul, lanes: subgroups.min } : { ...base.matmul, shareA: false };
  return { ...base, matmul, maxBindingBytes };
}

export const SCHEDULES: Readonly<Record<string, Schedule>> = { llvmpipe: cpuLike, gpu, cuda };
