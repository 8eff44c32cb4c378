import type { Kernel, Scalar } from './kernel-ir.js';

/**
 * The Program: the one compiled artifact every back end consumes. Buffers (sizes affine in the
 * token count, assigned to reusable slots), kernels in the kernel IR, and an ordered dispatch
 * list. A back end prints the kernels and launches the dispatches in order; it never decides
 * routing, grouping or buffer layout itself.
 */

/** `a·T + b`, T the token count of a run. */
export interface Affine {
  a: number;
  b: number;
}

/** `constant`: a few i32 values fixed at compile time (`data`), which let one kernel serve many dispatches. */
export type BufferRole = 'weight' | 'constant' | 'input' | 'output' | 'activation' | 'workspace';

export interface BufferDecl {
  name: string;
  role: BufferRole;
  /** How the elements are stored on the device (int8/int4 weights: one i32 per stored value or byte). */
  element: Scalar;
  bytes: Affine;
  /** The device allocation it lives in; activations and workspaces share slots when their lifetimes do not overlap. */
  slot: number;
  /** Weights: the param (tensor) name; inputs: the input name (x, ids, requests). */
  source?: string;
  /** Weights: the stored elements of the tensor this buffer holds, when it is one chunk of it. */
  sourceRange?: { offset: number; count: number };
  /**
   * Weights: the buffer holds the tensor's bytes as the weights file stores them for this dtype
   * (little-endian, zero-padded to whole u32 words), and kernels decode them. Without it, every
   * stored element is widened to one 32-bit `element` (f32, or i32 for int8 values and int4 bytes).
   */
  stored?: 'bf16' | 'f16' | 'int8' | 'int4';
  /** Constants: the i32 values. */
  data?: number[];
  /** The IR node whose value it holds, for tools. */
  node?: number;
}

export interface Slot {
  id: number;
  bytes: Affine;
  role: BufferRole;
}

/** Workgroups along one axis: ceil((a·T + b) / per), at most `max` (a one-dimensional grid folded onto two axes). */
export interface GridDim {
  a: number;
  b: number;
  per: number;
  max?: number;
}

export type Grid = { kind: 'direct'; x: GridDim; y: GridDim; z: GridDim } | { kind: 'indirect'; buffer: string; offset: number };

export interface Dispatch {
  kernel: string;
  /** Buffer names bound to the kernel's params, in param order. */
  bindings: string[];
  grid: Grid;
  /** The IR node it computes (part of), for --profile and tools. */
  node: number;
}

/** A weight the program expects: the graph's param, with its logical shape (int4: unpacked). */
export interface ProgramParam {
  name: string;
  dtype: 'f32' | 'f16' | 'bf16' | 'int8' | 'int4';
  shape: number[];
}

/** How a param is stored in a safetensors file: its dtype there (int4: two values per U8 byte). */
export const STORED_DTYPE: Readonly<Record<ProgramParam['dtype'], 'F32' | 'F16' | 'BF16' | 'I8' | 'U8'>> = { f32: 'F32', f16: 'F16', bf16: 'BF16', int8: 'I8', int4: 'U8' };

/** A param's shape in a weights file (int4 packs pairs along the last dim), or undefined when an int4 last dim is odd. */
export function storedShape(dtype: ProgramParam['dtype'], shape: readonly number[]): number[] | undefined {
  if (dtype !== 'int4') return [...shape];
  const last = shape[shape.length - 1]!;
  return last % 2 ? undefined : [...shape.slice(0, -1), last / 2];
}

/** Stored elements of a program's param (its int4 dims are even: the checker saw to that). */
export function storedElements(p: ProgramParam): number {
  return storedShape(p.dtype, p.shape)!.reduce((a, b) => a * b, 1);
}

export interface Program {
  name: string;
  /** The model's residual width: x and y are [T, width]. */
  width: number;
  buffers: BufferDecl[];
  slots: Slot[];
  kernels: Kernel[];
  dispatches: Dispatch[];
  /** Buffers the caller fills (x, and ids or requests when the model reads them) and reads (y). */
  inputs: { name: string; buffer: string }[];
  output: string;
  /** Every weight tensor a run needs, in the graph's order: what a weights file must hold. */
  params: ProgramParam[];
  /**
   * Kernels that use subgroup operations assume that one subgroup is their whole workgroup, of
   * exactly this many invocations: a device whose subgroups differ must not run the program.
   */
  subgroupSize?: number;
  /**
   * Some kernels compute in f16 (built with `arithmetic: 'f16'`): the device needs WebGPU's
   * shader-f16, and results meet the f16 tolerance, not f32's.
   */
  f16?: boolean;
  /**
   * Some kernels use subgroup matrices (the cuda schedule's tensor-core products under f16 or
   * bf16 arithmetic): the program prints as CUDA only, for sm_80 and later.
   */
  matrices?: boolean;
  /** Scheduling decisions a reader should know about (a fused kernel that runs op by op, and why). */
  notes: string[];
}

export function evalAffine({ a, b }: Affine, tokens: number): number {
  return a * tokens + b;
}

export function gridSize(d: GridDim, tokens: number): number {
  const n = Math.ceil((d.a * tokens + d.b) / d.per);
  return d.max === undefined ? n : Math.min(n, d.max);
}

/** Bytes a slot occupies at this token count, rounded up to 4 (WebGPU binds whole words). */
export function slotBytes(s: Slot, tokens: number): number {
  return Math.max(4, Math.ceil(evalAffine(s.bytes, tokens) / 4) * 4);
}

/**
 * What the matmuls multiply and add in: f32; or f16, products summed in f16 over short runs of k
 * into f32 accumulators; or, on schedules with tensor cores, both operands rounded to f16 or bf16
 * and multiplied by subgroup matrices into f32 (bf16 only there: WGSL has no bf16).
 */
export type Arithmetic = 'f32' | 'f16' | 'bf16';
