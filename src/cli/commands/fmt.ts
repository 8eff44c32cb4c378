import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { diagnostic, renderFile, renderHuman } from '../../diagnostics/diagnostic.js';
import { SourceFile } from '../../diagnostics/source.js';
import { formatSource } from '../../format/format.js';
import { CliError, writeFileAtomic } from '../load.js';

export interface FmtCommandOptions {
  check: boolean;
}

/**
 * `moec fmt FILE...`: rewrites each file in the canonical layout; `-` formats standard input
 * to standard output. With `--check` nothing is written and the exit code is 1 when a file
 * would change. A file with syntax errors is reported like `moec check` and left untouched.
 */
export function runFmt(paths: string[], options: FmtCommandOptions): number {
  let status = 0;
  for (const path of paths) {
    const stdin = path === '-';
    const text = stdin ? readFileSync(0, 'utf8') : readSource(path);
    if (text === undefined) {
      status = 1;
      continue;
    }
    const result = formatSource(text, stdin ? '<stdin>' : path);
    if (!result.ok) {
      const color = process.stderr.isTTY === true && !process.env['NO_COLOR'];
      for (const text of renderFile(result.file, result.diagnostics, color)) process.stderr.write(`${text}\n`);
      process.stderr.write(`moec fmt: ${result.file.path} has syntax errors; not formatted\n`);
      status = 1;
    } else if (options.check) {
      if (result.changed) {
        process.stderr.write(`moec fmt: ${stdin ? '<stdin>' : path} is not formatted\n`);
        status = 1;
      }
    } else if (stdin) {
      process.stdout.write(result.text);
    } else if (result.changed) {
      try {
        writeFileAtomic(path, result.text);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        process.stderr.write(`moec: error: ${err.message}\n`);
        status = 1;
      }
    }
  }
  return status;
}

function readSource(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    const d = diagnostic('E0001', { start: 0, end: 0 }, `cannot read '${path}': ${reason}`);
    process.stderr.write(`${renderHuman(new SourceFile(path, ''), d)}\n`);
    return undefined;
  }
}

export function fmtCommand(): Command {
  return new Command('fmt')
    .description('rewrite .moe files in the canonical layout (comments kept); `-` formats stdin to stdout')
    .argument('<files...>', '.moe files to format, or - for standard input')
    .option('--check', 'change nothing; exit 1 if a file is not formatted', false)
    .action((files: string[], opts: FmtCommandOptions) => {
      process.exitCode = runFmt(files, opts);
    });
}
