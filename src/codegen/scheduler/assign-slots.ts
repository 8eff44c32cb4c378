import type { Affine, BufferDecl, Dispatch, Slot } from '../program.js';

/**
 * Buffer assignment with reuse: activations and workspaces whose lifetimes (first to last
 * dispatch that binds them) do not overlap share a device allocation. A slot's size is the
 * componentwise maximum of its buffers' affine sizes, an upper bound at every token count.
 * Best fit is judged at `referenceTokens`; ties go to the lower slot, so the result is
 * deterministic. Weights, inputs and the output keep slots of their own.
 */
export function assignSlots(buffers: BufferDecl[], dispatches: readonly Dispatch[], referenceTokens = 64): Slot[] {
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  dispatches.forEach((d, i) => {
    // An indirect grid's buffer is read by the dispatch too: it must outlive it.
    for (const b of [...d.bindings, ...(d.grid.kind === 'indirect' ? [d.grid.buffer] : [])]) {
      if (!first.has(b)) first.set(b, i);
      last.set(b, i);
    }
  });
  const slots: (Slot & { freeAfter: number })[] = [];
  const at = (s: Affine) => s.a * referenceTokens + s.b;
  const shared = buffers.filter((b) => b.role === 'activation' || b.role === 'workspace').sort((x, y) => (first.get(x.name) ?? -1) - (first.get(y.name) ?? -1));
  for (const b of buffers) {
    if (b.role === 'activation' || b.role === 'workspace') continue;
    b.slot = slots.length;
    slots.push({ id: slots.length, bytes: b.bytes, role: b.role, freeAfter: Infinity });
  }
  for (const b of shared) {
    const start = first.get(b.name) ?? -1;
    let best: (typeof slots)[number] | undefined;
    let bestGrowth = Infinity;
    for (const s of slots) {
      if (s.role !== 'activation' || s.freeAfter >= start) continue;
      const grown = { a: Math.max(s.bytes.a, b.bytes.a), b: Math.max(s.bytes.b, b.bytes.b) };
      const growth = at(grown) - at(s.bytes) + Math.max(0, at(s.bytes) - at(b.bytes)) / 1e6;
      if (growth < bestGrowth) [best, bestGrowth] = [s, growth];
    }
    if (!best) {
      best = { id: slots.length, bytes: b.bytes, role: 'activation', freeAfter: -1 };
      slots.push(best);
    }
    best.bytes = { a: Math.max(best.bytes.a, b.bytes.a), b: Math.max(best.bytes.b, b.bytes.b) };
    best.freeAfter = last.get(b.name) ?? start;
    b.slot = best.id;
  }
  return slots.map(({ id, bytes, role }) => ({ id, bytes, role }));
}
