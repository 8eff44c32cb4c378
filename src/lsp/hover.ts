import type { Block, Expert, ResolvedModel, Router, Stage } from '../model/model.js';
import { expertParameters } from '../model/experts.js';
import type { Model } from '../parser/ast.js';
import type { Analysis } from './analysis.js';
import { blockStats, formatCount, formatRange, modelStats, routerParameters } from '../checker/stats.js';
import type { Declaration } from './symbols.js';
import { wordsNamed } from './vocabulary.js';

/**
 * Markdown for the name under the cursor: a declared name shows what the checker resolved
 * (values, shapes, parameter counts); a word of the language shows its documentation.
 */
export function hoverAt(a: Analysis, offset: number): { markdown: string; span: { start: number; end: number } } | undefined {
  const model = a.result.parse.ast.models.find((m) => m.name.span.start <= offset && offset <= m.name.span.end);
  if (model) return { markdown: describeModel(a, model), span: model.name.span };
  const occurrence = a.index.at(offset);
  if (occurrence) return { markdown: describe(a, occurrence.declaration), span: occurrence.span };
  const word = wordAt(a.file.text, offset);
  if (!word) return undefined;
  const meanings = wordsNamed(word.text);
  if (meanings.length === 0) return undefined;
  const markdown = meanings.map((w) => `**${w.category}** \`${w.signature ?? w.name}\`\n\n${w.doc}`).join('\n\n---\n\n');
  return { markdown, span: word.span };
}

function wordAt(text: string, offset: number): { text: string; span: { start: number; end: number } } | undefined {
  let start = offset;
  let end = offset;
  while (start > 0 && /\w/.test(text[start - 1]!)) start--;
  while (end < text.length && /\w/.test(text[end]!)) end++;
  return start < end && /^[A-Za-z_]/.test(text[start]!) ? { text: text.slice(start, end), span: { start, end } } : undefined;
}

const code = (s: string) => `\`\`\`moe\n${s}\n\`\`\``;
const NOT_RESOLVED = '_Sizes and parameter counts appear when the file checks without errors._';

function describe(a: Analysis, d: Declaration): string {
  const where = d.block ? ` in block \`${d.block.name.text}\`` : '';
  const head = `**${d.kind}** \`${d.name}\`${where}`;
  const model = a.resolved(d.model);
  const declared = code(a.file.slice(d.kind === 'block' ? { start: d.full.start, end: d.span.end } : d.full).trim());
  const facts = model ? resolvedFacts(model, d) : [NOT_RESOLVED];
  return [head, declared, ...facts].join('\n\n');
}

function resolvedFacts(model: ResolvedModel, d: Declaration): string[] {
  switch (d.kind) {
    case 'dim':
      return [`= ${model.dims[d.name]}`];
    case 'const':
      return [`= ${model.consts[d.name]}`];
    case 'expert': {
      const e = model.experts[d.block ? `${d.block.name.text}.${d.name}` : d.name];
      return e ? expertFacts(e) : [];
    }
    case 'router': {
      const r = findRouter(model, d.name, d.block?.name.text);
      return r ? routerFacts(r) : [];
    }
    case 'block': {
      const b = model.blocks[d.name];
      return b ? blockFacts(model, b) : [];
    }
  }
}

function expertFacts(e: Expert): string[] {
  if (e.kind !== 'ffn') return [e.kind === 'null' ? 'Null expert: contributes 0, costs nothing.' : 'Identity expert: returns its input.'];
  const kind = `${e.gated ? 'gated' : 'plain'} ${e.act} FFN`;
  const extras = [e.rank ? `rank ${e.rank}` : '', e.latent ? `latent ${e.latent}` : ''].filter(Boolean).join(', ');
  return [`${kind}: ${e.input} → ${e.hidden} → ${e.output}${extras ? ` (${extras})` : ''}`, `Parameters per instance: ${formatCount(expertParameters(e))}`];
}

/** A block's router, or a model-level router as the first block using it resolved it. */
function findRouter(model: ResolvedModel, name: string, block: string | undefined): Router | undefined {
  const blocks = block ? [model.blocks[block]] : Object.values(model.blocks);
  return blocks.flatMap((b) => b?.routers ?? []).find((r) => r.name === name);
}

function stageText(s: Stage): string {
  const { op, ...args } = s;
  const list = Object.entries(args).map(([k, v]) => `${k} = ${Array.isArray(v) ? `[${v.join(', ')}]` : String(v)}`);
  return list.length ? `${op}(${list.join(', ')})` : op;
}

function routerFacts(r: Router): string[] {
  return [
    `Scores ${r.width} entries: ${code(r.stages.map(stageText).join(' | '))}`,
    `Parameters: ${formatCount(routerParameters(r))}`,
    ...(r.couplesTokens ? ['Couples the tokens of a batch (see `scope`).'] : []),
  ];
}

function blockFacts(model: ResolvedModel, b: Block): string[] {
  const s = blockStats(model, b);
  const slots = (list: Block['experts']) => list.map((x) => `${x.expert} x ${x.count}`).join(', ');
  const topology = b.topology.kind === 'standard' ? '' : `, topology ${b.topology.kind}`;
  return [
    `Width ${b.width}, experts at ${b.expertWidth}${topology}`,
    `Routed: ${slots(b.experts)} (${b.expertCount} experts), ${formatRange(s.selected, String)} selected per token`,
    ...(b.shared.slots.length ? [`Shared: ${slots(b.shared.slots)}${b.shared.gate === 'sigmoid' ? ', sigmoid gate' : ''}`] : []),
    `Parameters per instance: ${formatCount(s.total)}`,
    `Active parameters per token: ${formatRange(s.active)}`,
  ];
}

function describeModel(a: Analysis, m: Model): string {
  const model = a.resolved(m);
  const head = `**model** \`${m.name.text}\``;
  if (!model) return [head, NOT_RESOLVED].join('\n\n');
  const s = modelStats(model);
  return [
    head,
    `${model.layers.length} layers, width ${model.width}, dtype ${model.dtype}, weights ${model.weightDtype}`,
    `Parameters (FFN, MoE and norm layers): ${formatCount(s.total)}`,
    `Active parameters per token: ${formatRange(s.active)}`,
  ].join('\n\n');
}
