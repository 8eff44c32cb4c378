import { Command, Option } from 'commander';
import { renderFile, toJson, type DiagnosticJson } from '../../diagnostics/diagnostic.js';
import { loadAndCheck } from '../load.js';
import { collectOverride } from '../overrides.js';

export interface CheckCommandOptions {
  format: 'human' | 'json';
  set: Record<string, number>;
}

/** `moec check FILE...`: diagnostics on stderr (human) or a JSON array on stdout. Returns the exit code. */
export function runCheck(paths: string[], options: CheckCommandOptions): number {
  const loaded = paths.map((p) => loadAndCheck(p, options.set));
  const all = loaded.flatMap(({ file, result }) => result.diagnostics.map((d) => ({ file, d })));
  if (options.format === 'json') {
    const out: DiagnosticJson[] = all.map(({ file, d }) => toJson(file, d));
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const color = process.stderr.isTTY === true && !process.env['NO_COLOR'];
    for (const { file, result } of loaded) for (const text of renderFile(file, result.diagnostics, color)) process.stderr.write(`${text}\n`);
    const errors = all.filter((x) => x.d.severity === 'error').length;
    const warnings = all.length - errors;
    if (all.length) process.stderr.write(`${summary(errors, warnings, paths.length)}\n`);
  }
  return all.some((x) => x.d.severity === 'error') ? 1 : 0;
}

function summary(errors: number, warnings: number, files: number): string {
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  return `${plural(errors, 'error')}, ${plural(warnings, 'warning')} in ${plural(files, 'file')}`;
}

export function checkCommand(): Command {
  return new Command('check')
    .description('parse and check .moe files; report every error and warning with its position')
    .argument('<files...>', '.moe files to check')
    .addOption(new Option('--format <format>', 'diagnostic output: human (stderr) or json (stdout)').choices(['human', 'json']).default('human'))
    .option('--set <NAME=VALUE>', 'override a dim or constant (repeatable), for example --set hidden=64', collectOverride, {})
    .action((files: string[], opts: CheckCommandOptions) => {
      process.exitCode = runCheck(files, opts);
    });
}
