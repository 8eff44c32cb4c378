import { fileURLToPath } from 'node:url';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { TextDocuments, TextDocumentSyncKind, type Connection, type Location } from 'vscode-languageserver/node';
import { formatSource } from '../format/format.js';
import { Analysis } from './analysis.js';
import { completionsAt } from './completion.js';
import { hoverAt } from './hover.js';
import { outline } from './outline.js';

/** Diagnostics follow typing after this pause, so a burst of keystrokes is checked once. */
export const DEBOUNCE_MS = 150;

/**
 * The moec language server: the project's own parser and checker behind the editor features.
 * One Analysis per document version, made on demand and shared by every request.
 */
export function startServer(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  const cache = new Map<string, { version: number; analysis: Analysis }>();
  const timers = new Map<string, NodeJS.Timeout>();
  const published = new Set<string>();

  const analysisOf = (doc: TextDocument): Analysis => {
    const hit = cache.get(doc.uri);
    if (hit?.version === doc.version) return hit.analysis;
    const analysis = new Analysis(pathOf(doc.uri), doc.getText());
    cache.set(doc.uri, { version: doc.version, analysis });
    return analysis;
  };
  const withDocument = <T>(uri: string, f: (doc: TextDocument, a: Analysis) => T): T | null => {
    const doc = documents.get(uri);
    return doc ? f(doc, analysisOf(doc)) : null;
  };
  const validate = (uri: string) => {
    timers.delete(uri);
    const doc = documents.get(uri);
    if (!doc) return;
    published.add(uri);
    void connection.sendDiagnostics({ uri, version: doc.version, diagnostics: analysisOf(doc).diagnostics(uri) });
  };

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      definitionProvider: true,
      referencesProvider: true,
      documentSymbolProvider: true,
      documentFormattingProvider: true,
      completionProvider: { triggerCharacters: ['|', '='] },
    },
    serverInfo: { name: 'moec', version: '0.1.0' },
  }));

  // A newly opened document is checked at once; edits wait for a pause in typing.
  documents.onDidChangeContent(({ document }) => {
    clearTimeout(timers.get(document.uri));
    if (!published.has(document.uri)) return validate(document.uri);
    timers.set(document.uri, setTimeout(() => validate(document.uri), DEBOUNCE_MS));
  });
  documents.onDidClose(({ document }) => {
    clearTimeout(timers.get(document.uri));
    timers.delete(document.uri);
    cache.delete(document.uri);
    published.delete(document.uri);
    void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
  });

  connection.onHover(({ textDocument, position }) =>
    withDocument(textDocument.uri, (doc, a) => {
      const hover = hoverAt(a, doc.offsetAt(position));
      return hover ? { contents: { kind: 'markdown' as const, value: hover.markdown }, range: a.range(hover.span) } : null;
    }),
  );
  connection.onDefinition(({ textDocument, position }) =>
    withDocument(textDocument.uri, (doc, a) => {
      const d = a.index.at(doc.offsetAt(position))?.declaration;
      return d ? { uri: doc.uri, range: a.range(d.span) } : null;
    }),
  );
  connection.onReferences(({ textDocument, position, context }) =>
    withDocument(textDocument.uri, (doc, a): Location[] => {
      const d = a.index.at(doc.offsetAt(position))?.declaration;
      if (!d) return [];
      const spans = [...(context.includeDeclaration ? [d.span] : []), ...d.references].sort((x, y) => x.start - y.start);
      return spans.map((s) => ({ uri: doc.uri, range: a.range(s) }));
    }),
  );
  connection.onDocumentSymbol(({ textDocument }) => withDocument(textDocument.uri, (_doc, a) => outline(a)));
  connection.onCompletion(({ textDocument, position }) => withDocument(textDocument.uri, (doc, a) => completionsAt(a, doc.offsetAt(position))));
  // A file with syntax errors is left alone: its diagnostics already say what to fix.
  connection.onDocumentFormatting(({ textDocument }) =>
    withDocument(textDocument.uri, (doc) => {
      const result = formatSource(doc.getText(), pathOf(doc.uri));
      if (!result.ok || !result.changed) return [];
      return [{ range: { start: { line: 0, character: 0 }, end: doc.positionAt(doc.getText().length) }, newText: result.text }];
    }),
  );

  documents.listen(connection);
  connection.listen();
}

function pathOf(uri: string): string {
  return uri.startsWith('file:') ? fileURLToPath(uri) : uri;
}
