import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { examplesDir, exampleFiles, readExample, root } from './helpers.js';

/** `moec fmt` as a user runs it: the built bin/moec.js in a child process. */
function moec(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: root, input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const canonical = readExample('mixtral-8x7b.moe');
const messy = canonical.replace(/\n +/g, '\n').replace('| softmax |', '|softmax|');

function tempDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'moec-fmt-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('moec fmt', () => {
  it('rewrites files in place, leaves formatted ones alone, and leaves no temporary file', () => {
    const dir = tempDir({ 'a.moe': messy, 'b.moe': canonical });
    chmodSync(join(dir, 'a.moe'), 0o640);
    const r = moec(['fmt', join(dir, 'a.moe'), join(dir, 'b.moe')]);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(join(dir, 'a.moe'), 'utf8')).toBe(canonical);
    expect(statSync(join(dir, 'a.moe')).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir).sort()).toEqual(['a.moe', 'b.moe']);
  });

  it('formats the file a symbolic link names and keeps the link', () => {
    const dir = tempDir({ 'real.moe': messy });
    symlinkSync(join(dir, 'real.moe'), join(dir, 'link.moe'));
    expect(moec(['fmt', join(dir, 'link.moe')]).code).toBe(0);
    expect(readFileSync(join(dir, 'real.moe'), 'utf8')).toBe(canonical);
    expect(readdirSync(dir).sort()).toEqual(['link.moe', 'real.moe']);
  });

  it('--check changes nothing and exits 1 when a file would change', () => {
    const dir = tempDir({ 'a.moe': messy, 'b.moe': canonical });
    const r = moec(['fmt', '--check', join(dir, 'a.moe'), join(dir, 'b.moe')]);
    expect(r).toEqual({ code: 1, stdout: '', stderr: `moec fmt: ${join(dir, 'a.moe')} is not formatted\n` });
    expect(readFileSync(join(dir, 'a.moe'), 'utf8')).toBe(messy);
    expect(moec(['fmt', '--check', join(dir, 'b.moe')]).code).toBe(0);
  });

  it('formats standard input to standard output with -', () => {
    expect(moec(['fmt', '-'], messy)).toEqual({ code: 0, stdout: canonical, stderr: '' });
    expect(moec(['fmt', '--check', '-'], messy).code).toBe(1);
  });

  it('refuses a file with syntax errors: reports them like moec check, exits 1, leaves the file', () => {
    const text = 'model m {\n  dims { a = }\n}\n';
    const dir = tempDir({ 'bad.moe': text });
    const path = join(dir, 'bad.moe');
    const r = moec(['fmt', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      [`${path}:2:14: error[E0104]: expected an expression (a number, name, call, string, list or record) but found '}'`, '  |', '2 |   dims { a = }', '  |              ^', `moec fmt: ${path} has syntax errors; not formatted`, ''].join('\n'),
    );
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('reports an unreadable file as E0001 and exits 1', () => {
    const r = moec(['fmt', join(tmpdir(), 'no-such-dir-moec', 'x.moe')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[E0001]');
  });

  it('finds every example formatted', () => {
    expect(moec(['fmt', '--check', ...exampleFiles().map((f) => join(examplesDir, f))])).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});
