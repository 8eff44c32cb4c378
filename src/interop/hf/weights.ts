import { SITE, type MoeStack, type Sites } from './stack.js';

/** A projection of a (gated) FFN: plain FFNs have only `up` and `down`. */
export type Role = 'gate' | 'up' | 'down';

/**
 * Where a family keeps one layer's tensors (full checkpoint names). Matrices are PyTorch
 * Linear weights, `[out, in]`; the orientation is the family's, never guessed from a shape
 * (a square matrix reads either way).
 */
export interface HfLayout {
  /** The norm before the MoE block (or before the dense FFN of a dense layer). */
  norm(layer: number): string;
  /** The parallel dense FFN's own norm (Arctic's residual_layernorm). */
  denseNorm?(layer: number): string;
  dense(layer: number, role: Role): string;
  router(layer: number): string;
  routerBias?(layer: number): string;
  selectBias?(layer: number): string;
  expert(layer: number, expert: number, role: Role): string;
  /**
   * The stacked layout (transformers 5): gate and up fused `[E, 2I, H]` (gate rows first), down
   * `[E, H, I]`. gpt-oss (`interleaved`): `[E, H, 2I]` and `[E, I, H]`, already `[in, out]`,
   * gate and up in alternating columns, with per-expert biases `[E, 2I]` (interleaved the same
   * way) and `[E, H]`. Such a family has no per-expert layout (`only`).
   */
  stacked?: { gateUp(layer: number): string; down(layer: number): string; interleaved?: boolean; only?: boolean; bias?: { gateUp(layer: number): string; down(layer: number): string } };
  shared?(layer: number, role: Role): string;
  sharedGate?(layer: number): string;
}

/**
 * How one moec tensor is made from checkpoint tensors: optionally a block of rows of each
 * (half of a fused gate_up), transposed from `[out, in]` to moec's `[in, out]`, and per-expert
 * tensors stacked on a new first axis.
 */
export interface Source {
  tensors: string[];
  /** The shape every source tensor must have, from the config. */
  shape: number[];
  stack: boolean;
  transpose: boolean;
  /** Rows [start, start + count) of the second to last axis (PyTorch's `out`). */
  rows?: { start: number; count: number };
  /** Columns start, start + step, ... (count of them) of the last axis (gpt-oss's interleaved gate and up). */
  columns?: { start: number; step: number; count: number };
}

/** The shape of the moec tensor a source makes. */
export function sourceShape(s: Source): number[] {
  const shape = [...s.shape];
  if (s.rows) shape[shape.length - 2] = s.rows.count;
  if (s.columns) shape[shape.length - 1] = s.columns.count;
  if (s.transpose) shape.push(...shape.splice(shape.length - 2, 2).reverse());
  return s.stack ? [s.tensors.length, ...shape] : shape;
}

/** Every moec weight of the stack (docs/weights.md names), with where it comes from. */
export function stackSources(s: MoeStack, layout: HfLayout, stackedExperts: boolean, site: Sites = SITE): Map<string, Source> {
  const out = new Map<string, Source>();
  const roles: Role[] = s.kind === 'swiglu' || s.kind === 'geglu' || s.kind === 'geglu_tanh' ? ['gate', 'up', 'down'] : ['up', 'down'];
  const H = s.hidden;
  const vector = (name: string, n: number): Source => ({ tensors: [name], shape: [n], stack: false, transpose: false });
  const matrix = (names: string[], role: Role, ffn: number, stack: boolean): Source => ({ tensors: names, shape: role === 'down' ? [H, ffn] : [ffn, H], stack, transpose: true });
  const ffn = (prefix: string, names: (role: Role) => string[], size: number, stack: boolean) => {
    for (const role of roles) out.set(`${prefix}.w_${role}`, matrix(names(role), role, size, stack));
  };
  s.layers.forEach((kind, i) => {
    const at = `layers.${i}`;
    if (kind === 'parallel') {
      // The body is `dense(rmsnorm(x)) + moe(rmsnorm(x))`: the first norm site is the dense FFN's.
      out.set(`${at}.rmsnorm.weight`, vector(layout.denseNorm!(i), H));
      out.set(`${at}.rmsnorm@1.weight`, vector(layout.norm(i), H));
    } else out.set(`${at}.rmsnorm.weight`, vector(layout.norm(i), H));
    if (kind !== 'moe') ffn(`${at}.${site.dense}`, (role) => [layout.dense(i, role)], s.denseFfn!, false);
    if (kind === 'dense') return;
    const m = s.moe!;
    const block = `${at}.${site.block}`;
    out.set(`${block}.${site.gate}.weight`, { tensors: [layout.router(i)], shape: [m.experts, H], stack: false, transpose: true });
    if (m.gateBias) out.set(`${block}.${site.gate}.bias`, vector(layout.routerBias!(i), m.experts));
    if (m.selectBias) out.set(`${block}.${site.gate}.select_bias`, vector(layout.selectBias!(i), m.experts));
    const experts = `${block}.experts.${site.routed}`;
    if ((stackedExperts || layout.stacked?.only) && layout.stacked?.interleaved) {
      const { gateUp, down, bias } = layout.stacked;
      const half = (role: Role) => ({ start: role === 'gate' ? 0 : 1, step: 2, count: m.ffn });
      for (const role of roles) {
        const fused = role !== 'down';
        out.set(`${experts}.w_${role}`, { tensors: [fused ? gateUp(i) : down(i)], shape: fused ? [m.experts, H, 2 * m.ffn] : [m.experts, m.ffn, H], stack: false, transpose: false, ...(fused ? { columns: half(role) } : {}) });
        if (bias) out.set(`${experts}.b_${role}`, { tensors: [fused ? bias.gateUp(i) : bias.down(i)], shape: [m.experts, fused ? 2 * m.ffn : H], stack: false, transpose: false, ...(fused ? { columns: half(role) } : {}) });
      }
    } else if (stackedExperts && layout.stacked) {
      const { gateUp, down } = layout.stacked;
      for (const role of roles) {
        const fused = role !== 'down';
        out.set(`${experts}.w_${role}`, {
          tensors: [fused ? gateUp(i) : down(i)],
          shape: fused ? [m.experts, 2 * m.ffn, H] : [m.experts, H, m.ffn],
          stack: false,
          transpose: true,
          ...(fused ? { rows: { start: role === 'gate' ? 0 : m.ffn, count: m.ffn } } : {}),
        });
      }
    } else ffn(experts, (role) => Array.from({ length: m.experts }, (_, e) => layout.expert(i, e, role)), m.ffn, true);
    if (m.shared) {
      ffn(`${block}.shared.${site.shared}`, (role) => [layout.shared!(i, role)], m.shared.ffn, true);
      if (m.shared.gate) out.set(`${block}.shared_gate.weight`, { tensors: [layout.sharedGate!(i)], shape: [1, H], stack: false, transpose: true });
    }
  });
  return out;
}
