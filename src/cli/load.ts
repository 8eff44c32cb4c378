import { chmodSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { checkSource, type CheckResult } from '../checker/check.js';
import type { ResolvedModel } from '../model/model.js';
import { diagnostic, renderFile } from '../diagnostics/diagnostic.js';
import { SourceFile } from '../diagnostics/source.js';
import { UserError } from '../diagnostics/user-error.js';

/** A user error the CLI reports as `moec: error: ...` with exit status 1. */
export class CliError extends UserError {}

export interface LoadedFile {
  file: SourceFile;
  result: CheckResult;
}

/** Read and check one path; an unreadable path becomes an E0001 diagnostic on an empty source. */
export function loadAndCheck(path: string, overrides: Record<string, number>): LoadedFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const file = new SourceFile(path, '');
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    const d = diagnostic('E0001', { start: 0, end: 0 }, `cannot read '${path}': ${reason}`);
    return { file, result: { parse: { ast: { kind: 'File', models: [], span: { start: 0, end: 0 } }, comments: [] }, models: [], diagnostics: [d] } };
  }
  const file = new SourceFile(path, text);
  return { file, result: checkSource(file, { overrides }) };
}

/**
 * The one model a command works on: diagnostics go to stderr as `moec check` prints them;
 * errors, or several models without `--model`, are a CliError.
 */
export function loadModel(path: string, overrides: Record<string, number>, name?: string): ResolvedModel {
  const { file, result } = loadAndCheck(path, overrides);
  const color = process.stderr.isTTY === true && !process.env['NO_COLOR'];
  for (const text of renderFile(file, result.diagnostics, color)) process.stderr.write(`${text}\n`);
  if (result.diagnostics.some((d) => d.severity === 'error')) throw new CliError(`${path} has errors; fix them first (moec check ${path})`);
  const models = name ? result.models.filter((m) => m.name === name) : result.models;
  if (models.length === 0) throw new CliError(`${path} has no model named '${name}'; it has ${result.models.map((m) => m.name).join(', ')}`);
  if (models.length > 1) throw new CliError(`${path} declares ${models.length} models; choose one with --model (${models.map((m) => m.name).join(', ')})`);
  return models[0]!;
}

export function readBytes(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new CliError(`cannot read ${what} '${path}': ${reason}`);
  }
}

/**
 * Write a file completely or not at all: a temporary file beside the target, then a rename, so
 * a reader (or a crash) sees the old file or the new one. An existing target keeps its
 * permissions, and a symbolic link keeps pointing at its file, which is replaced.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  let target = path;
  let mode: number | undefined;
  try {
    target = realpathSync(path);
    mode = statSync(target).mode & 0o7777;
  } catch {
    // A new file: write it where asked, with default permissions.
  }
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data, { flag: 'wx' });
    if (mode !== undefined) chmodSync(tmp, mode);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new CliError(`cannot write '${path}': ${(err as Error).message}`);
  }
}
