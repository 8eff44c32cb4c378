import { checkSource } from '../../checker/check.js';
import { SourceFile } from '../../diagnostics/source.js';

/**
 * The .moe text with `--set` overrides written into it: each overridden dim or constant's
 * value is replaced by the number, so the text alone states the sizes an export's weights
 * have. The overrides apply to every model that declares the name, as `--set` does.
 */
export function withOverrides(text: string, overrides: Readonly<Record<string, number>>): string {
  if (!Object.keys(overrides).length) return text;
  const { parse } = checkSource(new SourceFile('<source>', text), { overrides: {} });
  const edits = parse.ast.models
    .flatMap((m) => m.items)
    .flatMap((item) => (item.kind === 'Section' && item.keyword !== 'offload' ? item.entries : []))
    .filter((b) => b.name.text in overrides)
    .map((b) => ({ span: b.value.span, value: String(overrides[b.name.text]) }))
    .sort((a, b) => b.span.start - a.span.start);
  let out = text;
  for (const e of edits) out = out.slice(0, e.span.start) + e.value + out.slice(e.span.end);
  return out;
}
