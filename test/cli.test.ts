import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diagnosticsDoc } from '../src/diagnostics/doc.js';
import { brokenModel as broken, examplesDir, exampleFiles, root } from './helpers.js';

/** The CLI as a user runs it: the built bin/moec.js in a child process (npm test builds first). */
function moec(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: root });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'moec-')), name);
  writeFileSync(path, text);
  return path;
}

describe('moec check', () => {
  it('accepts every example silently with exit code 0', () => {
    const r = moec('check', ...exampleFiles().map((f) => join(examplesDir, f)));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('prints FILE:LINE:COL: error[CODE]: message, the line and a caret, and exits 1', () => {
    const path = tempFile('broken.moe', broken);
    const r = moec('check', path);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      [
        `${path}:5:19: error[E0505]: router 'gate' scores 8 entries, but block 'moe' has 16 experts (e x 16)`,
        '  |',
        '5 |     router gate = linear(hidden -> 8) | softmax | topk(2)',
        '  |                   ^^^^^^^^^^^^^^^^^^^',
        '1 error, 0 warnings in 1 file',
        '',
      ].join('\n'),
    );
  });

  it('prints a JSON array with --format json', () => {
    const path = tempFile('broken.moe', broken);
    const r = moec('check', '--format', 'json', path);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual([
      { file: path, line: 5, col: 19, endLine: 5, endCol: 38, severity: 'error', code: 'E0505', message: "router 'gate' scores 8 entries, but block 'moe' has 16 experts (e x 16)" },
    ]);
  });

  it('reports an unreadable file as E0001 and still checks the others', () => {
    const r = moec('check', '--format', 'json', join(root, 'no-such.moe'), join(examplesDir, 'mixtral-8x7b.moe'));
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { code: string; line: number }[];
    expect(out.map((d) => [d.code, d.line])).toEqual([['E0001', 1]]);
  });

  it('applies --set overrides and re-validates', () => {
    const mixtral = join(examplesDir, 'mixtral-8x7b.moe');
    expect(moec('check', '--set', 'hidden=64', '--set', 'ffn=128', mixtral).code).toBe(0);
    const r = moec('check', '--format', 'json', '--set', 'experts=1', mixtral);
    expect((JSON.parse(r.stdout) as { code: string }[]).map((d) => d.code)).toEqual(['E0507']);
    expect(moec('check', '--set', 'hidden', mixtral).code).toBe(1);
    expect(moec('check', '--set', 'hidden=0x10', mixtral).stderr).toContain('expected NAME=NUMBER');
    expect(moec('check', '--set', 'nope=3', mixtral).stderr).toContain('error[E0205]');
  });

  it('warnings alone exit 0', () => {
    const path = tempFile('warn.moe', broken.replace('x 16', 'x 8').replace('ffn = 128 }', 'ffn = 128, vocab = 32000 }'));
    const r = moec('check', path);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning[W0001]: dim 'vocab' is declared but never used");
  });

  it('has help that lists the commands, and rejects unknown ones with exit 1', () => {
    const help = moec('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('check [options] <files...>');
    expect(moec('frobnicate').code).toBe(1);
    expect(moec('check').code).toBe(1);
  });
});

describe('docs', () => {
  it('docs/diagnostics.md matches the code table', () => {
    expect(readFileSync(join(root, 'docs', 'diagnostics.md'), 'utf8')).toBe(diagnosticsDoc());
  });
});

describe('moec compile', () => {
  it('without -o writes to ./out, and its summary names every file it wrote', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'moec-cwd-'));
    const r = spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), 'compile', join(examplesDir, 'mixtral-8x7b.moe'), '--set', 'hidden=64', '--set', 'ffn=128'], { encoding: 'utf8', cwd });
    expect(r.status, r.stderr).toBe(0);
    const wrote = /\nwrote (.*)\n$/.exec(r.stderr)![1]!.split(', ');
    const files = wrote.map((w) => w.replace(/ \(.*\)$/, ''));
    expect(files).toContain(join('out', 'mixtral_8x7b.ir'));
    expect(files).toContain(join('out', 'mixtral_8x7b.plan.json'));
    for (const f of files) expect(existsSync(join(cwd, f)), f).toBe(true);
    // Every file in out/ (the kernels by their directory) is named in the summary.
    for (const f of readdirSync(join(cwd, 'out'))) expect(files.some((w) => w === join('out', f) || w === `${join('out', f)}/`), f).toBe(true);
  });
});

