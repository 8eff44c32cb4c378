import { checkSource } from '../../checker/check.js';
import { SourceFile } from '../../diagnostics/source.js';
import { buildGraph } from '../../ir/from-model.js';
import type { ResolvedModel } from '../../model/model.js';
import { paramShape, storedDtype } from '../../runtime/init-weights.js';
import { Checkpoint } from '../checkpoint.js';
import type { PendingTensor } from '../safetensors-stream.js';
import { ConfigReader, InteropError } from './config.js';
import { modelToStack } from './from-model.js';
import { bytesOf, elementArray, elementsOf, FAMILIES } from './import.js';
import { STORED_BYTES } from '../../runtime/safetensors.js';
import { stackToMoe } from './moe-text.js';
import type { MoeStack } from './stack.js';
import { CONFIG_WRITERS } from './to-config.js';
import type { FamilyImport } from './family.js';
import type { Sites } from './stack.js';

type Elements = ReturnType<typeof elementsOf>;
import { sourceShape, stackSources, type HfLayout, type Source } from './weights.js';

export interface HfExport {
  family: string;
  config: Record<string, unknown>;
  /** The checkpoint's tensors in the family's names, each made from moec's weights when written. */
  tensors: PendingTensor[];
  weights: Checkpoint;
}

/**
 * Plan the export of a moec model as a Hugging Face checkpoint: the first family (or `family`)
 * whose config expresses the model exactly. "Exactly" is checked, not assumed: the proposed
 * config is read back by the family's importer and must give the same stack and the same
 * router stages, so export and import cannot drift apart.
 */
export function planHfExport(model: ResolvedModel, weightsPath: string, opts: { family?: string; base?: Record<string, unknown>; stack?: 'encoder' | 'decoder' }): HfExport {
  const { stack, stages, sites } = modelToStack(model);
  const wanted = opts.family ? [opts.family] : Object.keys(CONFIG_WRITERS);
  const reasons: string[] = [];
  for (const name of wanted) {
    const writer = CONFIG_WRITERS[name];
    if (!writer) throw new InteropError(`--family ${name}: moec exports ${Object.keys(CONFIG_WRITERS).join(', ')}`);
    const which = opts.stack ?? 'encoder';
    const proposed = writer(stack, stages, which);
    if (!proposed) {
      reasons.push(`${name}: its config cannot express this router (${describe(stages)}) or layer pattern`);
      continue;
    }
    const config = { ...(opts.base ?? {}), ...proposed };
    const layout = readsBack(config, name, stack, stages, which);
    if (typeof layout === 'string') {
      reasons.push(`${name}: ${layout}`);
      continue;
    }
    return { family: name, config, ...tensorsOf(model, stack, sites, weightsPath, layout) };
  }
  throw new InteropError(`model ${model.name} has no exact Hugging Face equivalent:\n  ${reasons.join('\n  ')}`);
}

function describe(stages: ReturnType<typeof modelToStack>['stages']): string {
  return ['linear', ...stages.map((s) => s.op)].join(' | ');
}

/** The family's layout when the config reads back as this model, else why not. */
function readsBack(config: Record<string, unknown>, family: string, stack: MoeStack, stages: unknown[], which: 'encoder' | 'decoder'): HfLayout | string {
  const fam = FAMILIES.find((f) => f.modelTypes.includes(family))!;
  let back: FamilyImport;
  try {
    back = fam.read(new ConfigReader(config as never, 'config.json'), { semantics: 'hf', stack: which, name: stack.name });
  } catch (e) {
    return (e as Error).message;
  }
  const shape = (s: MoeStack) => canonical({ ...s, notes: [], moe: s.moe && { ...s.moe, stages: '' } });
  if (shape(back.stack) !== shape(stack)) return `its config reads back as another stack (${diff(back.stack, stack)} differ)`;
  const model = checkSource(new SourceFile('<export>', stackToMoe(back.stack)), { overrides: {} }).models[0];
  const backStages = model && Object.values(model.blocks)[0]?.routers[0]?.stages.slice(1);
  if (JSON.stringify(backStages ?? []) !== JSON.stringify(stages)) return `its router reads back as ${JSON.stringify(backStages)}`;
  return back.layout;
}

