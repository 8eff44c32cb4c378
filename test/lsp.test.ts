import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatSource } from '../src/format/format.js';
import { brokenModel as broken, readExample } from './helpers.js';
import { LspClient } from './lsp/client.js';

/** The language server as an editor runs it: bin/moec-lsp.js in a child process, LSP over stdio. */
const mixtral = readExample('mixtral-8x7b.moe');

interface Range {
  start: { line: number; character: number };
  end: { line: number; character: number };
}
const range = (line: number, character: number, endLine: number, endCharacter: number): Range => ({
  start: { line, character },
  end: { line: endLine, character: endCharacter },
});

/** The 0-based LSP position of the `nth` occurrence of `needle` in `text`, `delta` characters in. */
function positionOf(text: string, needle: string, nth = 0, delta = 0): { line: number; character: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`'${needle}' not found`);
  const before = text.slice(0, at + delta);
  const line = before.split('\n').length - 1;
  return { line, character: before.length - before.lastIndexOf('\n') - 1 };
}

describe('moec-lsp over stdio', () => {
  let client: LspClient;
  let version = 1;
  const open = async (uri: string, text: string) => {
    await client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'moe', version: version++, text } });
  };

  beforeAll(async () => {
    client = new LspClient();
  });
  afterAll(async () => {
    expect(await client.stop()).toBe(0);
  });

  it('initializes with the features it serves', async () => {
    const { capabilities } = await client.initialize();
    expect(capabilities).toMatchObject({
      hoverProvider: true,
      definitionProvider: true,
      referencesProvider: true,
      documentSymbolProvider: true,
      documentFormattingProvider: true,
      completionProvider: { triggerCharacters: ['|', '='] },
    });
  });

  it('publishes the checker diagnostics of an opened file with exact ranges', async () => {
    const uri = 'file:///work/broken.moe';
    await open(uri, broken);
    const published = await client.diagnostics(uri);
    expect(published.diagnostics).toEqual([
      {
        range: range(4, 18, 4, 37),
        severity: 1,
        code: 'E0505',
        source: 'moec',
        message: "router 'gate' scores 8 entries, but block 'moe' has 16 experts (e x 16)",
      },
    ]);
  });

  it('reports a syntax error as typed, and clears it after the edit that fixes it', async () => {
    const uri = 'file:///work/typing.moe';
    const missing = positionOf(mixtral, '-> hidden)', 0, 9);
    await open(uri, mixtral.replace('-> hidden)\n', '-> hidden\n'));
    const first = await client.diagnostics(uri);
    expect(first.diagnostics.map((d) => [d.code, d.range])).toEqual([['E0104', range(missing.line, missing.character, missing.line, missing.character)]]);

    await client.notify('textDocument/didChange', {
      textDocument: { uri, version: version++ },
      contentChanges: [{ range: { start: missing, end: missing }, text: ')' }],
    });
    expect((await client.diagnostics(uri, 1)).diagnostics).toEqual([]);
  });

  it('debounces a burst of edits into one check of the last version', async () => {
    const uri = 'file:///work/burst.moe';
    await open(uri, mixtral);
    await client.diagnostics(uri);
    const edits = ['4', '40', '409', '4096'];
    for (const [i, digits] of edits.entries()) {
      const old = i === 0 ? '4096' : edits[i - 1]!;
      const at = positionOf(mixtral.replace('hidden = 4096', `hidden = ${old}`), `hidden = ${old}`, 0, 9);
      await client.notify('textDocument/didChange', {
        textDocument: { uri, version: version++ },
        contentChanges: [{ range: { start: at, end: { line: at.line, character: at.character + old.length } }, text: digits }],
      });
    }
    const published = await client.diagnostics(uri, 1);
    expect(published.version).toBe(version - 1);
    expect(published.diagnostics).toEqual([]);
  });

  describe('on the Mixtral example', () => {
    const uri = 'file:///work/mixtral-8x7b.moe';
    const at = (needle: string, nth = 0, delta = 1) => ({ textDocument: { uri }, position: positionOf(mixtral, needle, nth, delta) });

    beforeAll(async () => {
      await open(uri, mixtral);
      expect((await client.diagnostics(uri)).diagnostics).toEqual([]);
    });

    it('hovers a block with its parameter counts and active parameters per token', async () => {
      const hover = await client.request<{ contents: { value: string }; range: Range }>('textDocument/hover', at('block moe', 0, 7));
      expect(hover.contents.value).toContain('Routed: mlp x 8 (8 experts), 2 selected per token');
      expect(hover.contents.value).toContain('Parameters per instance: 1,409,318,912 (1.41 B)');
      expect(hover.contents.value).toContain('Active parameters per token: 352,354,304 (352 M)');
      expect(hover.range).toEqual(range(positionOf(mixtral, 'block moe').line, 8, positionOf(mixtral, 'block moe').line, 11));
    });

    it('hovers an expert reference with its resolved shape and parameters', async () => {
      const hover = await client.request<{ contents: { value: string } }>('textDocument/hover', at('experts mlp', 0, 9));
      expect(hover.contents.value).toContain('gated silu FFN: 4096 → 14336 → 4096');
      expect(hover.contents.value).toContain('Parameters per instance: 176,160,768 (176 M)');
    });

    it('hovers a dim with its value, the model with its totals, a stage with its documentation', async () => {
      const dim = await client.request<{ contents: { value: string } }>('textDocument/hover', at('hidden -> ffn', 0, 2));
      expect(dim.contents.value).toContain('**dim** `hidden`');
      expect(dim.contents.value).toContain('= 4096');
      const model = await client.request<{ contents: { value: string } }>('textDocument/hover', at('mixtral_8x7b'));
      expect(model.contents.value).toContain('32 layers, width 4096, dtype bf16');
      expect(model.contents.value).toContain('Active parameters per token: 11,275,468,800 (11.3 B)');
      const stage = await client.request<{ contents: { value: string } }>('textDocument/hover', at('topk'));
      expect(stage.contents.value).toContain('**router stage** `topk(k)`');
    });

    it('goes to the definition of a name and finds its references', async () => {
      const def = await client.request<{ uri: string; range: Range }>('textDocument/definition', at('x experts', 0, 3));
      const decl = positionOf(mixtral, 'experts = 8');
      expect(def).toEqual({ uri, range: range(decl.line, decl.character, decl.line, decl.character + 7) });
      const refs = await client.request<{ range: Range }[]>('textDocument/references', { ...at('experts = 8'), context: { includeDeclaration: true } });
      expect(refs.map((r) => r.range.start.line)).toEqual([decl.line, positionOf(mixtral, 'hidden -> experts').line, positionOf(mixtral, 'x experts').line]);
    });

    it('outlines models, sections, declarations, blocks and layers', async () => {
      const symbols = await client.request<{ name: string; detail?: string; children?: { name: string; detail?: string; children?: { name: string }[] }[] }[]>('textDocument/documentSymbol', { textDocument: { uri } });
      expect(symbols.map((s) => s.name)).toEqual(['mixtral_8x7b']);
      expect(symbols[0]!.children!.map((c) => c.name)).toEqual(['dims', 'dtype', 'mlp', 'moe', 'layers 32']);
      expect(symbols[0]!.children![3]!.children!.map((c) => c.name)).toEqual(['gate', 'experts']);
    });

    it('completes router stages after a pipe and names in scope inside expressions', async () => {
      const pipe = positionOf(mixtral, '| softmax', 0, 2);
      const stages = await client.request<{ label: string }[]>('textDocument/completion', { textDocument: { uri }, position: pipe });
      expect(stages.map((c) => c.label)).toEqual(expect.arrayContaining(['softmax', 'topk', 'top_p', 'group_limit', 'normalize', 'scale']));
      expect(stages.map((c) => c.label)).not.toContain('hidden');
      const inExpr = await client.request<{ label: string }[]>('textDocument/completion', at('(hidden -> ffn', 0, 1));
      expect(inExpr.map((c) => c.label)).toEqual(expect.arrayContaining(['hidden', 'ffn', 'experts', 'mlp', 'moe', 'rmsnorm']));
    });
  });

  it('formats a document into the canonical layout, and leaves a broken one alone', async () => {
    const uri = 'file:///work/messy.moe';
    const messy = mixtral.replace(/\n {2,}/g, '\n').replace('hidden = 4096', 'hidden=4096 // width');
    await open(uri, messy);
    const edits = await client.request<{ range: Range; newText: string }[]>('textDocument/formatting', { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } });
    const lines = messy.split('\n');
    expect(edits).toEqual([{ range: range(0, 0, lines.length - 1, 0), newText: mixtral.replace('hidden = 4096', 'hidden = 4096 // width') }]);

    const brokenUri = 'file:///work/broken-syntax.moe';
    await open(brokenUri, 'model m { dims { a = } }\n');
    expect(await client.request('textDocument/formatting', { textDocument: { uri: brokenUri }, options: { tabSize: 2, insertSpaces: true } })).toEqual([]);
    expect(formatSource(mixtral)).toMatchObject({ ok: true, changed: false });
  });
});

