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
