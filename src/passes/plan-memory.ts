import type { Graph, Node } from '../ir/graph.js';
import { DTYPE_BYTES, evalDim } from '../ir/types.js';

/**
 * plan-memory: buffer lifetimes and reuse for activations (weights are not counted). Every
 * node result except params and inputs gets a buffer that lives from its definition to its
 * last reader; a buffer whose last reader has run is reused, best fit, by a later result.
 * A fused kernel's intermediates live in registers or workgroup memory: only its result needs
 * a buffer, which is where fusion saves memory.
 */
export interface MemoryPlan {
  tokens: number;
  /** Bytes of the buffer pool with reuse (what must be allocated). */
  peakBytes: number;
  /** Bytes if every result had its own buffer. */
  naiveBytes: number;
  buffers: number;
  results: number;
}

export function planMemory(g: Graph, tokens: number): MemoryPlan {
  const order = new Map(g.nodes.map((n, i) => [n, i]));
  const lastUse = new Map<Node, number>();
  for (const n of g.nodes) for (const s of n.src) lastUse.set(s, order.get(n)!);
  lastUse.set(g.output, g.nodes.length);
  const pool: { size: number; freeAt: number }[] = [];
  let naive = 0;
  let results = 0;
  for (const [i, n] of g.nodes.entries()) {
    // Weights are not activations (dequantisation happens inside the kernel that reads them);
    // reshape aliases its operand.
    if (n.op === 'param' || n.op === 'input' || n.op === 'reshape' || n.op === 'dequant') continue;
    const size = Math.ceil(n.type.shape.reduce<number>((p, d) => p * evalDim(d, tokens), 1) * DTYPE_BYTES[n.type.dtype]);
    naive += size;
    results++;
    const freeAt = lastUse.get(n) ?? i;
    // Best fit among buffers whose previous value is dead before this node runs.
    let best: (typeof pool)[number] | undefined;
    for (const b of pool) if (b.freeAt < i && b.size >= size && (!best || b.size < best.size)) best = b;
    if (best) best.freeAt = freeAt;
    else pool.push({ size, freeAt });
  }
  return { tokens, peakBytes: pool.reduce((s, b) => s + b.size, 0), naiveBytes: naive, buffers: pool.length, results };
}
