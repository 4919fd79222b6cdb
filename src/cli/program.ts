/**
 * The `llmring-server` command line: serve, migrate, inspect, manage projects and keys,
 * report, export and prune. Every command reads the same configuration as the server (the
 * environment; see docs/operations.md), opens the same database, and goes through the same
 * services as the API.
 *
 * buildProgram takes its output streams and (in tests) an open database, so the whole CLI
 * runs in-process; runCli parses arguments and returns the exit code: 0 success, 1 a failed
 * operation, 2 bad usage or configuration.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config';
import { ReceiptKeyConfigError } from '../receipts/keyring';
import { ServiceError } from '../services/errors';
import { CliContext, CliError, type CliIO } from './context';
import { registerDatabaseCommands } from './commands/database';
import { registerProjectCommands } from './commands/projects';
import { registerUsageCommands } from './commands/usage';
import { registerPricingCommands } from './commands/pricing';
import { registerAlertCommands } from './commands/alerts';
import { registerExportScheduleCommands } from './commands/exportSchedules';
import { registerLedgerCommands } from './commands/ledger';
import { registerOperatorCommands } from './commands/operators';
import { registerAuditCommands } from './commands/audit';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander hands options over untyped
type Options = any;

/** Wraps a command's action: context, error reporting, exit code, cleanup. */
export type Act = (
  fn: (ctx: CliContext, args: string[], opts: Options) => Promise<void>,
) => (...params: unknown[]) => Promise<void>;

export interface CliProgram {
  program: Command;
  /** The exit code of the last action (0 unless it failed). */
  exitCode(): number;
}

function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof ConfigError || err instanceof ReceiptKeyConfigError) return 2;
  if (err instanceof ServiceError) return err.code === 'BAD_USER_INPUT' ? 2 : 1;
  return 1;
}

function messageOf(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

export function buildProgram(io: CliIO): CliProgram {
  let exitCode = 0;
  const program = new Command();
  program
    .name('llmring-server')
    .description(
      'Self-hosted LLM usage server: records usage per project, signs receipts, reports by alias name.',
    )
    .option('--verbose', 'log at LOG_LEVEL (default: errors only) and show stack traces')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
Configuration comes from the environment, as for the server: DATABASE_URL selects PostgreSQL,
otherwise the embedded database in LLMRING_DATA_DIR (default ./.llmring/data). With the
embedded database, stop the server before running commands that open it. Reference:
docs/operations.md.

Examples:
  $ llmring-server serve
  $ llmring-server status
  $ llmring-server project create 'Client A' --key client-a
  $ llmring-server key create client-a --name 'web app'
  $ llmring-server stats --project client-a --start 2025-06-01
  $ llmring-server export --format jsonl -o usage.jsonl
  $ llmring-server prune --before 2025-01-01 --dry-run
  $ llmring-server price set anthropic claude-sonnet-4-5-20250929 --input 2.7 --output 13.5 --from 2025-07-01
  $ llmring-server reprice --start 2025-07-01
  $ llmring-server budget create client-a --amount 500 --period month --time-zone America/Los_Angeles
  $ llmring-server webhook create --url https://hooks.example.com/llm --event budget.threshold_crossed
  $ llmring-server verify-ledger --receipts kept.jsonl --checkpoint cp1.txt cp2.txt --url http://localhost:4000 --api-key-file key.txt
  $ llmring-server audit export -o audit.jsonl
  $ llmring-server verify-audit --export audit.jsonl --checkpoint audit-cp1.txt --url http://localhost:4000`,
    );

  const act: Act =
    (fn) =>
    async (...params) => {
      const command = params[params.length - 1] as Command;
      const verbose = Boolean(command.optsWithGlobals().verbose);
      const ctx = new CliContext(io, { verbose });
      try {
        await fn(ctx, command.processedArgs as string[], command.opts());
        exitCode = 0;
      } catch (err) {
        exitCode = exitCodeOf(err);
        ctx.err(messageOf(err));
        if (verbose && err instanceof Error && exitCode === 1 && err.stack) ctx.err(err.stack);
      } finally {
        await ctx.close().catch(() => undefined);
      }
    };

  program
    .command('serve')
    .description('run the server (GraphQL at /graphql, REST at /api/v1, /metrics, /health)')
    .addHelpText(
      'after',
      '\nHOST, PORT and every other setting come from the environment (docs/operations.md).',
    )
    // Loaded only here: the HTTP server, GraphQL schema and OTLP decoder are 12 MB of heap that
    // every other command (an export of a million logs, say) would carry for nothing.
    .action(async () => (await import('../main')).serve());

  registerDatabaseCommands(program, act);
  registerProjectCommands(program, act);
  registerUsageCommands(program, act);
  registerPricingCommands(program, act);
  registerAlertCommands(program, act);
  registerExportScheduleCommands(program, act);
  registerLedgerCommands(program, act);
  registerOperatorCommands(program, act);
  registerAuditCommands(program, act);

  return { program, exitCode: () => exitCode };
}

/** Runs one command line (arguments after the program name); resolves to the exit code. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const cli = buildProgram(io);
  try {
    await cli.program.parseAsync(argv, { from: 'user' });
    return cli.exitCode();
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    io.stderr.write(`${messageOf(err)}\n`);
    return 1;
  }
}
