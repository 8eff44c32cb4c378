import type { Expr, Kernel, Stmt } from './kernel-ir.js';
import type { Program } from './program.js';

/**
 * The Program's invariants, checked after scheduling (problems are compiler bugs, reported
 * as data): every name a kernel reads is declared before use and in scope, every buffer
 * it touches is a param, stores go only to writable params; every dispatch binds one buffer
 * per param, to a declared buffer, and never binds a slot twice where one binding writes
 * (WebGPU forbids that aliasing, and CUDA results would depend on it).
 */
export function verifyProgram(p: Program): string[] {
  const problems: string[] = [];
  const kernels = new Map(p.kernels.map((k) => [k.name, k]));
  for (const k of p.kernels) problems.push(...verifyKernel(k).map((m) => `kernel ${k.name}: ${m}`));
  for (const k of p.kernels) {
    const invocations = k.workgroup.reduce((a, b) => a * b, 1);
    // A subgroup matrix belongs to one warp: the kernel is exactly one.
    if (k.matrices && invocations !== 32) problems.push(`kernel ${k.name} uses subgroup matrices with ${invocations} invocations per workgroup, not one subgroup of 32`);
    if (k.subgroups && invocations !== p.subgroupSize) problems.push(`kernel ${k.name} uses subgroups with ${invocations} invocations per workgroup, but the program's subgroups have ${p.subgroupSize ?? 'no declared size'}`);
  }
  const buffers = new Map(p.buffers.map((b) => [b.name, b]));
  for (const b of p.buffers) {
    const slot = p.slots[b.slot];
    if (!slot || slot.id !== b.slot) problems.push(`buffer ${b.name} is in slot${b.slot}, which does not exist`);
    else if (b.bytes.a > slot.bytes.a || b.bytes.b > slot.bytes.b) problems.push(`buffer ${b.name} does not fit slot${b.slot} at every token count`);
  }
  p.dispatches.forEach((d, i) => {
    const where = `dispatch ${i} (${d.kernel}, %${d.node})`;
    const k = kernels.get(d.kernel);
    if (!k) return void problems.push(`${where}: no kernel ${d.kernel}`);
    if (d.bindings.length !== k.params.length) problems.push(`${where}: ${d.bindings.length} bindings for ${k.params.length} params`);
    if (d.grid.kind === 'indirect') {
      const args = buffers.get(d.grid.buffer);
      if (!args) problems.push(`${where}: reads its grid from unknown buffer ${d.grid.buffer}`);
      else if (d.bindings.some((name, j) => buffers.get(name)?.slot === args.slot && k.params[j]?.access === 'read_write')) problems.push(`${where}: writes the slot its grid is read from`);
    }
    const slots = new Map<number, boolean>();
    d.bindings.forEach((name, j) => {
      const b = buffers.get(name);
      if (!b) return void problems.push(`${where}: binds unknown buffer ${name}`);
      const writes = k.params[j]?.access === 'read_write';
      const seen = slots.get(b.slot);
      if (seen !== undefined && (seen || writes)) problems.push(`${where}: slot${b.slot} bound twice with a write (${name})`);
      slots.set(b.slot, (seen ?? false) || writes);
    });
  });
  if (!buffers.has(p.output)) problems.push(`the output ${p.output} is not a buffer`);
  const params = new Set(p.params.map((q) => q.name));
  for (const b of p.buffers) if (b.role === 'weight' && !params.has(b.source ?? b.name)) problems.push(`weight buffer ${b.name} holds ${b.source ?? b.name}, which is not a param`);
  return problems;
}

