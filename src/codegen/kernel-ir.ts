/**
 * The kernel IR: what one compute kernel does, independent of the language it is printed in.
 * A small closed set of typed expressions and statements (in the spirit of tinygrad's UOps):
 * every back end prints the same trees, adding only spellings (src/codegen/c-like.ts and the
 * target printers). Indices are i32 throughout, so "no expert" (-1) is an ordinary value.
 *
 * Float atomics do not exist here on purpose: results must not depend on thread timing.
 */
/**
 * f16 is IEEE half precision: only kernels that declare `f16` use it (WGSL's shader-f16). bf16
 * (bfloat16) exists only as the element of subgroup matrices and the workgroup arrays they load
 * from: CUDA has it, WGSL does not.
 */
export type Scalar = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32' | 'bool';

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '&&' | '||' | '&' | '|' | '^' | '<<' | '>>';

/** Math functions every target spells natively (or, for erf, through a target helper). */
export type MathFn = 'exp' | 'sqrt' | 'inverse_sqrt' | 'tanh' | 'abs' | 'max' | 'min' | 'erf';

/** Per-invocation indices, as i32: the global, local and workgroup ids along x, y, z. */
export type Builtin = 'global_x' | 'global_y' | 'global_z' | 'local_x' | 'local_y' | 'workgroup_x' | 'workgroup_y' | 'workgroup_z' | 'subgroup_lane';

export type Expr =
  | { k: 'const'; type: Scalar; value: number | boolean }
  | { k: 'ref'; type: Scalar; name: string }
  | { k: 'builtin'; type: 'i32'; name: Builtin }
  /** The token count of this run, from the program's uniform. */
  | { k: 'tokens'; type: 'i32' }
  | { k: 'binary'; type: Scalar; op: BinaryOp; a: Expr; b: Expr }
  | { k: 'unary'; type: Scalar; op: '-' | '!'; a: Expr }
  | { k: 'call'; type: Scalar; fn: MathFn; args: Expr[] }
  /** cond ? a : b (both sides are evaluated; use `if` when one side must not be). */
  | { k: 'select'; type: Scalar; cond: Expr; a: Expr; b: Expr }
  /** A value conversion (i32 -> f32 rounds; f32 -> i32 truncates). */
  | { k: 'cast'; type: Scalar; a: Expr }
  /** Reinterpret the 32 bits (u32 <-> i32 <-> f32). */
  | { k: 'bitcast'; type: Scalar; a: Expr }
  /** An element of a storage buffer argument. */
  | { k: 'load'; type: Scalar; buffer: string; index: Expr }
  /** An element of a private (per-invocation) or workgroup array. */
  | { k: 'element'; type: Scalar; array: string; index: Expr }
  /**
   * Subgroup operations: the value of `a` in lane `lane`, or the sum, maximum or minimum over
   * the subgroup (every lane gets the same value). Maximum and minimum are exact, so they give
   * the same bits in any order; a sum's order is the target's (fixed, but not k ascending).
   */
  | { k: 'subgroup'; type: Scalar; op: SubgroupOp; a: Expr; lane?: number };

export type SubgroupOp = 'broadcast' | 'sum' | 'max' | 'min';

export type Stmt =
  | { k: 'let'; name: string; value: Expr }
  | { k: 'var'; name: string; type: Scalar; value: Expr }
  | { k: 'assign'; name: string; value: Expr }
  /** A fixed-length array: private to the invocation, or shared by the workgroup. */
  | { k: 'array'; name: string; type: Scalar; length: number; space: 'private' | 'workgroup' }
  | { k: 'set'; array: string; index: Expr; value: Expr }
  | { k: 'store'; buffer: string; index: Expr; value: Expr }
  /** Integer atomic add on an atomic buffer argument; the old value is discarded. */
  | { k: 'atomic_add'; buffer: string; index: Expr; value: Expr }
  | { k: 'if'; cond: Expr; then: Stmt[]; else?: Stmt[] }
  /** for (var name: i32 = from; name < to; name += step) */
  | { k: 'for'; name: string; from: Expr; to: Expr; step: number; body: Stmt[] }
  | { k: 'break' }
  | { k: 'continue' }
  | { k: 'return' }
  /** Workgroup barrier: all invocations' workgroup-memory writes are visible after it. */
  | { k: 'barrier' }
  /**
   * Four consecutive elements of a buffer argument from `index`, which is a multiple of 4 (and
   * the binding starts 16-byte aligned): one 16-byte load where the target has one. Declares
   * each element as a let of the buffer's element type (u32, i32 or f32); like every let, each
   * should be read (CUDA builds treat an unused variable as an error).
   */
  | { k: 'load4'; names: readonly [string, string, string, string]; type: Scalar; buffer: string; index: Expr }
  | MatrixStmt;

/**
 * Subgroup matrices (tensor cores): MATRIX x MATRIX tiles that the lanes of one subgroup hold
 * jointly, which element each lane holds being the target's business. Every lane of the
 * subgroup executes each of these statements together (uniform control flow), and a kernel
 * that uses them is exactly one subgroup of 32 lanes. Loads and stores go between a matrix and a
 * workgroup array, row-major with `stride` elements between rows, from element `offset`.
 * `mma` is result += left · right: left and right are f16 or bf16 (products exact in f32), the
 * result f32, starting at zero; the order of its sums is the target's.
 */
export type MatrixStmt =
  | { k: 'matrix'; name: string; role: MatrixRole; type: Scalar }
  | { k: 'matrix_load'; matrix: string; array: string; offset: Expr; stride: number }
  | { k: 'matrix_mma'; result: string; left: string; right: string }
  | { k: 'matrix_store'; matrix: string; array: string; offset: Expr; stride: number };

export type MatrixRole = 'left' | 'right' | 'result';

/** Rows and columns of a subgroup matrix (and the k of one mma). */
export const MATRIX = 16;

export type Access = 'read' | 'read_write';

/** A storage buffer argument: its element type as this kernel views the bytes. */
export interface BufferParam {
  name: string;
  element: Scalar;
  access: Access;
  /** Accessed only through atomic_add and atomic loads (integer elements only). */
  atomic?: boolean;
}

export interface Kernel {
  name: string;
  /** One line on what it computes, printed above it. */
  summary: string;
  workgroup: readonly [number, number, number];
  /** Storage buffer arguments, in binding order (the token-count uniform comes first, always). */
  params: readonly BufferParam[];
  /** Needs subgroup operations (the target must support them). */
  subgroups?: boolean;
  /** Computes in f16 (the target must support half precision: WebGPU's shader-f16). */
  f16?: boolean;
  /** Uses subgroup matrices (the target must have them: CUDA's tensor cores; WGSL has none). */
  matrices?: boolean;
  body: readonly Stmt[];
}
