import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';
import { LspClient } from './lsp/client.js';

/** `npm run package:vscode` builds the .vsix offline, and the server bundled in it works. */
describe('VS Code extension package', () => {
  const extension = join(root, 'editors', 'vscode');

  it('builds a .vsix with the manifest, grammar, configuration, client and server', () => {
    const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const r = spawnSync(process.execPath, [tsx, join(root, 'scripts', 'package-vscode.ts')], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // A zip stores its file names uncompressed.
    const vsix = readFileSync(join(extension, 'moec-vscode-0.1.0.vsix')).toString('latin1');
    for (const file of ['extension/package.json', 'extension/dist/extension.js', 'extension/dist/server.js', 'extension/syntaxes/moe.tmLanguage.json', 'extension/language-configuration.json']) {
      expect(vsix).toContain(file);
    }
    expect(vsix).not.toContain('extension/src/');
    const manifest = JSON.parse(readFileSync(join(extension, 'package.json'), 'utf8'));
    expect(manifest.contributes.grammars[0]).toMatchObject({ language: 'moe', scopeName: 'source.moe' });
    expect(readFileSync(join(extension, 'syntaxes', 'moe.tmLanguage.json'), 'utf8')).toBe(readFileSync(join(root, 'grammar', 'moe.tmLanguage.json'), 'utf8'));
  });

  it('ships a self-contained server that reports diagnostics', async () => {
    const client = new LspClient(join(extension, 'dist', 'server.js'));
    await client.initialize();
    const uri = 'file:///work/bundled.moe';
    await client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'moe', version: 1, text: 'model m {\n  dims { a = }\n}\n' } });
    expect((await client.diagnostics(uri)).diagnostics.map((d) => d.code)).toContain('E0104');
    expect(await client.stop()).toBe(0);
  });
});
