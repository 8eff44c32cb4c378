import type { Access, BinaryOp, Builtin, Expr, Kernel, MathFn, MatrixRole, Scalar, Stmt } from './kernel-ir.js';

/**
 * Writing kernels in TypeScript: expression constructors that infer types, and a statement
 * builder with scoped blocks, so a kernel template reads like the kernel it builds.
 */
export const i32 = (value: number): Expr => ({ k: 'const', type: 'i32', value: Math.trunc(value) });
export const f32 = (value: number): Expr => ({ k: 'const', type: 'f32', value });
export const u32 = (value: number): Expr => ({ k: 'const', type: 'u32', value: value >>> 0 });
export const bool = (value: boolean): Expr => ({ k: 'const', type: 'bool', value });
export const builtin = (name: Builtin): Expr => ({ k: 'builtin', type: 'i32', name });
export const tokens: Expr = { k: 'tokens', type: 'i32' };

type Operand = Expr | number;
/** Plain numbers take the type of the other operand. */
const lift = (v: Operand, like: Scalar): Expr => (typeof v === 'number' ? { k: 'const', type: like === 'bool' ? 'i32' : like, value: like === 'f32' ? v : Math.trunc(v) } : v);
const comparison = new Set<BinaryOp>(['<', '<=', '>', '>=', '==', '!=', '&&', '||']);

function binary(op: BinaryOp, a: Operand, b: Operand): Expr {
  const like = typeof a === 'number' ? (typeof b === 'number' ? 'i32' : b.type) : a.type;
  const [x, y] = [lift(a, like), lift(b, like)];
  if (x.type !== y.type && !(op === '<<' || op === '>>')) throw new Error(`internal: kernel ${op} of ${x.type} and ${y.type}`);
  return { k: 'binary', type: comparison.has(op) ? 'bool' : x.type, op, a: x, b: y };
}

export const add = (a: Operand, b: Operand) => binary('+', a, b);
export const sub = (a: Operand, b: Operand) => binary('-', a, b);
export const mul = (a: Operand, b: Operand) => binary('*', a, b);
export const div = (a: Operand, b: Operand) => binary('/', a, b);
export const mod = (a: Operand, b: Operand) => binary('%', a, b);
export const lt = (a: Operand, b: Operand) => binary('<', a, b);
export const le = (a: Operand, b: Operand) => binary('<=', a, b);
export const gt = (a: Operand, b: Operand) => binary('>', a, b);
export const ge = (a: Operand, b: Operand) => binary('>=', a, b);
export const eq = (a: Operand, b: Operand) => binary('==', a, b);
export const ne = (a: Operand, b: Operand) => binary('!=', a, b);
export const and = (a: Expr, b: Expr) => binary('&&', a, b);
export const or = (a: Expr, b: Expr) => binary('||', a, b);
export const bitAnd = (a: Operand, b: Operand) => binary('&', a, b);
export const bitXor = (a: Operand, b: Operand) => binary('^', a, b);
export const bitOr = (a: Operand, b: Operand) => binary('|', a, b);
export const shl = (a: Expr, b: Operand): Expr => ({ k: 'binary', type: a.type, op: '<<', a, b: cast('u32', lift(b, 'i32')) });
/** Shift amounts are u32 in WGSL; the result has the type of the shifted value. */
export const shr = (a: Expr, b: Operand): Expr => ({ k: 'binary', type: a.type, op: '>>', a, b: cast('u32', lift(b, 'i32')) });
export const neg = (a: Expr): Expr => ({ k: 'unary', type: a.type, op: '-', a });
export const not = (a: Expr): Expr => ({ k: 'unary', type: 'bool', op: '!', a });
export const call = (fn: MathFn, ...args: Operand[]): Expr => {
  const like = args.find((a): a is Expr => typeof a !== 'number')?.type ?? 'f32';
  return { k: 'call', type: like, fn, args: args.map((a) => lift(a, like)) };
};
export const select = (cond: Expr, a: Operand, b: Operand): Expr => {
  const like = typeof a === 'number' ? (typeof b === 'number' ? 'f32' : b.type) : a.type;
  return { k: 'select', type: like, cond, a: lift(a, like), b: lift(b, like) };
};
export const cast = (type: Scalar, a: Expr): Expr => (a.type === type ? a : { k: 'cast', type, a });
export const bitcast = (type: Scalar, a: Expr): Expr => (a.type === type ? a : { k: 'bitcast', type, a });
export const load = (buffer: string, type: Scalar, index: Operand): Expr => ({ k: 'load', type, buffer, index: lift(index, 'i32') });
export const element = (array: string, type: Scalar, index: Operand): Expr => ({ k: 'element', type, array, index: lift(index, 'i32') });

/** An affine function of the token count, as an expression (constant-folded). */
export function affineExpr(a: number, b: number): Expr {
  if (a === 0) return i32(b);
  const scaled = a === 1 ? tokens : mul(tokens, a);
  return b === 0 ? scaled : add(scaled, b);
}

/** Per-kernel state: the name counter, and the block being filled (where `var.set` assigns). */
interface BuildState {
  next: number;
  current?: Block;
}

/**
 * Collects statements; nested blocks are built by callbacks, which run at once, in nesting
 * order. Names get a per-kernel counter.
 */
export class Block {
  readonly stmts: Stmt[] = [];
  constructor(private readonly names: BuildState) {
    // The first block of a kernel is its body: the block being filled when no callback runs.
    names.current ??= this;
  }

