import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkSource, type CheckResult } from '../src/checker/check.js';
import { SourceFile } from '../src/diagnostics/source.js';

export const root = join(import.meta.dirname, '..');
export const examplesDir = join(root, 'examples');

export function exampleFiles(): string[] {
  return readdirSync(examplesDir)
    .filter((f) => f.endsWith('.moe'))
    .sort();
}

export function readExample(name: string): string {
  return readFileSync(join(examplesDir, name), 'utf8');
}

export interface Found {
  code: string;
  line: number;
  col: number;
}

export function check(text: string, overrides: Record<string, number> = {}): { result: CheckResult; file: SourceFile; found: Found[] } {
  const file = new SourceFile('test.moe', text);
  const result = checkSource(file, { overrides });
  const found = result.diagnostics.map((d) => ({ code: d.code, ...file.position(d.span.start) }));
  return { result, file, found };
}

/** A model with one error: its router scores 8 entries for 16 experts (E0505 at 5:19). */
export const brokenModel = `model m {
  dims { hidden = 64, ffn = 128 }
  expert e = swiglu(hidden -> ffn -> hidden)
  block moe {
    router gate = linear(hidden -> 8) | softmax | topk(2)
    experts e x 16
  }
  layers 2 { x = x + moe(x) }
}
`;
