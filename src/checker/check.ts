import { DiagnosticBag, sortDiagnostics, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { SourceFile } from '../diagnostics/source.js';
import type { BlockItem, DeclItem, Item, LayersItem, Model, SectionItem, SettingItem } from '../parser/ast.js';
import { parseSource, type ParseResult } from '../parser/parse.js';
import { COMPUTE_DTYPES } from '../language/signatures.js';
import { itemKeyword } from '../parser/walk.js';
import { expertWeights } from '../ir/weights.js';
import { blockExpert, expertParameters } from '../model/experts.js';
import { dtypeOf } from './args.js';
import { resolveBlock, routerOf, type BlockInfo } from './blocks.js';
import type { CheckContext } from './context.js';
import { ConstantEvaluator } from './evaluate.js';
import { DTYPE_BYTES } from '../ir/types.js';
import { resolveExpert } from './experts.js';
import { resolveLayers, type BlockWidths, type StreamWidth } from './layers.js';
import type { Block, ComputeDType, LayerExpr, ResolvedModel, StorageDType } from '../model/model.js';
import { checkModelSize } from './limits.js';
import { resolveOffload } from './offload.js';
import { didYouMean, Scope, type Symbol } from './scope.js';

export interface CheckOptions {
  /** `--set NAME=VALUE`: replaces the value of a dim or constant before evaluation. */
  overrides?: Readonly<Record<string, number>>;
}

export interface CheckResult {
  parse: ParseResult;
  /** One per model that resolved without errors. */
  models: ResolvedModel[];
  diagnostics: Diagnostic[];
}

/** Scan, parse and check one file. */
export function checkSource(file: SourceFile, options: CheckOptions = {}): CheckResult {
  const diags = new DiagnosticBag();
  const parse = parseSource(file, diags);
  const syntaxOk = !diags.hasErrors;
  const models: ResolvedModel[] = [];
  if (parse.ast.models.length === 0 && syntaxOk) {
    diags.report('E0105', { start: 0, end: Math.min(file.text.length, 1) }, "the file declares no model; add 'model NAME { ... }'");
  }
  const names = new Map<string, Model>();
  for (const model of parse.ast.models) {
    const first = names.get(model.name.text);
    if (first) diags.report('E0202', model.name.span, `a model named '${model.name.text}' is already declared in this file; rename one of them`, [{ span: first.name.span, message: 'the first one is here' }]);
    else names.set(model.name.text, model);
  }
  reportUnknownOverrides(parse.ast.models, options.overrides ?? {}, diags);
  for (const model of parse.ast.models) {
    const resolved = checkModel(model, diags, options, syntaxOk);
    if (resolved) models.push(resolved);
  }
  const diagnostics = sortDiagnostics(diags.items);
  return { parse, models: diagnostics.some((d) => d.severity === 'error') ? [] : models, diagnostics };
}

const modelItems = new Set(['dims', 'const', 'dtype', 'weights', 'expert', 'router', 'block', 'layers', 'offload']);
const singletons = new Set(['dtype', 'weights', 'offload']);

function checkModel(model: Model, diags: DiagnosticBag, options: CheckOptions, syntaxOk: boolean): ResolvedModel | undefined {
  const scope = new Scope(diags);
  const evaluator = new ConstantEvaluator(diags, scope);
  const ctx: CheckContext = { diags, evaluator, scope, experts: new Map(), routers: new Map() };
  const errorsBefore = diags.errorCount;

  // Pass 1: declare every name, so uses may precede declarations.
  const seen = new Map<string, Item>();
  for (const item of model.items) {
    const word = itemKeyword(item);
    if (!modelItems.has(word)) {
      diags.report('E0207', item.keywordSpan, `'${word}' belongs inside a block, not directly in model '${model.name.text}'`);
      continue;
    }
    if (singletons.has(word) && seen.has(word)) {
      diags.report('E0206', item.keywordSpan, `model '${model.name.text}' already has a '${word}'; keep one`, [{ span: seen.get(word)!.keywordSpan, message: 'the first one is here' }]);
      continue;
    }
    declareItem(scope, item);
    // A setting the parser had to repair has no trustworthy value: its error is already reported.
    if (!(item.kind === 'Setting' && item.broken)) seen.set(word, item);
  }
  applyOverrides(scope, options.overrides ?? {});

  // Pass 2: evaluate and resolve.
  for (const sym of scope.own()) if (sym.kind === 'dim' || sym.kind === 'const') evaluator.valueOf(sym);
  const dtype = computeDtype(ctx, seen.get('dtype') as SettingItem | undefined);
  const weightsItem = seen.get('weights') as SettingItem | undefined;
  const weightDtype = weightsItem ? dtypeOf(diags, weightsItem.value) : dtype;
  for (const sym of scope.own()) {
    if (sym.kind === 'expert') resolveExpert(ctx, sym);
    if (sym.kind === 'router') {
      const decl = sym.decl as DeclItem;
      if (!decl.value && !decl.broken) {
        diags.report('E0309', decl.name.span, `router '${sym.name}' needs a pipeline, such as 'router ${sym.name} = linear(hidden -> 8) | softmax | topk(2)'`);
      } else routerOf(ctx, decl);
    }
  }
  const blockInfos = new Map<string, BlockInfo>();
  for (const item of model.items) {
    if (item.kind !== 'Block') continue;
    const info = resolveBlock(ctx, item as BlockItem);
    if (info) blockInfos.set(item.name.text, info);
  }
  const widths: BlockWidths = new Map([...blockInfos].map(([n, b]) => [n, b.block.width]));
  const stream: StreamWidth = {};
  const layers = resolveLayers(ctx, model.items.filter((i): i is LayersItem => i.kind === 'Layers'), widths, stream, model.name.span, syntaxOk);
  const width = stream.width ?? [...blockInfos.values()].find((b) => b.block.width !== undefined)?.block.width ?? 0;

  const offloadItem = seen.get('offload') as SectionItem | undefined;
  const offload = offloadItem ? resolveOffload(ctx, offloadItem) : undefined;
  const blocks: Record<string, Block> = {};
  for (const [name, info] of blockInfos) {
    const blockOffload = info.offloadSection ? resolveOffload({ ...ctx, scope: info.scope }, info.offloadSection, 'block') : undefined;
    const w = info.block.width ?? width;
    const heads = info.block.topology.kind === 'multihead' ? info.block.topology.heads : 1;
    if (!info.block.expertWidth && w % heads !== 0) {
      diags.report('E0312', info.topologySpan, `multihead(heads = ${heads}) splits each token into ${heads} sub-tokens, so it must divide the width ${w}`);
    }
    blocks[name] = {
      ...info.block,
      width: w,
      expertWidth: info.block.expertWidth || w / heads,
      ...(blockOffload ? { offload: blockOffload } : {}),
    };
  }

  const errors = diags.errorCount;
  // Unused-declaration warnings only for an otherwise clean model: with errors they are mostly echoes.
  if (syntaxOk && errors === errorsBefore) reportUnused(diags, scope, blockInfos);
  if (errors > errorsBefore || !dtype || !weightDtype) return undefined;

  const resolved: ResolvedModel = {
    name: model.name.text,
    dims: values(scope, evaluator, 'dim'),
    consts: values(scope, evaluator, 'const'),
    dtype,
    weightDtype,
    width,
    experts: Object.fromEntries([...ctx.experts].filter(([s, e]) => e && !s.owner).map(([s, e]) => [s.name, e!])),
    blocks,
    layers,
    ...(offload ? { offload } : {}),
    at: model.name.span,
  };
  for (const [sym, e] of ctx.experts) if (sym.owner && e) resolved.experts[`${sym.owner}.${sym.name}`] = e;
  checkBudgets(diags, resolved, offloadItem);
  checkInt4Widths(diags, resolved, ctx);
  checkModelSize(diags, resolved);
  return diags.errorCount > errors ? undefined : resolved;
}

function declareItem(scope: Scope, item: Item): void {
  if (item.kind === 'Section' && item.keyword !== 'offload') {
    const kind = item.keyword === 'dims' ? 'dim' : 'const';
    for (const b of item.entries) scope.declare({ kind, name: b.name.text, span: b.name.span, decl: b, used: false, value: b.value });
  } else if (item.kind === 'Decl') {
    scope.declare({ kind: item.keyword, name: item.name.text, span: item.name.span, decl: item, used: false });
  } else if (item.kind === 'Block') {
    scope.declare({ kind: 'block', name: item.name.text, span: item.name.span, decl: { kind: 'BlockRef', name: item.name.text }, used: false });
  }
}

/** Overrides apply to every model that declares the name; one that no model declares is E0205. */
function applyOverrides(scope: Scope, overrides: Readonly<Record<string, number>>): void {
  for (const [name, value] of Object.entries(overrides)) {
    const sym = scope.lookup(name);
    if (sym?.kind !== 'dim' && sym?.kind !== 'const') continue;
    const span = sym.value?.span ?? sym.span;
    sym.value = { kind: 'Number', value, raw: `--set ${name}=${value}`, span };
  }
}

function reportUnknownOverrides(models: Model[], overrides: Readonly<Record<string, number>>, diags: DiagnosticBag): void {
  const declared = models.flatMap((m) => m.items.flatMap((i) => (i.kind === 'Section' && i.keyword !== 'offload' ? i.entries.map((b) => b.name.text) : [])));
  for (const name of Object.keys(overrides)) {
    if (declared.includes(name) || !models.length) continue;
    diags.report('E0205', models[0]!.name.span, `--set ${name}: no model declares a dim or constant '${name}'${didYouMean(name, declared)}`);
  }
}

function computeDtype(ctx: CheckContext, item: SettingItem | undefined): ComputeDType | undefined {
  if (!item) return 'f32';
  const dtype = dtypeOf(ctx.diags, item.value);
  if (dtype && !(COMPUTE_DTYPES as readonly string[]).includes(dtype)) {
    ctx.diags.report('E0306', item.value.span, `${dtype} is a storage format, not a compute dtype; write 'dtype bf16' and 'weights ${dtype}'`);
    return undefined;
  }
  return dtype as ComputeDType | undefined;
}

function values(scope: Scope, evaluator: ConstantEvaluator, kind: 'dim' | 'const'): Record<string, number> {
  return Object.fromEntries(scope.own().filter((s) => s.kind === kind).map((s) => [s.name, evaluator.valueOf(s)!]));
}

function reportUnused(diags: DiagnosticBag, scope: Scope, blocks: Map<string, BlockInfo>): void {
  const all: Symbol[] = [...scope.own(), ...[...blocks.values()].flatMap((b) => b.scope.own())];
  for (const sym of all) {
    if (sym.used) continue;
    const where = sym.owner ? ` in block '${sym.owner}'` : '';
    diags.report('W0001', sym.span, `${sym.kind} '${sym.name}'${where} is declared but never used`);
  }
}

/** E0405: int4 storage packs pairs along each matrix's output dim, which must be even. */
function checkInt4Widths(diags: DiagnosticBag, model: ResolvedModel, ctx: CheckContext): void {
  const storedAs = (expert: string, block?: Block): StorageDType => (block?.offload ?? model.offload)?.precision[expert] ?? model.weightDtype;
  const int4 = new Set<string>();
  for (const b of Object.values(model.blocks)) for (const s of [...b.experts, ...b.shared.slots]) if (storedAs(s.expert, b) === 'int4') int4.add(s.expert);
  if (model.weightDtype === 'int4' || model.offload) for (const name of Object.keys(model.experts)) if (storedAs(name) === 'int4') int4.add(name);
  for (const [sym, expert] of ctx.experts) {
    if (!expert || !int4.has(sym.name)) continue;
    const odd = expertWeights(expert).find((w) => (w.shape[w.shape.length - 1] as number) % 2 === 1);
    if (odd) diags.report('E0405', sym.span, `expert '${sym.name}' is stored as int4, but its ${odd.name} matrix is ${odd.shape.join(' x ')}: int4 packs pairs along the last dim, which must be even`);
  }
}

/**
 * E0802: resident experts alone must fit the model's budget, counting each instance in every
 * layer, with each block's own resident list and precision where it declares an offload policy.
 */
function checkBudgets(diags: DiagnosticBag, model: ResolvedModel, modelSection: SectionItem | undefined): void {
  const budget = model.offload?.budgetBytes;
  if (!budget || !modelSection) return;
  const uses = blockUses(model);
  let bytes = 0;
  for (const block of Object.values(model.blocks)) {
    const policy = block.offload ?? model.offload!;
    for (const slot of [...block.experts, ...block.shared.slots]) {
      if (!policy.resident.includes(slot.expert)) continue;
      const dtype: StorageDType = policy.precision[slot.expert] ?? model.weightDtype;
      bytes += expertParameters(blockExpert(model, block, slot.expert)!) * DTYPE_BYTES[dtype] * slot.count * (uses.get(block.name) ?? 0);
    }
  }
  if (bytes > budget) {
    diags.report('E0802', modelSection.keywordSpan, `resident experts need ${formatBytes(bytes)}, more than the ${formatBytes(budget)} budget; raise the budget or keep fewer experts resident`);
  }
}

/** How many times each block is applied over all layers. */
export function blockUses(model: ResolvedModel): Map<string, number> {
  const uses = new Map<string, number>();
  const visit = (e: LayerExpr): void => {
    if (e.op === 'block') uses.set(e.block, (uses.get(e.block) ?? 0) + 1);
    if (e.op === 'add') e.args.forEach(visit);
    else if (e.op !== 'var') visit(e.arg);
  };
  for (const layer of model.layers) for (const st of layer.statements) visit(st.value);
  return uses;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) {
    bytes /= 1024;
    i++;
  }
  return `${Number(bytes.toFixed(2))} ${units[i]}`;
}
