import { SymbolKind, type DocumentSymbol } from 'vscode-languageserver/node';
import type { Span } from '../diagnostics/source.js';
import type { Binding, Expr, Item, Name } from '../parser/ast.js';
import type { Analysis } from './analysis.js';

/** The outline: models, their sections, declarations, blocks (with their contents) and layers. */
export function outline(a: Analysis): DocumentSymbol[] {
  const symbol = (name: string, kind: SymbolKind, span: Span, selection: Span, detail?: string, children?: DocumentSymbol[]): DocumentSymbol => ({
    name: name || '?',
    kind,
    range: a.range(span),
    selectionRange: a.range(selection),
    ...(detail ? { detail } : {}),
    ...(children ? { children } : {}),
  });
  const text = (e: Expr) => a.file.slice(e.span).replace(/\s+/g, ' ');
  const binding = (b: Binding, kind: SymbolKind) => symbol(b.name.text, kind, b.span, b.name.span, text(b.value));
  const named = (n: Name, kind: SymbolKind, span: Span, detail?: string, children?: DocumentSymbol[]) => symbol(n.text, kind, span, n.span, detail, children);

  const item = (i: Item): DocumentSymbol => {
    switch (i.kind) {
      case 'Section': {
        const kind = i.keyword === 'offload' ? SymbolKind.Property : SymbolKind.Constant;
        return symbol(i.keyword, SymbolKind.Namespace, i.span, i.keywordSpan, undefined, i.entries.map((b) => binding(b, kind)));
      }
      case 'Setting':
        return symbol(i.keyword, SymbolKind.Property, i.span, i.keywordSpan, text(i.value));
      case 'Decl':
        return named(i.name, i.keyword === 'expert' ? SymbolKind.Class : SymbolKind.Function, i.span, i.value ? text(i.value) : i.keyword);
      case 'Block':
        return named(i.name, SymbolKind.Struct, i.span, 'block', i.items.map(item));
      case 'Members':
        return symbol(i.keyword, SymbolKind.Field, i.span, i.keywordSpan, i.members.map((m) => a.file.slice(m.span)).join(', '));
      case 'Layers': {
        const label = `layers ${text(i.range)}${i.step ? ` step ${text(i.step)}` : ''}`;
        return symbol(label, SymbolKind.Array, i.span, i.keywordSpan, undefined, i.statements.map((s) => binding(s, SymbolKind.Variable)));
      }
    }
  };
  return a.result.parse.ast.models.map((m) => named(m.name, SymbolKind.Module, m.span, 'model', m.items.map(item)));
}
