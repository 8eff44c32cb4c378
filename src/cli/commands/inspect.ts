import { Command } from 'commander';
import type { ResolvedModel } from '../../model/model.js';
import { buildGraph } from '../../ir/from-model.js';
import type { Graph } from '../../ir/graph.js';
import { formatRange, modelStats, type Range } from '../../checker/stats.js';
import { paramShape } from '../../runtime/init-weights.js';
import { loadModel } from '../load.js';
import { modelOptions, type ModelOptions } from '../options.js';

/** What `moec inspect --json` prints: the resolved sizes, a summary and the weight manifest. */
export interface InspectJson {
  model: string;
  width: number;
  dtype: string;
  weightDtype: string;
  dims: Record<string, number>;
  consts: Record<string, number>;
  layers: number;
  blocks: Record<string, { experts: number; shared: number; topology: string; routers: string[] }>;
  /** Parameters of the compiled part (FFNs, MoE blocks, norms); active per token as a range. */
  parameters: { total: number; activePerToken: Range };
  weights: { name: string; shape: number[]; dtype: string }[];
}

export function inspectJson(model: ResolvedModel, graph: Graph): InspectJson {
  return {
    model: model.name,
    width: model.width,
    dtype: model.dtype,
    weightDtype: model.weightDtype,
    dims: model.dims,
    consts: model.consts,
    layers: model.layers.length,
    blocks: Object.fromEntries(
      Object.values(model.blocks).map((b) => [
        b.name,
        { experts: b.expertCount, shared: b.shared.slots.reduce((n, s) => n + s.count, 0), topology: b.topology.kind, routers: b.routers.map((r) => r.name) },
      ]),
    ),
    parameters: (({ total, active }) => ({ total, activePerToken: active }))(modelStats(model)),
    weights: graph.params.map((p) => ({ name: p.name, shape: paramShape(p), dtype: p.type.dtype })),
  };
}

export function inspectCommand(): Command {
  const cmd = new Command('inspect')
    .description('print a model summary, or with --json its resolved dims and weight manifest')
    .argument('<file>', 'the .moe file')
    .option('--json', 'print JSON: dims, consts, blocks, parameter counts and every weight (name, shape, dtype)');
  for (const o of modelOptions()) cmd.addOption(o);
  return cmd.action((file: string, opts: ModelOptions & { json?: boolean }) => {
    const model = loadModel(file, opts.set, opts.model);
    const info = inspectJson(model, buildGraph(model));
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      return;
    }
    const fmt = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : String(n));
    const lines = [
      `model ${info.model}: width ${info.width}, ${info.layers} layers, dtype ${info.dtype}, weights ${info.weightDtype}`,
      `parameters: ${fmt(info.parameters.total)} total, ${formatRange(info.parameters.activePerToken, fmt)} active per token`,
      ...Object.entries(info.blocks).map(([n, b]) => `block ${n}: ${b.experts} routed + ${b.shared} shared experts, ${b.topology}, routers ${b.routers.join(', ')}`),
      `${info.weights.length} weight tensors (moec inspect --json lists them)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}
