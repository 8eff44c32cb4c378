import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Span } from '../diagnostics/source.js';
import type { LayerExpr, ResolvedModel } from '../model/model.js';
import { modelStats } from './stats.js';

/**
 * The sizes moec accepts (docs/language.md, "Limits"). Every number a file computes stays
 * within 2^53 - 1, so integer arithmetic on doubles is exact; sizes stay far below that, so
 * that element and byte counts of tensors and of whole models are exact too and every
 * allocation they lead to is one a real machine could make.
 */
export const LIMITS = {
  /** Every literal, constant and intermediate result: the largest integer a double holds exactly. */
  number: Number.MAX_SAFE_INTEGER,
  /** Every dim and integer size: widths, expert counts, k, groups, heads, ranks, iterations. */
  size: 2 ** 24,
  /**
   * Elements of one weight tensor: a matrix of two sizes is within it by construction; the
   * experts of one `experts` entry, stacked into one tensor, are checked (E0316).
   */
  tensorElements: 2 ** 48,
  /** Weight elements of a whole model over all its layers (E0317); 4 bytes each stay below 2^53. */
  modelParameters: 2 ** 50,
  /**
   * Steps the graph unrolls over all layers (E0317): each application of a block counts its
   * chain iterations (1 without a chain) and its shared expert instances, each dense expert or
   * norm call 1. The graph, and every later phase, grows with this count.
   */
  unrolledSteps: 2 ** 16,
} as const;

/** 16777216 -> "16,777,216 (2^24)". */
export function formatLimit(n: number): string {
  const power = Math.log2(n + 1) % 1 === 0 ? ` (2^${Math.log2(n + 1)} - 1)` : Math.log2(n) % 1 === 0 ? ` (2^${Math.log2(n)})` : '';
  return `${n.toLocaleString('en-US')}${power}`;
}

/** E0314: a number past 2^53 - 1 (or not finite) cannot be held exactly. */
export function checkExact(diags: DiagnosticBag, v: number, span: Span, what: string): boolean {
  if (Number.isFinite(v) && Math.abs(v) <= LIMITS.number) return true;
  diags.report('E0314', span, `${what} exceeds ${formatLimit(LIMITS.number)}, beyond which numbers are not exact`);
  return false;
}

/** E0315: a size past LIMITS.size. */
export function checkSize(diags: DiagnosticBag, v: number, span: Span, what: string): boolean {
  if (v <= LIMITS.size) return true;
  diags.report('E0315', span, `${what} is ${v.toLocaleString('en-US')}, over the limit of ${formatLimit(LIMITS.size)} for a size`);
  return false;
}

/** E0316: `count` stacked copies of a weight of `shape` must fit in one tensor. */
export function checkTensor(diags: DiagnosticBag, span: Span, what: string, shape: readonly number[], count = 1): boolean {
  const elements = shape.reduce((a, d) => a * d, count);
  if (elements <= LIMITS.tensorElements) return true;
  const dims = count === 1 ? shape : [count, ...shape];
  diags.report('E0316', span, `${what} would be a tensor of ${dims.join(' x ')} = ${elements.toExponential(2)} elements, over the limit of ${formatLimit(LIMITS.tensorElements)}`);
  return false;
}

/** E0317: the model's parameters over all layers (as `moec inspect` counts them) and its unrolled steps. */
export function checkModelSize(diags: DiagnosticBag, model: ResolvedModel): boolean {
  const total = modelStats(model).total;
  if (total > LIMITS.modelParameters) {
    diags.report('E0317', model.at, `model '${model.name}' has ${total.toExponential(2)} weight elements, over the limit of ${formatLimit(LIMITS.modelParameters)}`);
    return false;
  }
  const steps = unrolledSteps(model);
  if (steps > LIMITS.unrolledSteps) {
    diags.report('E0317', model.at, `model '${model.name}' unrolls to ${steps.toLocaleString('en-US')} steps over its layers (chain iterations and shared experts of every block application, dense expert and norm calls), over the limit of ${formatLimit(LIMITS.unrolledSteps)}`);
    return false;
  }
  return true;
}

function unrolledSteps(model: ResolvedModel): number {
  const perBlock = (name: string): number => {
    const b = model.blocks[name];
    if (!b) return 1;
    return (b.topology.kind === 'chain' ? b.topology.iterations : 1) + b.shared.slots.reduce((n, s) => n + s.count, 0);
  };
  const visit = (e: LayerExpr): number => {
    switch (e.op) {
      case 'var':
        return 0;
      case 'add':
        return e.args.reduce((n, a) => n + visit(a), 0);
      case 'block':
        return perBlock(e.block) + visit(e.arg);
      default:
        return 1 + visit(e.arg);
    }
  };
  return model.layers.reduce((n, layer) => n + layer.statements.reduce((m, st) => m + visit(st.value), 0), 0);
}
