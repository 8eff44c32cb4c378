import { Command, Option } from 'commander';
import { runCheck } from './check.js';
import { collectOverride } from './overrides.js';

const program = new Command();
program
  .name('moec')
  .description('moec: a compiler for Mixture-of-Experts models described in .moe files')
  .version('0.1.0')
  .showHelpAfterError();

program
  .command('check')
  .description('parse and check .moe files; report every error and warning with its position')
  .argument('<files...>', '.moe files to check')
  .addOption(new Option('--format <format>', 'diagnostic output: human (stderr) or json (stdout)').choices(['human', 'json']).default('human'))
  .option('--set <NAME=VALUE>', 'override a dim or constant (repeatable), for example --set hidden=64', collectOverride, {})
  .action((files: string[], opts: { format: 'human' | 'json'; set: Record<string, number> }) => {
    process.exitCode = runCheck(files, opts);
  });

// Exit codes: 0 success, 1 user error (diagnostics or bad arguments), 2 internal error.
program.exitOverride((err) => {
  process.exit(err.exitCode === 0 ? 0 : 1);
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`moec: internal error: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
}
