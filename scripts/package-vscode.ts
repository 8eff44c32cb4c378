/**
 * `npm run package:vscode`: builds editors/vscode/moec-vscode-VERSION.vsix offline. The
 * extension client and the language server (src/lsp with the parser and checker) are each
 * bundled into one file, so the .vsix needs no node_modules; the grammar and language
 * configuration are copied from grammar/, their single source.
 *
 * `--out-dir DIR` builds in DIR/extension instead and writes DIR/moec-vscode-VERSION.vsix,
 * leaving the source tree untouched (the tests do this).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const extension = join(root, 'editors', 'vscode');
const { values } = parseArgs({ options: { 'out-dir': { type: 'string' } } });
const outDir = values['out-dir'] === undefined ? extension : resolve(values['out-dir']);
const stage = outDir === extension ? extension : join(outDir, 'extension');
mkdirSync(join(stage, 'syntaxes'), { recursive: true });
if (stage !== extension) for (const file of ['package.json', 'README.md', '.vscodeignore']) copyFileSync(join(extension, file), join(stage, file));

// VS Code 1.91 (the oldest the manifest accepts) runs extensions on Node 20: esbuild lowers the
// syntax, and src/node20.ts supplies the one library function the server needs from Node 21.
const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'warning' } as const;
await build({ ...common, entryPoints: [join(extension, 'src', 'extension.ts')], outfile: join(stage, 'dist', 'extension.js'), external: ['vscode'] });
await build({ ...common, entryPoints: [join(root, 'src', 'lsp', 'main.ts')], inject: [join(extension, 'src', 'node20.ts')], outfile: join(stage, 'dist', 'server.js') });

copyFileSync(join(root, 'grammar', 'moe.tmLanguage.json'), join(stage, 'syntaxes', 'moe.tmLanguage.json'));
copyFileSync(join(root, 'grammar', 'language-configuration.json'), join(stage, 'language-configuration.json'));

const { name, version } = JSON.parse(readFileSync(join(extension, 'package.json'), 'utf8')) as { name: string; version: string };
const out = join(outDir, `${name}-${version}.vsix`);
const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
const args = ['package', '--no-dependencies', '--skip-license', '--allow-missing-repository', '--out', out];
const result = spawnSync(process.execPath, [vsce, ...args], { cwd: stage, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
