import type { Affine, GridDim, Program } from './program.js';

/**
 * The Program as text, for reading and diffing: slots, buffers, kernels (by name and
 * signature; their bodies are the printed WGSL or CUDA) and the dispatch list. Deterministic.
 */
export function printProgram(p: Program): string {
  const lines = [`program ${p.name} (width ${p.width})`, `inputs ${p.inputs.map((i) => `${i.name} = ${i.buffer}`).join(', ')}; output ${p.output}`];
  if (p.subgroupSize) lines.push(`subgroups of exactly ${p.subgroupSize} invocations`);
  if (p.notes.length) lines.push('', 'notes', ...p.notes.map((n) => `  ${n}`));
  lines.push('', 'params');
  for (const q of p.params) lines.push(`  ${q.name}: ${q.dtype}[${q.shape.join(', ')}]`);
  lines.push('', 'slots');
  for (const s of p.slots) lines.push(`  slot${s.id}: ${affineText(s.bytes)} bytes (${s.role})`);
  lines.push('', 'buffers');
  for (const b of p.buffers) lines.push(`  ${b.name}: ${b.element} ${affineText(b.bytes)} bytes, ${b.role} in slot${b.slot}${b.source ? ` <- ${b.source}${b.stored ? ` (${b.stored} as stored)` : ''}` : ''}`);
  lines.push('', 'kernels');
  for (const k of p.kernels) lines.push(`  ${k.name} @workgroup(${k.workgroup.join(', ')})${k.subgroups ? ' subgroups' : ''} (${k.params.map((q) => `${q.name}: ${q.access} ${q.element}`).join(', ')}): ${k.summary}`);
  lines.push('', 'dispatches');
  for (const d of p.dispatches) {
    const grid = d.grid.kind === 'direct' ? `[${[d.grid.x, d.grid.y, d.grid.z].map(gridText).join(', ')}]` : `indirect(${d.grid.buffer} + ${d.grid.offset})`;
    lines.push(`  ${d.kernel}${grid}(${d.bindings.join(', ')})  // %${d.node}`);
  }
  return `${lines.join('\n')}\n`;
}

export function affineText({ a, b }: Affine): string {
  if (a === 0) return String(b);
  const t = a === 1 ? 'T' : `${a}T`;
  return b === 0 ? t : `${t}+${b}`;
}

function gridText(d: GridDim): string {
  const n = affineText(d);
  const count = d.per === 1 ? n : d.a === 0 ? String(Math.ceil(d.b / d.per)) : `ceil((${n})/${d.per})`;
  return d.max === undefined ? count : `min(${count}, ${d.max})`;
}

/**
 * The Program as JSON (stable key order: the objects are built in a fixed order). JSON has no
 * infinities or NaN, and kernels use -inf for "not live": such numbers are written as the
 * strings "Infinity", "-Infinity" and "NaN", which parseProgramJson turns back into numbers.
 */
export function programJson(p: Program): string {
  return `${JSON.stringify(p, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1)}\n`;
}

const NON_FINITE: Record<string, number> = { Infinity: Infinity, '-Infinity': -Infinity, NaN: NaN };

/** A Program from programJson's text. Only constants' values can be non-finite, so only `value` fields are revived. */
export function parseProgramJson(text: string): Program {
  return JSON.parse(text, (key, v: unknown) => (key === 'value' && typeof v === 'string' && v in NON_FINITE ? NON_FINITE[v] : v)) as Program;
}
