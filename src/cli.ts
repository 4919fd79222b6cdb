/**
 * Entry point of the `llmring-server` command (bin/llmring-server.js loads it through tsx):
 * runs the command line and sets the exit code. See src/cli/program.ts.
 */
import { runCli } from './cli/program';

// A closed pipe (`llmring-server export | head`) ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const args = process.argv.slice(2);

runCli(args, {
  stdout: process.stdout,
  stderr: process.stderr,
  interactive: Boolean(process.stderr.isTTY),
}).then(
  (code) => {
    process.exitCode = code;
    if (args.find((a) => !a.startsWith('-')) !== 'serve' || code !== 0) {
      // Everything is closed by now; should a handle linger, do not hang the shell.
      setTimeout(() => process.exit(code), 2000).unref();
    }
  },
  (err: unknown) => {
    process.stderr.write(`llmring-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
