/**
 * `npm run package:vscode`: builds editors/vscode/moec-vscode-VERSION.vsix offline. The
 * extension client and the language server (src/lsp with the parser and checker) are each
 * bundled into one file, so the .vsix needs no node_modules; the grammar and language
 * configuration are copied from grammar/, their single source.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const extension = join(root, 'editors', 'vscode');
// VS Code 1.91 (the oldest the manifest accepts) runs extensions on Node 20.
const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'warning' } as const;

await build({ ...common, entryPoints: [join(extension, 'src', 'extension.ts')], outfile: join(extension, 'dist', 'extension.js'), external: ['vscode'] });
await build({ ...common, entryPoints: [join(root, 'src', 'lsp', 'main.ts')], outfile: join(extension, 'dist', 'server.js') });

mkdirSync(join(extension, 'syntaxes'), { recursive: true });
copyFileSync(join(root, 'grammar', 'moe.tmLanguage.json'), join(extension, 'syntaxes', 'moe.tmLanguage.json'));
copyFileSync(join(root, 'grammar', 'language-configuration.json'), join(extension, 'language-configuration.json'));

const { name, version } = JSON.parse(readFileSync(join(extension, 'package.json'), 'utf8')) as { name: string; version: string };
const out = join(extension, `${name}-${version}.vsix`);
const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
const args = ['package', '--no-dependencies', '--skip-license', '--allow-missing-repository', '--out', out];
const result = spawnSync(process.execPath, [vsce, ...args], { cwd: extension, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
