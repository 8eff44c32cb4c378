import * as lsp from 'vscode-languageserver/node';
import { checkSource, type CheckResult } from '../checker/check.js';
import type { ResolvedModel } from '../model/model.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { SourceFile, type Span } from '../diagnostics/source.js';
import type { Model } from '../parser/ast.js';
import { SymbolIndex } from './symbols.js';

/** The most diagnostics published for one document: a binary file opened by mistake stays responsive. */
export const MAX_PUBLISHED = 100;

/** What the server knows about one version of a document: the checker's result and a name index. */
export class Analysis {
  readonly file: SourceFile;
  readonly result: CheckResult;
  readonly index: SymbolIndex;

  constructor(path: string, text: string) {
    this.file = new SourceFile(path, text);
    this.result = checkSource(this.file);
    this.index = new SymbolIndex(this.result.parse.ast);
  }

  /** The resolved form of `model`; only a file without errors has one. */
  resolved(model: Model): ResolvedModel | undefined {
    return this.result.models.find((m) => m.name === model.name.text);
  }

  range(span: Span): lsp.Range {
    return { start: this.position(span.start), end: this.position(span.end) };
  }

  /** LSP positions are 0-based; SourceFile's are 1-based, both in UTF-16 code units. */
  position(offset: number): lsp.Position {
    const p = this.file.position(offset);
    return { line: p.line - 1, character: p.col - 1 };
  }

  /** At most MAX_PUBLISHED diagnostics; where more follow, one more says how many were left out. */
  diagnostics(uri: string): lsp.Diagnostic[] {
    const all = this.result.diagnostics;
    const shown = all.slice(0, MAX_PUBLISHED).map((d) => this.toLsp(uri, d));
    const next = all[MAX_PUBLISHED];
    if (next) shown.push({ range: this.range(next.span), severity: lsp.DiagnosticSeverity.Information, source: 'moec', message: `${all.length - MAX_PUBLISHED} more problems from here on are not shown; fix the ones above first` });
    return shown;
  }

  private toLsp(uri: string, d: Diagnostic): lsp.Diagnostic {
    return {
      range: this.range(d.span),
      severity: d.severity === 'error' ? lsp.DiagnosticSeverity.Error : lsp.DiagnosticSeverity.Warning,
      code: d.code,
      source: 'moec',
      message: d.message,
      ...(d.notes.length ? { relatedInformation: d.notes.map((n) => ({ location: { uri, range: this.range(n.span) }, message: n.message })) } : {}),
    };
  }
}