describe('symbol index scopes', () => {
  it('layer variables and built-in stage names are not declarations', async () => {
    const { SymbolIndex } = await import('../src/lsp/symbols.js');
    const { parseSource } = await import('../src/parser/parse.js');
    const { SourceFile } = await import('../src/diagnostics/source.js');
    const { DiagnosticBag } = await import('../src/diagnostics/diagnostic.js');
    const text = `model m {
  dims { hidden = 8, h = 4, k = 2 }
  expert softmax = relu(hidden -> h -> hidden)
  expert e = relu(hidden -> h -> hidden)
  block moe {
    router gate = linear(hidden -> 4) | softmax | topk(k)
    experts e x 4
  }
  layers 1 {
    h = moe(x)
    x = x + h + softmax(x)
  }
}`;
    const file = new SourceFile('t.moe', text);
    const index = new SymbolIndex(parseSource(file, new DiagnosticBag()).ast);
    const uses = (name: string) => index.declarations.find((d) => d.name === name)!.references.map((r) => file.position(r.start).line);
    expect(uses('h')).toEqual([3, 4]); // the dim, not the layer variable h on lines 10 and 11
    expect(uses('softmax')).toEqual([11]); // the expert call, not the router stage on line 6
    expect(uses('k')).toEqual([6]);
  });
});
