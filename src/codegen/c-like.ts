import type { Expr, Kernel, MathFn, MatrixStmt, Scalar, Stmt, SubgroupOp } from './kernel-ir.js';

/**
 * The printer every C-like target shares: statements, operators, precedence and layout. A
 * target subclasses it and overrides spellings only (types, declarations, builtins, the kernel
 * signature, atomics, subgroups), as tinygrad's WGSL renderer overrides its C-style one.
 */
export abstract class CLikePrinter {
  protected abstract typeName(t: Scalar): string;
  protected abstract literal(type: Scalar, value: number | boolean): string;
  protected abstract declare(kind: 'let' | 'var', name: string, type: Scalar, value: string): string;
  protected abstract declareArray(name: string, type: Scalar, length: number, space: 'private' | 'workgroup'): string;
  protected abstract builtin(name: Extract<Expr, { k: 'builtin' }>['name']): string;
  protected abstract tokens(): string;
  protected abstract castTo(type: Scalar, value: string, from: Scalar): string;
  protected abstract bitcastTo(type: Scalar, value: string, from: Scalar): string;
  protected abstract mathFn(fn: MathFn, type: Scalar): string;
  protected abstract load(kernel: Kernel, buffer: string, index: string): string;
  protected abstract atomicAdd(buffer: string, index: string, value: string): string;
  protected abstract barrier(): string;
  protected abstract subgroup(op: SubgroupOp, value: string, lane: number | undefined): string;
  protected abstract forHeader(name: string, from: string, to: string, step: number): string;
  /** Four lets from one 16-byte load of `buffer` at the printed `index` (kernel-ir.ts load4). */
  protected abstract load4(names: readonly string[], type: Scalar, buffer: string, index: string): string;
  /** A subgroup-matrix statement; `offset` is the printed offset of a load or store. */
  protected abstract matrixStmt(s: MatrixStmt, offset: string | undefined): string;
  /** Leaving the kernel: `return`, unless the target wraps the body (CUDA jumps to the next workgroup). */
  protected returnStmt(): string {
    return 'return';
  }
  /** The whole module: declarations, helpers, the signature around `body`. */
  protected abstract module(kernel: Kernel, body: string): string;

  private current?: Kernel;

  print(kernel: Kernel): string {
    this.current = kernel;
    return this.module(kernel, this.block(kernel.body, 1));
  }

  protected block(stmts: readonly Stmt[], depth: number): string {
    return stmts.map((s) => this.stmt(s, depth)).join('');
  }

  private stmt(s: Stmt, depth: number): string {
    const pad = '  '.repeat(depth);
    switch (s.k) {
      case 'let':
        return `${pad}${this.declare('let', s.name, s.value.type, this.expr(s.value))};\n`;
      case 'var':
        return `${pad}${this.declare('var', s.name, s.type, this.expr(s.value))};\n`;
      case 'assign':
        return `${pad}${s.name} = ${this.expr(s.value)};\n`;
      case 'array': {
        // A target may declare an array elsewhere (WGSL: workgroup arrays at module scope).
        const text = this.declareArray(s.name, s.type, s.length, s.space);
        return text ? `${pad}${text};\n` : '';
      }
      case 'set':
        return `${pad}${s.array}[${this.expr(s.index)}] = ${this.expr(s.value)};\n`;
      case 'store':
        return `${pad}${s.buffer}[${this.expr(s.index)}] = ${this.expr(s.value)};\n`;
      case 'atomic_add':
        return `${pad}${this.atomicAdd(s.buffer, this.expr(s.index), this.expr(s.value))};\n`;
      case 'if': {
        const head = `${pad}if (${this.expr(s.cond)}) {\n${this.block(s.then, depth + 1)}${pad}}`;
        return s.else?.length ? `${head} else {\n${this.block(s.else, depth + 1)}${pad}}\n` : `${head}\n`;
      }
      case 'for':
        return `${pad}${this.forHeader(s.name, this.expr(s.from), this.expr(s.to), s.step)} {\n${this.block(s.body, depth + 1)}${pad}}\n`;
      case 'break':
        return `${pad}break;\n`;
      case 'continue':
        return `${pad}continue;\n`;
      case 'return':
        return `${pad}${this.returnStmt()};\n`;
      case 'barrier':
        return `${pad}${this.barrier()};\n`;
      case 'load4':
        return `${pad}${this.load4(s.names, s.type, s.buffer, this.expr(s.index))};\n`;
      case 'matrix':
      case 'matrix_load':
      case 'matrix_mma':
      case 'matrix_store':
        return `${pad}${this.matrixStmt(s, 'offset' in s ? this.expr(s.offset) : undefined)};\n`;
    }
  }

