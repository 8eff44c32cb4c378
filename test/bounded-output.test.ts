import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { modelStats } from '../src/checker/stats.js';
import { DiagnosticBag, MAX_RENDERED, MAX_SHOWN_LINE, renderFile, renderHuman } from '../src/diagnostics/diagnostic.js';
import { SourceFile } from '../src/diagnostics/source.js';
import { Analysis, MAX_PUBLISHED } from '../src/lsp/analysis.js';
import { PARSE_LIMITS, parseSource } from '../src/parser/parse.js';
import { check, readExample, root } from './helpers.js';

/**
 * Whatever the input, the work and the output stay bounded: a capped number of syntax errors
 * and of rendered diagnostics, long lines cut around the caret, nesting measured as nesting.
 */

/** Deterministic bytes that are mostly not .moe: a small linear congruential generator. */
function junk(bytes: number): string {
  let s = 12345;
  return Array.from({ length: bytes }, () => String.fromCharCode(((s = (s * 1103515245 + 12345) % 2 ** 31) >> 16) % 256)).join('');
}

const codes = (text: string) => check(text).found.map((f) => f.code);

describe('parsing bounds', () => {
  it('5,000 broken lines nest nothing: the parser reports them and stops after the error limit', () => {
    const text = `model m {\n${Array.from({ length: 5000 }, (_, i) => `  const c${i} = ${i}`).join('\n')}\n}\n`;
    const { result, file } = check(text);
    const messages = result.diagnostics.map((d) => d.message);
    expect(messages.some((m) => /nest/.test(m))).toBe(false);
    expect(messages[0]).toBe("expected '{' but found 'c0'");
    expect(file.position(result.diagnostics[0]!.span.start)).toEqual({ line: 2, col: 9 });
    expect(messages.at(-1)).toBe(`stopped reading the file after ${PARSE_LIMITS.errors} syntax errors; fix the ones above first`);
    expect(result.diagnostics.length).toBeLessThanOrEqual(PARSE_LIMITS.errors + 1);
  });

  it('lists at most the error limit of unexpected-character runs and unterminated strings, then says how many more there are', () => {
    const { result } = check(junk(20000));
    const lexical = result.diagnostics.filter((d) => d.code === 'E0101');
    expect(lexical.length).toBe(PARSE_LIMITS.errors + 1);
    const last = lexical.at(-1)!;
    expect(last.message).toMatch(/^\d+ more runs of unexpected characters from here on, not listed one by one: is this a \.moe file\?$/);
    const strings = check(`model m {\n${'  dtype "x\n'.repeat(300)}}\n`).result.diagnostics.filter((d) => d.code === 'E0102');
    expect(strings).toHaveLength(PARSE_LIMITS.errors + 1);
    expect(strings.at(-1)!.message).toBe(`${300 - PARSE_LIMITS.errors} more unterminated strings from here on, not listed one by one: is this a .moe file?`);
  });

  it('measures nesting: brackets and signs past the limit are reported where they pass it', () => {
    const deep = (n: number) => `model m { const { a = ${'('.repeat(n)}1${')'.repeat(n)} } }`;
    const { result, file } = check(deep(3000));
    expect(result.diagnostics.map((d) => [d.code, d.message])).toEqual([['E0104', `brackets and minus signs nest more than ${PARSE_LIMITS.nesting} levels deep here; moec reads at most ${PARSE_LIMITS.nesting}`]]);
    // `model m { const {` opens two braces: the 63rd parenthesis is the 65th level.
    expect(file.position(result.diagnostics[0]!.span.start)).toEqual({ line: 1, col: 23 + PARSE_LIMITS.nesting - 2 });
    expect(codes(deep(PARSE_LIMITS.nesting - 2))).toEqual(['E0707']); // within the limit: parsed and checked
    expect(codes(`model m { const { a = ${'-'.repeat(30000)}1 } }`)).toEqual(['E0104']);
  });

  it('a flat chain of 20,000 operators is cut once, with the reason, and nothing overflows', () => {
    const { result, file } = check(`model m {\n  const { a = ${Array(20000).fill('1').join(' + ')} }\n  layers 1 { x = x }\n}\n`);
    expect(result.diagnostics.map((d) => [d.code, d.message, file.position(d.span.start)])).toEqual([
      ['E0104', `this expression nests more than ${PARSE_LIMITS.depth} operations deep; split it into named constants`, { line: 2, col: 15 }],
    ]);
  });

  it('parses each model apart: a broken model does not hide the next one', () => {
    const two = `garbage here\n${readExample('mixtral-8x7b.moe')}`;
    const diags = new DiagnosticBag();
    const { ast } = parseSource(new SourceFile('t.moe', two), diags);
    expect(ast.models.map((m) => m.name.text)).toEqual(['mixtral_8x7b']);
    expect(diags.items.map((d) => d.message)).toEqual(["expected 'model' but found 'garbage'; everything in a file lives inside 'model NAME { ... }'"]);
  });
});

