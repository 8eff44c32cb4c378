import { Command } from 'commander';
import { checkCommand } from './commands/check.js';

/** The `moec` command line. Each subcommand lives in src/cli/commands/ and is listed here. */
const program = new Command()
  .name('moec')
  .description('moec: a compiler for Mixture-of-Experts models described in .moe files')
  .version('0.1.0')
  .showHelpAfterError()
  .addCommand(checkCommand());

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
