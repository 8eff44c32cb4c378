import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../src/checker/check.js';
import { CODES } from '../src/diagnostics/codes.js';
import { check, exampleFiles, readExample } from './helpers.js';

/**
 * Property tests: whatever the input, checking terminates without throwing, and every
 * diagnostic is a known code with a span inside the text.
 */
function assertWellFormed(text: string, result: CheckResult): void {
  for (const d of result.diagnostics) {
    expect(CODES[d.code]).toBeDefined();
    expect(d.severity).toBe(CODES[d.code].severity);
    expect(d.message.length).toBeGreaterThan(0);
    expect(Number.isInteger(d.span.start) && Number.isInteger(d.span.end)).toBe(true);
    expect(d.span.start).toBeGreaterThanOrEqual(0);
    expect(d.span.end).toBeGreaterThanOrEqual(d.span.start);
    expect(d.span.end).toBeLessThanOrEqual(text.length);
  }
  if (result.diagnostics.some((d) => d.severity === 'error')) expect(result.models).toEqual([]);
}

const vocabulary = [
  'model', 'm', '{', '}', '(', ')', '[', ']', ',', '=', '->', '..', '|', '+', '-', '*', '/', '%',
  'dims', 'const', 'dtype', 'weights', 'expert', 'experts', 'shared', 'router', 'block', 'topology',
  'scope', 'layers', 'step', 'offload', 'gate', 'x', 'hidden', 'ffn', 'e', 'moe', 'linear', 'softmax',
  'topk', 'normalize', 'swiglu', 'rmsnorm', '8', '0', '2.5', '1e-6', '6 GiB', '"s"', '"', '/*', '*/', '//', '\n',
];

const texts = exampleFiles().map(readExample);

/** A mutation of an example: delete, duplicate or replace a slice, or insert a token. */
const mutated = fc
  .record({
    base: fc.integer({ min: 0, max: texts.length - 1 }),
    edits: fc.array(
      fc.record({
        kind: fc.constantFrom('delete', 'insert', 'duplicate', 'replace'),
        at: fc.nat(),
        len: fc.integer({ min: 1, max: 40 }),
        token: fc.constantFrom(...vocabulary),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ base, edits }) => {
    let text = texts[base]!;
    for (const { kind, at, len, token } of edits) {
      const i = at % (text.length + 1);
      const slice = text.slice(i, i + len);
      if (kind === 'delete') text = text.slice(0, i) + text.slice(i + len);
      else if (kind === 'insert') text = `${text.slice(0, i)} ${token} ${text.slice(i)}`;
      else if (kind === 'duplicate') text = text.slice(0, i) + slice + slice + text.slice(i + len);
      else text = text.slice(0, i) + token + text.slice(i + len);
    }
    return text;
  });

const tokenSoup = fc.array(fc.constantFrom(...vocabulary), { maxLength: 80 }).map((t) => t.join(' '));

describe('robustness', () => {
  it('never crashes on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        assertWellFormed(text, check(text).result);
      }),
      { numRuns: 300 },
    );
  });

  it('never crashes on token soup', () => {
    fc.assert(
      fc.property(tokenSoup, (text) => {
        assertWellFormed(text, check(text).result);
      }),
      { numRuns: 500 },
    );
  });

  it('never crashes on mutated examples, and reports each broken one', () => {
    fc.assert(
      fc.property(mutated, (text) => {
        const { result } = check(text);
        assertWellFormed(text, result);
        // Either the mutation kept the model valid, or there is at least one error.
        expect(result.models.length === 1 || result.diagnostics.some((d) => d.severity === 'error')).toBe(true);
      }),
      { numRuns: Number(process.env["FUZZ_RUNS"] ?? 400) },
    );
  });

  it('is deterministic: the same text gives the same diagnostics', () => {
    fc.assert(
      fc.property(mutated, (text) => {
        expect(check(text).result.diagnostics).toEqual(check(text).result.diagnostics);
      }),
      { numRuns: 50 },
    );
  });
});
