/**
 * Per-dispatch GPU times from a profiled run, and their summary per kernel for
 * `moec run --profile` (a text table, or JSON-able data for `--format json`).
 */

/**
 * How the times were taken. 'timestamp-query': GPU timestamps around a compute pass per dispatch
 * (the GPU's own clock). 'submit': one submit per dispatch timed on the host until the queue
 * reports the work done, so each time includes the submit round trip (`submitOverheadNs`).
 */
export type TimingMethod = 'timestamp-query' | 'submit';

export interface DispatchTiming {
  /** The dispatch's position in the program's dispatch list. */
  index: number;
  kernel: string;
  /** The IR node the dispatch computes (part of). */
  node: number;
  ns: number;
}

/** One profiled run: a time for every dispatch that ran (dispatches with an empty grid are skipped). */
export interface DispatchTimings {
  method: TimingMethod;
  tokens: number;
  dispatches: DispatchTiming[];
  /** 'submit' only: the median time of an empty submit on this device, included in every time. */
  submitOverheadNs?: number;
}

export interface KernelProfile {
  kernel: string;
  /** Dispatches per run. */
  dispatches: number;
  /** Time per run over all its dispatches, and per dispatch. */
  totalNs: number;
  meanNs: number;
  /** Fraction of the run's total. */
  share: number;
}

export interface ProfileSummary {
  method: TimingMethod;
  tokens: number;
  /** Runs averaged. */
  runs: number;
  /** Slowest first (ties by name). */
  kernels: KernelProfile[];
  /** Per run: dispatches and their summed time. */
  dispatches: number;
  totalNs: number;
  submitOverheadNs?: number;
}

/** Aggregate one run, or several runs of the same program and token count (times averaged over runs). */
export function summarizeProfile(runs: DispatchTimings | readonly DispatchTimings[]): ProfileSummary {
  const list = Array.isArray(runs) ? (runs as readonly DispatchTimings[]) : [runs as DispatchTimings];
  const first = list[0];
  if (!first) throw new Error('internal: summarizeProfile of no runs');
  for (const r of list) {
    if (r.method !== first.method || r.tokens !== first.tokens || r.dispatches.length !== first.dispatches.length) {
      throw new Error('internal: summarizeProfile of runs with different methods, token counts or dispatch lists');
    }
  }
  const byKernel = new Map<string, { dispatches: number; ns: number }>();
  for (const r of list) {
    for (const d of r.dispatches) {
      const k = byKernel.get(d.kernel) ?? { dispatches: 0, ns: 0 };
      k.dispatches++;
      k.ns += d.ns;
      byKernel.set(d.kernel, k);
    }
  }
  const n = list.length;
  const totalNs = [...byKernel.values()].reduce((s, k) => s + k.ns, 0) / n;
  const kernels = [...byKernel].map(([kernel, k]) => ({
    kernel,
    dispatches: k.dispatches / n,
    totalNs: k.ns / n,
    meanNs: k.ns / k.dispatches,
    share: totalNs > 0 ? k.ns / n / totalNs : 0,
  }));
  kernels.sort((a, b) => b.totalNs - a.totalNs || (a.kernel < b.kernel ? -1 : a.kernel > b.kernel ? 1 : 0));
  const overheads = list.map((r) => r.submitOverheadNs).filter((v): v is number => v !== undefined);
  return {
    method: first.method,
    tokens: first.tokens,
    runs: n,
    kernels,
    dispatches: first.dispatches.length,
    totalNs,
    ...(overheads.length ? { submitOverheadNs: overheads.reduce((a, b) => a + b, 0) / overheads.length } : {}),
  };
}

const ms = (ns: number) => (ns / 1e6).toFixed(3);
const us = (ns: number) => (ns / 1e3).toFixed(1);
const pct = (f: number) => `${(f * 100).toFixed(1)}%`;

/** The summary as a text table: one row per kernel, then the totals and how the times were taken. */
export function formatProfile(s: ProfileSummary): string {
  const rows = [
    ['kernel', 'dispatches', 'total ms', 'mean us', 'share'],
    ...s.kernels.map((k) => [k.kernel, String(k.dispatches), ms(k.totalNs), us(k.meanNs), pct(k.share)]),
    ['total', String(s.dispatches), ms(s.totalNs), s.dispatches ? us(s.totalNs / s.dispatches) : '-', pct(s.totalNs > 0 ? 1 : 0)],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [line(rows[0]!), rule, ...rows.slice(1, -1).map(line), rule, line(rows[rows.length - 1]!)];
  const how =
    s.method === 'timestamp-query'
      ? 'times: GPU timestamp queries, one compute pass per dispatch'
      : `times: one submit per dispatch, timed on the host; each includes the submit round trip (${us(s.submitOverheadNs ?? 0)} us on an empty submit)`;
  out.push(`${how}; ${s.tokens} token${s.tokens === 1 ? '' : 's'}${s.runs > 1 ? `, mean of ${s.runs} runs` : ''}`);
  return out.join('\n') + '\n';
}
