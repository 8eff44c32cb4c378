import { Command } from 'commander';
import { UserError } from '../diagnostics/user-error.js';
import { checkCommand } from './commands/check.js';
import { compileCommand } from './commands/compile.js';
import { exportCommand } from './commands/export.js';
import { fmtCommand } from './commands/fmt.js';
import { importCommand } from './commands/import.js';
import { initWeightsCommand } from './commands/init-weights.js';
import { inspectCommand } from './commands/inspect.js';
import { runCommand } from './commands/run.js';
import { simulateCommand } from './commands/simulate.js';

/** The `moec` command line. Each subcommand lives in src/cli/commands/ and is listed here. */
const program = new Command()
  .name('moec')
  .description('moec: a compiler for Mixture-of-Experts models described in .moe files')
  .version('0.1.0')
  .showHelpAfterError()
  .addCommand(checkCommand())
  .addCommand(compileCommand())
  .addCommand(exportCommand())
  .addCommand(fmtCommand())
  .addCommand(importCommand())
  .addCommand(inspectCommand())
  .addCommand(initWeightsCommand())
  .addCommand(runCommand())
  .addCommand(simulateCommand());

// Exit codes: 0 success, 1 user error (diagnostics, bad input or arguments), 2 internal error.
program.exitOverride((err) => {
  process.exit(err.exitCode === 0 ? 0 : 1);
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof UserError) {
    process.stderr.write(`moec: error: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`moec: internal error: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
}