/** JSON with sorted keys and no undefined fields: equal for equal data, whatever the construction order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).filter(([, y]) => y !== undefined).sort(([a], [b]) => (a < b ? -1 : 1))) : x));
}

/** Which fields of two stacks differ, for the message. */
function diff(a: MoeStack, b: MoeStack): string {
  const flat = (s: MoeStack) => ({ ...s, notes: [], ...Object.fromEntries(Object.entries(s.moe ?? {}).map(([k, v]) => [`moe.${k}`, v])), moe: undefined, 'moe.stages': undefined });
  const [x, y] = [flat(a) as Record<string, unknown>, flat(b) as Record<string, unknown>];
  return [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => canonical(x[k]) !== canonical(y[k])).map((k) => `${k}: ${canonical(x[k])} vs ${canonical(y[k])}`).join(', ');
}

/** The checkpoint tensors, each cut from moec's weights (read lazily, a few tensors cached) when written. */
function tensorsOf(model: ResolvedModel, stack: MoeStack, sites: Sites, weightsPath: string, layout: HfLayout): { tensors: PendingTensor[]; weights: Checkpoint } {
  const graph = buildGraph(model);
  const sources = stackSources(stack, layout, false, sites);
  const weights = Checkpoint.open(weightsPath);
  const cache = new Map<string, Elements>();
  // Stored elements as they are: the export converts nothing, so its bytes are moec's bytes.
  const read = (name: string): Elements => {
    let data = cache.get(name);
    if (!data) {
      data = elementsOf(weights.readRaw(name), STORED_BYTES[weights.entry(name).dtype]);
      if (cache.size >= 4) cache.delete(cache.keys().next().value!);
      cache.set(name, data);
    }
    return data;
  };
  // A checkpoint tensor may be cut from several moec tensors (gpt-oss's gate_up_proj holds w_gate and w_up).
  const parts = new Map<string, { source: Source; param: string; j: number }[]>();
  for (const p of graph.params) {
    const source = sources.get(p.name);
    const shape = paramShape(p);
    if (!source || sourceShape(source).join() !== shape.join()) throw new Error(`internal: moec weight ${p.name} [${shape}] has no checkpoint tensor`);
    if (!weights.has(p.name)) throw new InteropError(`${weightsPath}: no tensor '${p.name}' (moec inspect --json lists what the model needs)`);
    const e = weights.entry(p.name);
    if (e.shape.join() !== shape.join() || e.dtype !== storedDtype(p)) throw new InteropError(`${weightsPath}: tensor '${p.name}' is ${e.dtype} [${e.shape.join(', ')}], expected ${storedDtype(p)} [${shape.join(', ')}]`);
    source.tensors.forEach((name, j) => parts.set(name, [...(parts.get(name) ?? []), { source, param: p.name, j }]));
  }
  const tensors = [...parts].map(([name, list]): PendingTensor => {
    const { shape } = list[0]!.source;
    const as = weights.entry(list[0]!.param).dtype;
    if (list.some((l) => weights.entry(l.param).dtype !== as)) throw new InteropError(`${weightsPath}: the moec tensors that make '${name}' (${list.map((l) => l.param).join(', ')}) have different dtypes`);
    const make = () => {
      const out = elementArray(STORED_BYTES[as])(shape.reduce((a, b) => a * b, 1));
      for (const l of list) scatter(l.source, read(l.param), l.j, out);
      return { raw: bytesOf(out) };
    };
    return { name, shape, as, make };
  });
  return { tensors, weights };
}

/** Writes moec tensor data's share of checkpoint tensor j into `out` (shaped `s.shape`): the inverse of import's assemble. */
export function scatter<T extends Elements>(s: Source, data: T, j: number, out: T): void {
  const per = data.length / (s.stack ? s.tensors.length : 1);
  const piece = s.stack ? data.subarray(j * per, (j + 1) * per) : data;
  if (s.shape.length < 2) {
    out.set(piece);
    return;
  }
  const [a, b] = [s.shape[s.shape.length - 2]!, s.shape[s.shape.length - 1]!];
  const { start, count } = s.rows ?? { start: 0, count: a };
  const cols = s.columns ?? { start: 0, step: 1, count: b };
  let at = 0;
  for (let l = 0; l < out.length / (a * b); l++) {
    for (let i = 0; i < count; i++) {
      const row = l * a * b + (start + i) * b + cols.start;
      for (let c = 0; c < cols.count; c++) out[row + c * cols.step] = piece[at + (s.transpose ? c * count + i : i * cols.count + c)]!;
    }
    at += count * cols.count;
  }
}
