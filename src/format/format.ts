import { DiagnosticBag, sortDiagnostics, type Diagnostic } from '../diagnostics/diagnostic.js';
import { SourceFile } from '../diagnostics/source.js';
import { parseSource } from '../parser/parse.js';
import { printFile } from './print.js';
import { toComments } from './writer.js';

export type FormatResult =
  | { ok: true; text: string; changed: boolean }
  /** The file has syntax errors: formatting it could lose what the parser skipped. */
  | { ok: false; file: SourceFile; diagnostics: Diagnostic[] };

/** Formats one .moe source into the canonical layout (see print.ts), comments included. */
export function formatSource(text: string, path = '<input>'): FormatResult {
  const file = new SourceFile(path, text);
  const diags = new DiagnosticBag();
  const { ast, comments } = parseSource(file, diags);
  if (diags.hasErrors) return { ok: false, file, diagnostics: sortDiagnostics(diags.items) };
  const formatted = printFile(ast, text, toComments(comments));
  return { ok: true, text: formatted, changed: formatted !== text };
}
