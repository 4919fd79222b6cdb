/** The CLI in-process on a test database, with its output, exit code and confirmations captured. */
import type { Knex } from 'knex';
import { runCli } from '../../src/cli/program';

export interface Run {
  code: number;
  out: string;
  err: string;
}

/**
 * A runner of command lines on `db()`; `confirm()` answers the CLI's questions (default: no).
 * `env` adds settings to LLMRING_ENV=test.
 */
export function cliRunner(
  db: () => Knex,
  opts: { confirm?: () => boolean; env?: Record<string, string> } = {},
): (...args: string[]) => Promise<Run> {
  return async (...args) => {
    const run: Run = { code: -1, out: '', err: '' };
    const sink = (key: 'out' | 'err') => ({
      write: (s: string) => {
        run[key] += s;
        return true;
      },
      once: () => undefined,
    });
    run.code = await runCli(args, {
      stdout: sink('out'),
      stderr: sink('err'),
      env: { LLMRING_ENV: 'test', ...opts.env },
      db: db(),
      confirm: async () => opts.confirm?.() ?? false,
    });
    return run;
  };
}