export function verifyKernel(k: Kernel): string[] {
  const problems: string[] = [];
  const params = new Map(k.params.map((q) => [q.name, q]));
  const expr = (e: Expr, scope: Set<string>): void => {
    switch (e.k) {
      case 'ref':
        if (!scope.has(e.name)) problems.push(`${e.name} is used outside its scope`);
        return;
      case 'load':
        if (!params.has(e.buffer)) problems.push(`loads from ${e.buffer}, which is not a param`);
        return expr(e.index, scope);
      case 'element':
        if (!scope.has(e.array)) problems.push(`array ${e.array} is used outside its scope`);
        return expr(e.index, scope);
      case 'binary':
        expr(e.a, scope);
        return expr(e.b, scope);
      case 'unary':
        if (e.op === '-' && e.a.type === 'u32') problems.push('negates a u32');
        return expr(e.a, scope);
      case 'subgroup':
        if (!k.subgroups) problems.push('uses a subgroup operation without declaring subgroups');
        return expr(e.a, scope);
      case 'builtin':
        if (e.name === 'subgroup_lane' && !k.subgroups) problems.push('reads the subgroup lane without declaring subgroups');
        return;
      case 'cast':
      case 'bitcast':
        return expr(e.a, scope);
      case 'call':
        return e.args.forEach((a) => expr(a, scope));
      case 'select':
        return [e.cond, e.a, e.b].forEach((a) => expr(a, scope));
      default:
        return;
    }
  };
  const block = (stmts: readonly Stmt[], outer: Set<string>): void => {
    const scope = new Set(outer);
    for (const s of stmts) {
      switch (s.k) {
        case 'let':
        case 'var':
          expr(s.value, scope);
          scope.add(s.name);
          break;
        case 'array':
          scope.add(s.name);
          break;
        case 'assign':
          if (!scope.has(s.name)) problems.push(`assigns ${s.name} outside its scope`);
          expr(s.value, scope);
          break;
        case 'set':
          if (!scope.has(s.array)) problems.push(`writes array ${s.array} outside its scope`);
          expr(s.index, scope);
          expr(s.value, scope);
          break;
        case 'store':
        case 'atomic_add': {
          const q = params.get(s.buffer);
          if (!q) problems.push(`writes ${s.buffer}, which is not a param`);
          else if (q.access !== 'read_write') problems.push(`writes the read-only param ${s.buffer}`);
          else if ((s.k === 'atomic_add') !== Boolean(q.atomic)) problems.push(`${s.k === 'atomic_add' ? 'atomic add to the plain' : 'plain store to the atomic'} param ${s.buffer}`);
          expr(s.index, scope);
          expr(s.value, scope);
          break;
        }
        case 'if':
          expr(s.cond, scope);
          block(s.then, scope);
          if (s.else) block(s.else, scope);
          break;
        case 'for':
          expr(s.from, scope);
          expr(s.to, scope);
          block(s.body, new Set([...scope, s.name]));
          break;
        case 'load4': {
          const q = params.get(s.buffer);
          if (!q) problems.push(`loads from ${s.buffer}, which is not a param`);
          else if (q.element !== s.type || q.atomic || !['u32', 'i32', 'f32'].includes(s.type)) problems.push(`a 16-byte load of ${s.type} from ${s.buffer} (${q.element}${q.atomic ? ', atomic' : ''})`);
          expr(s.index, scope);
          for (const name of s.names) scope.add(name);
          break;
        }
        case 'matrix':
          if (!k.matrices) problems.push('declares a subgroup matrix without declaring matrices');
          if ((s.role === 'result') !== (s.type === 'f32') || !['f32', 'f16', 'bf16'].includes(s.type)) problems.push(`declares a ${s.role} matrix of ${s.type}`);
          scope.add(s.name);
          break;
        case 'matrix_load':
        case 'matrix_store':
          if (!scope.has(s.matrix) || !scope.has(s.array)) problems.push(`${s.k} of ${s.matrix} and ${s.array} outside their scope`);
          expr(s.offset, scope);
          break;
        case 'matrix_mma':
          if (![s.result, s.left, s.right].every((m) => scope.has(m))) problems.push(`mma of ${s.result}, ${s.left} and ${s.right} outside their scope`);
          break;
        default:
          break;
      }
    }
  };
  block(k.body, new Set());
  return problems;
}