  private fresh(hint: string): string {
    return `${hint}${this.names.next++}`;
  }

  let(hint: string, value: Expr): Expr {
    const name = this.fresh(hint);
    this.stmts.push({ k: 'let', name, value });
    return { k: 'ref', type: value.type, name };
  }

  /** A mutable scalar; `set` assigns it. */
  var(hint: string, value: Expr): { get: Expr; set: (v: Expr) => void } {
    const name = this.fresh(hint);
    this.stmts.push({ k: 'var', name, type: value.type, value });
    const set = (v: Expr) => void this.names.current!.stmts.push({ k: 'assign', name, value: v });
    return { get: { k: 'ref', type: value.type, name }, set };
  }

  array(hint: string, type: Scalar, length: number, space: 'private' | 'workgroup' = 'private'): ArrayRef {
    const name = this.fresh(hint);
    this.stmts.push({ k: 'array', name, type, length, space });
    return new ArrayRef(name, type, length);
  }

  /** Elements index..index+3 of a buffer argument in one 16-byte load (index a multiple of 4: kernel-ir.ts). */
  load4(hint: string, buffer: string, type: Scalar, index: Operand): Expr[] {
    const names = [0, 1, 2, 3].map(() => this.fresh(hint)) as [string, string, string, string];
    this.stmts.push({ k: 'load4', names, type, buffer, index: lift(index, 'i32') });
    return names.map((name) => ({ k: 'ref', type, name }));
  }

  store(buffer: string, index: Operand, value: Expr): void {
    this.stmts.push({ k: 'store', buffer, index: lift(index, 'i32'), value });
  }

  set(array: ArrayRef, index: Operand, value: Expr): void {
    this.stmts.push({ k: 'set', array: array.name, index: lift(index, 'i32'), value });
  }

  atomicAdd(buffer: string, index: Operand, value: Expr): void {
    this.stmts.push({ k: 'atomic_add', buffer, index: lift(index, 'i32'), value });
  }

  if(cond: Expr, then: (b: Block) => void, otherwise?: (b: Block) => void): void {
    const t = this.child(then);
    this.stmts.push(otherwise ? { k: 'if', cond, then: t, else: this.child(otherwise) } : { k: 'if', cond, then: t });
  }

  for(hint: string, from: Operand, to: Operand, body: (i: Expr, b: Block) => void, step = 1): void {
    const name = this.fresh(hint);
    const i: Expr = { k: 'ref', type: 'i32', name };
    this.stmts.push({ k: 'for', name, from: lift(from, 'i32'), to: lift(to, 'i32'), step, body: this.child((b) => body(i, b)) });
  }

  emit(...stmts: Stmt[]): void {
    this.stmts.push(...stmts);
  }

  break(): void {
    this.stmts.push({ k: 'break' });
  }

  return(): void {
    this.stmts.push({ k: 'return' });
  }

  barrier(): void {
    this.stmts.push({ k: 'barrier' });
  }

  /** A subgroup matrix (kernel-ir.ts MatrixStmt); returns its name. A result starts at zero. */
  matrix(hint: string, role: MatrixRole, type: Scalar): string {
    const name = this.fresh(hint);
    this.stmts.push({ k: 'matrix', name, role, type });
    return name;
  }

  matrixLoad(matrix: string, array: ArrayRef, offset: Operand, stride: number): void {
    this.stmts.push({ k: 'matrix_load', matrix, array: array.name, offset: lift(offset, 'i32'), stride });
  }

  /** result += left · right */
  mma(result: string, left: string, right: string): void {
    this.stmts.push({ k: 'matrix_mma', result, left, right });
  }

  matrixStore(matrix: string, array: ArrayRef, offset: Operand, stride: number): void {
    this.stmts.push({ k: 'matrix_store', matrix, array: array.name, offset: lift(offset, 'i32'), stride });
  }

  child(fill: (b: Block) => void): Stmt[] {
    const b = new Block(this.names);
    const outer = this.names.current;
    this.names.current = b;
    fill(b);
    this.names.current = outer;
    return b.stmts;
  }
}

export class ArrayRef {
  constructor(
    readonly name: string,
    readonly type: Scalar,
    readonly length: number,
  ) {}
  at(index: Operand): Expr {
    return element(this.name, this.type, index);
  }
}

/** A kernel under construction: its buffer arguments and its body. */
export class KernelBuilder extends Block {
  private readonly params: Kernel['params'][number][] = [];
  private subgroups = false;
  private f16 = false;
  private matrices = false;

  constructor(
    readonly name: string,
    private readonly summary: string,
    private readonly workgroup: readonly [number, number, number],
  ) {
    super({ next: 0 });
  }

  /** A storage buffer argument; returns its name for loads and stores. */
  buffer(name: string, element: Scalar, access: Access, atomic = false): string {
    if (this.params.some((p) => p.name === name)) throw new Error(`internal: kernel ${this.name} binds ${name} twice`);
    this.params.push({ name, element, access, ...(atomic ? { atomic } : {}) });
    return name;
  }

  useSubgroups(): void {
    this.subgroups = true;
  }

  useF16(): void {
    this.f16 = true;
  }

  useMatrices(): void {
    this.matrices = true;
  }

  finish(): Kernel {
    return { name: this.name, summary: this.summary, workgroup: this.workgroup, params: this.params, ...(this.subgroups ? { subgroups: true } : {}), ...(this.f16 ? { f16: true } : {}), ...(this.matrices ? { matrices: true } : {}), body: this.stmts };
  }
}