  protected expr(e: Expr, parent = 0): string {
    switch (e.k) {
      case 'const':
        return this.literal(e.type, e.value);
      case 'ref':
        return e.name;
      case 'builtin':
        return this.builtin(e.name);
      case 'tokens':
        return this.tokens();
      case 'binary': {
        const p = PRECEDENCE[e.op];
        // Bit and shift operands, and any non-arithmetic operand, are parenthesised (WGSL
        // requires it); so is an equal-precedence right operand: a - (b - c).
        const wrapChildren = BITWISE.has(e.op);
        const text = `${this.expr(e.a, wrapChildren ? 99 : p)} ${e.op} ${this.expr(e.b, wrapChildren ? 99 : p + 1)}`;
        return p < parent || (parent > 0 && !ARITHMETIC.has(e.op)) ? `(${text})` : text;
      }
      case 'unary': {
        // "- -x", never "--x" (a decrement in C, and not every WGSL compiler accepts it).
        const operand = this.expr(e.a, 100);
        return `${e.op}${operand.startsWith('-') ? ' ' : ''}${operand}`;
      }
      case 'call':
        return `${this.mathFn(e.fn, e.type)}(${e.args.map((a) => this.expr(a)).join(', ')})`;
      case 'select':
        return this.select(this.expr(e.cond), this.expr(e.a), this.expr(e.b));
      case 'cast':
        return this.castTo(e.type, this.expr(e.a), e.a.type);
      case 'bitcast':
        return this.bitcastTo(e.type, this.expr(e.a), e.a.type);
      case 'load':
        return this.load(this.current!, e.buffer, this.expr(e.index));
      case 'element':
        return `${e.array}[${this.expr(e.index)}]`;
      case 'subgroup':
        return this.subgroup(e.op, this.expr(e.a), e.lane);
    }
  }

  protected select(cond: string, a: string, b: string): string {
    return `(${cond} ? ${a} : ${b})`;
  }
}

/** C precedence (higher binds tighter); WGSL requires parentheses where C would mix bit and logic ops. */
const PRECEDENCE: Record<Extract<Expr, { k: 'binary' }>['op'], number> = {
  '||': 1,
  '&&': 2,
  '|': 3,
  '^': 4,
  '&': 5,
  '==': 6,
  '!=': 6,
  '<': 7,
  '<=': 7,
  '>': 7,
  '>=': 7,
  '<<': 8,
  '>>': 8,
  '+': 9,
  '-': 9,
  '*': 10,
  '/': 10,
  '%': 10,
};

const ARITHMETIC = new Set(['+', '-', '*', '/', '%']);
const BITWISE = new Set(['|', '^', '&', '<<', '>>']);

/**
 * An f32 literal that round-trips the value exactly, with the `f` suffix (finite values only),
 * spelled the same in WGSL and C++. In WGSL an unsuffixed literal is an abstract float, and
 * constant subexpressions would fold in higher precision than the kernel IR's f32 (1 + 2^-24 +
 * 2^-24 must stay 1); in C++ it is a double.
 */
export function floatLiteral(v: number): string {
  const f = Math.fround(v);
  if (Object.is(f, -0)) return '-0.0f';
  let text = String(f);
  if (!/[.e]/.test(text)) text += '.0';
  return `${text.replace('e+', 'e')}f`;
}