describe('rendering bounds', () => {
  it('cuts a long line to a window around the caret, with the caret under the span', () => {
    const line = `${'a'.repeat(5000)}BAD${'b'.repeat(5000)}`;
    const file = new SourceFile('long.moe', `x\n${line}\n`);
    const text = renderHuman(file, { code: 'E0104', severity: 'error', span: { start: 2 + 5000, end: 2 + 5003 }, message: 'm', notes: [] });
    const [, , shown, caret] = text.split('\n');
    expect(shown!.length).toBeLessThanOrEqual('2 | '.length + MAX_SHOWN_LINE + 6);
    expect(shown).toMatch(/^2 \| \.\.\.a+BADb+\.\.\.$/);
    expect(caret!.indexOf('^')).toBe(shown!.indexOf('BAD'));
    expect(caret).toMatch(/^ {2}\| {4,}\^\^\^$/);
  });

  it('shows control characters of a binary file as ?, one for one, so the terminal is safe and the caret still lines up', () => {
    const file = new SourceFile('bin.moe', 'a\x1b[2Jb\x07c$');
    const text = renderHuman(file, { code: 'E0101', severity: 'error', span: { start: 8, end: 9 }, message: 'm', notes: [] });
    expect(text.split('\n').slice(2)).toEqual(['1 | a?[2Jb?c$', '  |         ^']);
  });

  it('a short line is shown whole, CRLF or not', () => {
    const file = new SourceFile('s.moe', 'model m {\r\n  oops\r\n}\r\n');
    const text = renderHuman(file, { code: 'E0104', severity: 'error', span: { start: 13, end: 17 }, message: 'm', notes: [] });
    expect(text.split('\n').slice(2)).toEqual(['2 |   oops', '  |   ^^^^']);
  });

  it('renders at most MAX_RENDERED diagnostics of a file and counts the rest', () => {
    const { result, file } = check(junk(4096));
    expect(result.diagnostics.length).toBeGreaterThan(MAX_RENDERED);
    const out = renderFile(file, result.diagnostics);
    expect(out).toHaveLength(MAX_RENDERED + 1);
    expect(out.at(-1)).toBe(`test.moe: ${result.diagnostics.length - MAX_RENDERED} more errors not shown (the first ${MAX_RENDERED} are)`);
  });

  it('moec check of a 4 KB binary file and of a 1 MB one-line file prints a bounded report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-bounds-'));
    const binary = join(dir, 'binary.moe');
    writeFileSync(binary, Buffer.from(junk(4096), 'latin1'));
    const oneLine = join(dir, 'one-line.moe');
    writeFileSync(oneLine, `model m { ${'x '.repeat(500000)}}`);
    for (const path of [binary, oneLine]) {
      const r = spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), 'check', path], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr.length).toBeLessThan(40_000);
      expect(r.stderr).toMatch(/\d+ errors?, 0 warnings in 1 file\n$/);
    }
  });

  it('the language server publishes at most MAX_PUBLISHED diagnostics and says how many more there are', () => {
    const a = new Analysis('/tmp/junk.moe', junk(8192));
    const published = a.diagnostics('file:///tmp/junk.moe');
    expect(published).toHaveLength(MAX_PUBLISHED + 1);
    expect(published.at(-1)!.message).toBe(`${a.result.diagnostics.length - MAX_PUBLISHED} more problems from here on are not shown; fix the ones above first`);
  });
});

describe('size limits', () => {
  const size = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 2 ** 26 }), fc.constantFrom('1e12', '99999999999999999999', '2000000000 * 2000000000', '9007199254740993', '16777216', '0.5 * 3'));
  it('any sizes give either a model whose counts are exact integers, or a located error, never an exception', () => {
    fc.assert(
      fc.property(size, size, size, size, (hidden, ffn, experts, count) => {
        const text = `model m {\n  dims { hidden = ${hidden}, ffn = ${ffn}, experts = ${experts} }\n  expert e = swiglu(hidden -> ffn -> hidden)\n  block moe {\n    router gate = linear(hidden -> experts) | softmax | topk(1)\n    experts e x experts\n    shared e x ${count}\n  }\n  layers 3 { x = x + moe(x) }\n}\n`;
        const { result } = check(text);
        if (result.models.length) {
          const stats = modelStats(result.models[0]!);
          expect(Number.isSafeInteger(stats.total)).toBe(true);
          expect(Number.isSafeInteger(stats.active.max)).toBe(true);
        } else expect(result.diagnostics.some((d) => d.severity === 'error' && d.span.end > d.span.start)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

