import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRegistry } from 'vscode-tmgrammar-test/dist/common/index.js';
import { getVSCodeTokens, renderSnap } from 'vscode-tmgrammar-test/dist/snapshot/index.js';
import { parseGrammarTestCase, runGrammarTestCase } from 'vscode-tmgrammar-test/dist/unit/index.js';
import { describe, expect, it } from 'vitest';
import { CACHE_POLICIES, EXPERT_KINDS, MISS_POLICIES, NORMS, OFFLOAD_SETTINGS, PREFETCH_POLICIES, SCOPES, STAGES, STORAGE_DTYPES, TOPOLOGIES, UNITS } from '../src/language/signatures.js';
import { Keywords } from '../src/parser/tokens.js';
import { exampleFiles, readExample, root } from './helpers.js';

/** The TextMate grammar VS Code uses, run by vscode-textmate (vscode-tmgrammar-test's engine). */
const grammarPath = join(root, 'grammar', 'moe.tmLanguage.json');
const grammarText = readFileSync(grammarPath, 'utf8');
const registry = createRegistry([{ scopeName: 'source.moe', path: grammarPath, language: 'moe' }]);

describe('TextMate grammar', () => {
  it('assigns every token class its scope (test/grammar/tokens.moe)', async () => {
    const testCase = parseGrammarTestCase(readFileSync(join(root, 'test', 'grammar', 'tokens.moe'), 'utf8'));
    expect(testCase.assertions.flatMap((a) => a.scopeAssertions).length).toBeGreaterThan(70);
    const failures = await runGrammarTestCase(registry, testCase);
    expect(failures.map((f) => `line ${f.srcLine + 1}:${f.start}-${f.end}: missing ${f.missing.join(' ')}, unexpected ${f.unexpected.join(' ')}, actual ${f.actual.join(' ')}`)).toEqual([]);
  });

  it.each(exampleFiles())('scopes %s as its snapshot records', async (name) => {
    const tokens = await getVSCodeTokens(registry, 'source.moe', readExample(name));
    await expect(renderSnap(tokens)).toMatchFileSnapshot(`grammar/snapshots/${name}.snap`);
  });

  it('knows every word of the language vocabulary', () => {
    const words = [
      ...Object.keys(Keywords),
      ...[STAGES, EXPERT_KINDS, TOPOLOGIES, NORMS, CACHE_POLICIES, PREFETCH_POLICIES, MISS_POLICIES].flatMap((t) => [...t.keys()]),
      ...OFFLOAD_SETTINGS,
      ...STORAGE_DTYPES,
      ...SCOPES,
      ...Object.keys(UNITS),
      // The words of every choice parameter (score = top2, dropped = zero, drop = overflow, ...).
      ...[STAGES, EXPERT_KINDS, TOPOLOGIES].flatMap((t) => [...t.values()].flatMap((s) => s.params.flatMap((p) => (typeof p.type === 'object' ? p.type.choice : [])))),
    ];
    const patterns = grammarText.replaceAll('\\\\b', ' ');
    const missing = words.filter((w) => !new RegExp(`\\b${w}\\b`).test(patterns));
    expect(missing).toEqual([]);
  });
});
