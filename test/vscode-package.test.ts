import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from './helpers.js';
import { LspClient } from './lsp/client.js';

/** A Node 20 binary: MOEC_NODE20, else the machine's own node when it is 20. */
const oldestNode = [process.env['MOEC_NODE20'], '/usr/bin/node', '/usr/local/bin/node'].find((node) => {
  if (!node) return false;
  const r = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.startsWith('20.');
});

/** `npm run package:vscode` builds the .vsix offline, and the server bundled in it works, on Node 20 too. */
describe('VS Code extension package', () => {
  const extension = join(root, 'editors', 'vscode');
  const out = mkdtempSync(join(tmpdir(), 'moec-vsix-'));
  /** Every file under editors/ that git sees, ignored ones included: packaging must add none. */
  const gitStatus = () => spawnSync('git', ['status', '--porcelain', '--ignored', '--', 'editors'], { cwd: root, encoding: 'utf8' }).stdout;
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('builds a .vsix with the manifest, grammar, configuration, client and server, outside the source tree', () => {
    const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const before = gitStatus();
    const r = spawnSync(process.execPath, [tsx, join(root, 'scripts', 'package-vscode.ts'), '--out-dir', out], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(gitStatus()).toEqual(before);
    // A zip stores its file names uncompressed.
    const vsix = readFileSync(join(out, 'moec-vscode-0.1.0.vsix')).toString('latin1');
    for (const file of ['extension/package.json', 'extension/dist/extension.js', 'extension/dist/server.js', 'extension/syntaxes/moe.tmLanguage.json', 'extension/language-configuration.json']) {
      expect(vsix).toContain(file);
    }
    expect(vsix).not.toContain('extension/src/');
    const manifest = JSON.parse(readFileSync(join(extension, 'package.json'), 'utf8'));
    expect(manifest.contributes.grammars[0]).toMatchObject({ language: 'moe', scopeName: 'source.moe' });
    expect(readFileSync(join(out, 'extension', 'syntaxes', 'moe.tmLanguage.json'), 'utf8')).toBe(readFileSync(join(root, 'grammar', 'moe.tmLanguage.json'), 'utf8'));
  });

  it.each([
    ['this Node', process.execPath],
    ['Node 20, as VS Code 1.91 runs extensions', oldestNode],
  ])('ships a self-contained server that reports diagnostics and hovers on %s', async (_what, node) => {
    if (!node) {
      // The machines this project targets ship Node 20 as /usr/bin/node (DESIGN.md §6).
      if (process.env['CI'] === 'true') throw new Error('no Node 20 found (set MOEC_NODE20 to one) to run the bundled server on the oldest Node the extension claims');
      return;
    }
    const client = new LspClient(join(out, 'extension', 'dist', 'server.js'), node);
    await client.initialize();
    const uri = 'file:///work/bundled.moe';
    await client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'moe', version: 1, text: 'model m {\n  dims { a = }\n}\n' } });
    expect((await client.diagnostics(uri)).diagnostics.map((d) => d.code)).toContain('E0104');
    const good = 'file:///work/good.moe';
    await client.notify('textDocument/didOpen', { textDocument: { uri: good, languageId: 'moe', version: 1, text: readFileSync(join(root, 'examples', 'mixtral-8x7b.moe'), 'utf8') } });
    expect((await client.diagnostics(good)).diagnostics).toEqual([]);
    const line = readFileSync(join(root, 'examples', 'mixtral-8x7b.moe'), 'utf8').split('\n').findIndex((l) => l.includes('block moe'));
    const hover = await client.request<{ contents: { value: string } }>('textDocument/hover', { textDocument: { uri: good }, position: { line, character: 9 } });
    expect(hover.contents.value).toContain('Parameters per instance');
    expect(await client.stop()).toBe(0);
  });

  it('formats on save by default for .moe files, with its own formatter', () => {
    const manifest = JSON.parse(readFileSync(join(extension, 'package.json'), 'utf8'));
    expect(manifest.contributes.configurationDefaults['[moe]']).toMatchObject({ 'editor.defaultFormatter': 'moec.moec-vscode', 'editor.formatOnSave': true });
  });
});
