import { CompletionItemKind, MarkupKind, type CompletionItem } from 'vscode-languageserver/node';
import type { SymbolKind } from '../checker/scope.js';
import type { Item } from '../parser/ast.js';
import type { Analysis } from './analysis.js';
import type { Declaration } from './symbols.js';
import { VOCABULARY, type Category, type Word } from './vocabulary.js';

/** What may follow the text before the cursor on its line, most specific context first. */
const CONTEXTS: [RegExp, Category[]][] = [
  [/(\||\brouter\s+\w+\s*=)\s*$/, ['router stage']],
  [/\bexpert\s+\w+\s*=\s*$/, ['expert kind']],
  [/\btopology\s+$/, ['topology']],
  [/\b(dtype|weights)\s+$|\bdegrade\(\s*$|=\s*\{[^}]*=\s*$/, ['dtype']],
  [/\bscope\s+$/, ['scope']],
  [/\bgate\s+$/, ['shared gate']],
  [/\bcache\s*=\s*$/, ['cache policy']],
  [/\bprefetch\s*=\s*$/, ['prefetch policy']],
  [/\bon_miss\s*=\s*$/, ['miss policy']],
  [/\d\s+$/, ['unit']],
];

const WORD_KINDS: Record<Category, CompletionItemKind> = {
  keyword: CompletionItemKind.Keyword,
  'router stage': CompletionItemKind.Function,
  'expert kind': CompletionItemKind.Class,
  topology: CompletionItemKind.Struct,
  norm: CompletionItemKind.Function,
  'shared gate': CompletionItemKind.Function,
  'cache policy': CompletionItemKind.EnumMember,
  'prefetch policy': CompletionItemKind.EnumMember,
  'miss policy': CompletionItemKind.EnumMember,
  'offload setting': CompletionItemKind.Property,
  dtype: CompletionItemKind.TypeParameter,
  scope: CompletionItemKind.EnumMember,
  unit: CompletionItemKind.Unit,
};

const NAME_KINDS: Record<SymbolKind, CompletionItemKind> = {
  dim: CompletionItemKind.Constant,
  const: CompletionItemKind.Constant,
  expert: CompletionItemKind.Class,
  router: CompletionItemKind.Function,
  block: CompletionItemKind.Module,
};

/**
 * Completions at `offset`: after `|` the router stages, after `expert NAME =` the expert
 * kinds, and so on (CONTEXTS); at the start of a line the keywords (the offload settings
 * inside `offload { }`); elsewhere, inside an expression, the names in scope and the norms.
 */
export function completionsAt(a: Analysis, offset: number): CompletionItem[] {
  const text = a.file.text;
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const before = text.slice(lineStart, offset).replace(/\w*$/, '');
  const context = CONTEXTS.find(([re]) => re.test(before));
  if (context) return words(context[1]);
  if (/^\s*$/.test(before)) return words(inOffload(a, offset) ? ['offload setting'] : ['keyword']);
  return [...a.index.visibleAt(offset).map(nameItem), ...words(['norm'])];
}

function words(categories: Category[]): CompletionItem[] {
  return VOCABULARY.filter((w) => categories.includes(w.category)).map(wordItem);
}

function wordItem(w: Word): CompletionItem {
  return {
    label: w.name,
    kind: WORD_KINDS[w.category],
    detail: w.signature ? `${w.category}: ${w.signature}` : w.category,
    documentation: { kind: MarkupKind.Markdown, value: w.doc },
  };
}

function nameItem(d: Declaration): CompletionItem {
  return { label: d.name, kind: NAME_KINDS[d.kind], detail: d.block ? `${d.kind} in block ${d.block.name.text}` : d.kind, sortText: `0${d.name}` };
}

function inOffload(a: Analysis, offset: number): boolean {
  const within = (i: Item): boolean =>
    i.span.start < offset && offset < i.span.end && ((i.kind === 'Section' && i.keyword === 'offload') || (i.kind === 'Block' && i.items.some(within)));
  return a.result.parse.ast.models.some((m) => m.items.some(within));
}
