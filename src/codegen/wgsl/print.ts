import { CLikePrinter, floatLiteral } from '../c-like.js';
import type { Builtin, Kernel, MathFn, MatrixStmt, Scalar, Stmt, SubgroupOp } from '../kernel-ir.js';

export { floatLiteral };

/**
 * WGSL spellings over the shared C-like printer. Binding 0 is the token-count uniform; the
 * kernel's buffer params follow at bindings 1.. in order. Builtins are converted to i32 once,
 * at the top of `main`, because the kernel IR indexes in i32.
 */
class WgslPrinter extends CLikePrinter {
  protected typeName(t: Scalar): string {
    return t;
  }

  protected literal(type: Scalar, value: number | boolean): string {
    if (type === 'bool') return String(value);
    const v = value as number;
    if (type === 'u32') return `${v}u`;
    if (type === 'i32') return v === -2147483648 ? 'i32(-2147483648)' : `${v}i`;
    // WGSL cannot spell infinities or NaN in constant expressions; a helper makes them runtime values.
    if (!Number.isFinite(v)) return `moec_f32_bits(0x${f32Bits(v).toString(16)}u)`;
    // An f16 constant: the f32 literal converted (exact for the zeros and small integers kernels use).
    return type === 'f16' ? `f16(${floatLiteral(v)})` : floatLiteral(v);
  }

  protected declare(kind: 'let' | 'var', name: string, type: Scalar, value: string): string {
    return `${kind} ${name}: ${type} = ${value}`;
  }

  protected declareArray(name: string, type: Scalar, length: number, space: 'private' | 'workgroup'): string {
    return space === 'workgroup' ? '' : `var ${name}: array<${type}, ${length}>`;
  }

  protected builtin(name: Builtin): string {
    return name;
  }

  protected tokens(): string {
    return 'i32(shape.tokens)';
  }

  protected castTo(type: Scalar, value: string): string {
    return `${type}(${value})`;
  }

  protected bitcastTo(type: Scalar, value: string): string {
    return `bitcast<${type}>(${value})`;
  }

  protected mathFn(fn: MathFn): string {
    return fn === 'inverse_sqrt' ? 'inverseSqrt' : fn === 'erf' ? 'moec_erf' : fn;
  }

  protected load(kernel: Kernel, buffer: string, index: string): string {
    const param = kernel.params.find((p) => p.name === buffer);
    return param?.atomic ? `atomicLoad(&${buffer}[${index}])` : `${buffer}[${index}]`;
  }

  protected atomicAdd(buffer: string, index: string, value: string): string {
    return `atomicAdd(&${buffer}[${index}], ${value})`;
  }

  protected barrier(): string {
    return 'workgroupBarrier()';
  }

  protected subgroup(op: SubgroupOp, value: string, lane: number | undefined): string {
    return op === 'broadcast' ? `subgroupBroadcast(${value}, ${lane}u)` : `${SUBGROUP_FNS[op]}(${value})`;
  }

  protected forHeader(name: string, from: string, to: string, step: number): string {
    return `for (var ${name}: i32 = ${from}; ${name} < ${to}; ${name} += ${step})`;
  }

  protected load4(names: readonly string[], type: Scalar, buffer: string, index: string): string {
    // WGSL has no wider load of an array<u32> or array<f32>: four loads (an implementation may merge them).
    return names.map((name, j) => `let ${name}: ${type} = ${buffer}[${j ? `(${index}) + ${j}i` : index}]`).join('; ');
  }

  protected matrixStmt(s: MatrixStmt): string {
    // The cuda schedule's tensor-core products print as CUDA only; the CLI refuses WGSL for them.
    throw new Error(`internal: WGSL has no subgroup matrices (${s.k})`);
  }

  protected override select(cond: string, a: string, b: string): string {
    return `select(${b}, ${a}, ${cond})`;
  }

  protected module(kernel: Kernel, body: string): string {
    const lines: string[] = [];
    const enables = [kernel.f16 && 'f16', kernel.subgroups && 'subgroups'].filter(Boolean);
    if (enables.length) lines.push(...enables.map((e) => `enable ${e};`), '');
    lines.push(`// ${kernel.name}: ${kernel.summary}`, 'struct Shape { tokens: u32 }', '@group(0) @binding(0) var<uniform> shape: Shape;');
    kernel.params.forEach((p, i) => {
      const element = p.atomic ? `atomic<${p.element}>` : p.element;
      const access = p.access === 'read' && !p.atomic ? 'read' : 'read_write';
      lines.push(`@group(0) @binding(${i + 1}) var<storage, ${access}> ${p.name}: array<${element}>;`);
    });
    const shared = workgroupArrays(kernel.body);
    if (shared.length) lines.push('', ...shared.map((a) => `var<workgroup> ${a.name}: array<${a.type}, ${a.length}>;`));
    if (/\bmoec_erf\(/.test(body)) lines.push('', ERF);
    if (/\bmoec_f32_bits\(/.test(body)) lines.push('', F32_BITS);
    const [x, y, z] = kernel.workgroup;
    lines.push(
      '',
      `@compute @workgroup_size(${x}, ${y}, ${z})`,
      `fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u${kernel.subgroups ? ', @builtin(subgroup_invocation_id) sgid: u32' : ''}) {`,
      ...BUILTINS.filter(([name]) => new RegExp(`\\b${name}\\b`).test(body)).map(([name, value]) => `  let ${name}: i32 = i32(${value});`),
      body.trimEnd(),
      '}',
      '',
    );
    return lines.join('\n');
  }
}

/** Workgroup arrays anywhere in a body: WGSL declares them at module scope. */
function workgroupArrays(stmts: readonly Stmt[]): Extract<Stmt, { k: 'array' }>[] {
  return stmts.flatMap((s) => {
    if (s.k === 'array') return s.space === 'workgroup' ? [s] : [];
    if (s.k === 'if') return [...workgroupArrays(s.then), ...workgroupArrays(s.else ?? [])];
    if (s.k === 'for') return workgroupArrays(s.body);
    return [];
  });
}

const SUBGROUP_FNS: Record<Exclude<SubgroupOp, 'broadcast'>, string> = { sum: 'subgroupAdd', max: 'subgroupMax', min: 'subgroupMin' };

const BUILTINS: [Builtin, string][] = [
  ['global_x', 'gid.x'],
  ['global_y', 'gid.y'],
  ['global_z', 'gid.z'],
  ['local_x', 'lid.x'],
  ['local_y', 'lid.y'],
  ['workgroup_x', 'wid.x'],
  ['workgroup_y', 'wid.y'],
  ['workgroup_z', 'wid.z'],
  ['subgroup_lane', 'sgid'],
];

/** erf from the Numerical Recipes erfc approximation (fractional error below 1.2e-7): WGSL has no erf. */
const ERF = `fn moec_erf(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let r = 1.0 - t * exp(p);
  return select(r, -r, x < 0.0);
}`;

const F32_BITS = `fn moec_f32_bits(bits: u32) -> f32 {
  return bitcast<f32>(bits);
}`;

function f32Bits(v: number): number {
  return new Uint32Array(Float32Array.of(v).buffer)[0]!;
}

const printer = new WgslPrinter();

/** One kernel as a complete WGSL module with entry point `main`. */
export function printWgslKernel(kernel: Kernel): string {
  return printer.print(kernel);
}
