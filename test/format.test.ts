import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiagnosticBag } from '../src/diagnostics/diagnostic.js';
import { SourceFile } from '../src/diagnostics/source.js';
import { formatSource } from '../src/format/format.js';
import { parseSource } from '../src/parser/parse.js';
import { moeLexer } from '../src/parser/tokens.js';
import { exampleFiles, readExample, root } from './helpers.js';

/** The meaning of a source: its AST without positions, and its comments in order. */
function meaning(text: string): { ast: string; comments: string[] } {
  const diags = new DiagnosticBag();
  const { ast, comments } = parseSource(new SourceFile('t.moe', text), diags);
  expect(diags.items).toEqual([]);
  const stripped = JSON.stringify(ast, (key, v: unknown) => (key === 'span' || key === 'keywordSpan' ? undefined : v));
  return { ast: stripped, comments: comments.map((c) => c.image.replace(/\r/g, '')) };
}

function formatted(text: string): string {
  const r = formatSource(text);
  if (!r.ok) throw new Error(`not formatted: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return r.text;
}

/** Formatting keeps the meaning and the comments, and a second run changes nothing. */
function expectSound(text: string): string {
  const once = formatted(text);
  expect(meaning(once)).toEqual(meaning(text));
  expect(formatted(once)).toBe(once);
  return once;
}

const fixture = (name: string) => readFileSync(join(root, 'test', 'format', name), 'utf8');

describe('formatter', () => {
  it.each(exampleFiles())('leaves %s as it is: every example is in canonical form', (name) => {
    expect(formatSource(readExample(name))).toMatchObject({ ok: true, changed: false });
  });

  it('puts every comment where it belongs, and is idempotent', async () => {
    const once = expectSound(fixture('comments.moe'));
    await expect(once).toMatchFileSnapshot('format/comments.formatted.moe');
  });

  it('breaks a long router pipeline before a | and aligns it under the =', () => {
    const stages = ['linear(hidden -> experts)', 'sigmoid', 'select_bias', 'group_limit(groups = 8, keep = 4, score = top2)', 'topk(8)', 'normalize', 'scale(routed_scale)'];
    const text = `model m {\n  block moe {\n    router gate = ${stages.join('|')}\n  }\n}\n`;
    expect(expectSound(text)).toBe(
      [
        'model m {',
        '  block moe {',
        '    router gate = linear(hidden -> experts) | sigmoid | select_bias',
        '                | group_limit(groups = 8, keep = 4, score = top2) | topk(8) | normalize',
        '                | scale(routed_scale)',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('writes the parentheses the structure needs, and only those', () => {
    const text = 'model m { const { a = ((1 - (2 - 3)) * (4 + 5)) b = -(a) c = (1 -> 2) -> 3 d = [(a | b)] e = (1..2) } }';
    expect(expectSound(text)).toContain('a = (1 - (2 - 3)) * (4 + 5)\n    b = -a\n    c = (1 -> 2) -> 3\n    d = [a | b]\n    e = 1..2\n');
  });

  it('normalises line endings, keeps strings and number spellings as written', () => {
    const text = 'model m {\r\n  const { s = "a\\"b" // note\r\n n = 14_336 e = 1e-5 }\r\n}\r\n';
    expect(expectSound(text)).toBe('model m {\n  const {\n    s = "a\\"b" // note\n    n = 14_336\n    e = 1e-5\n  }\n}\n');
  });

  it('refuses a file with syntax errors and reports them', () => {
    const r = formatSource('model m {\n  dims { a = }\n}\n', 'bad.moe');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics.map((d) => [d.code, r.file.position(d.span.start)])).toEqual([['E0104', { line: 2, col: 14 }]]);
    expect(formatSource('model m { /* open').ok).toBe(false);
  });
});

/** Separators that never change the tokens around them: whitespace, blank lines and comments. */
const separator = fc.oneof(
  { weight: 6, arbitrary: fc.constant(' ') },
  { weight: 2, arbitrary: fc.constantFrom('\n', '\n\n\n', '\t', '\r\n') },
  { weight: 1, arbitrary: fc.constantFrom(' /* c */ ', ' /*\n  two lines\n*/ ', ' // line\n', '\n// own line\n\n') },
);

/** An example with its tokens and comments rejoined by random separators. */
const respaced = fc.constantFrom(...exampleFiles()).chain((name) => {
  const text = readExample(name);
  const lexed = moeLexer.tokenize(text);
  const pieces = [...lexed.tokens, ...(lexed.groups['comments'] ?? [])].sort((a, b) => a.startOffset - b.startOffset);
  return fc.array(separator, { minLength: pieces.length, maxLength: pieces.length }).map((seps) =>
    // A line comment must still end its line.
    pieces.map((t, i) => `${t.image}${t.image.startsWith('//') ? '\n' : seps[i]}`).join(''),
  );
});

/** Random expressions, fully parenthesised, over every operator and primary form. */
const expression: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('1', '2.5', '1e-3', '14_336', '4 GiB', 'a', 'hidden', '"s"', 'x'),
    fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/', '%', '..', '->', '|'), tie('e')).map(([l, op, r]) => `(${l} ${op} ${r})`),
    tie('e').map((e) => `(-${e})`),
    fc.tuple(fc.constantFrom('f', 'topk'), fc.array(tie('e'), { maxLength: 3 }), fc.boolean()).map(([f, args, named]) => `${f}(${args.map((a, i) => (named && i > 0 ? `k${i} = ${a}` : a)).join(', ')})`),
    fc.array(tie('e'), { maxLength: 3 }).map((items) => `[${items.join(', ')}]`),
    fc.array(tie('e'), { maxLength: 2 }).map((vals) => `{ ${vals.map((v, i) => `k${i} = ${v}`).join(', ')} }`),
  ),
})).e;

describe('formatter properties', () => {
  it('keeps the meaning and comments of re-spaced examples, idempotently', () => {
    fc.assert(
      fc.property(respaced, (text) => {
        expectSound(text);
      }),
      { numRuns: 150 },
    );
  });

  it('keeps the meaning of random expressions in every position', () => {
    fc.assert(
      fc.property(expression, expression, (a, b) => {
        expectSound(`model m {\n  const { v = ${a} }\n  layers ${b} step ${a} { x = ${b} }\n  block k { experts e x ${a} gate ${b} }\n}\n`);
      }),
      { numRuns: 300 },
    );
  });
});
