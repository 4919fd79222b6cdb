/**
 * What every CLI command shares: the configuration (the same environment variables as the
 * server), the database it selects (DATABASE_URL or the embedded data folder), the services,
 * and where output goes. Data goes to stdout; progress, notices and errors to stderr.
 */
import { createInterface } from 'node:readline/promises';
import type { Knex } from 'knex';
import { loadConfig, type Config, type Env } from '../config';
import { createDb } from '../db/connection';
import { migrationStatus } from '../db/migrations';
import { createLogger, type Logger } from '../logger';
import { createServices, type Services } from '../services';
import type { Project } from '../domain/types';
import { printable } from './format';

export interface Output {
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export interface CliIO {
  stdout: Output;
  stderr: Output;
  /** The environment to configure from; process.env by default. */
  env?: Env;
  /** An open database to use instead of the configured one (tests). The CLI never closes it. */
  db?: Knex;
  /**
   * Asks the operator to confirm a destructive step. By default: a prompt when stdin and
   * stderr are terminals, otherwise a refusal (pass --yes in scripts).
   */
  confirm?: (question: string) => Promise<boolean>;
  /** Whether stderr is a terminal: progress then redraws one line. */
  interactive?: boolean;
}

/** An error for the operator: its message is printed as is, and the CLI exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    public readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function promptOnTerminal(question: string): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} Type 'yes' to continue: `);
    return answer.trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}

export class CliContext {
  private cachedConfig?: Config;
  private openedDb?: Knex;
  private cachedServices?: Services;
  private cachedLogger?: Logger;

  constructor(
    readonly io: CliIO,
    private readonly opts: { verbose: boolean },
  ) {}

  get interactive(): boolean {
    return this.io.interactive ?? false;
  }

  /** A line (or lines) of output for people; nothing in it can drive the terminal (printable). */
  out(text: string): void {
    const shown = printable(text, { keepLineFeeds: true });
    this.io.stdout.write(shown.endsWith('\n') ? shown : `${shown}\n`);
  }

  err(text: string): void {
    const shown = printable(text, { keepLineFeeds: true });
    this.io.stderr.write(shown.endsWith('\n') ? shown : `${shown}\n`);
  }

  /** Throws ConfigError naming every bad setting. */
  config(): Config {
    this.cachedConfig ??= loadConfig(this.io.env ?? process.env);
    return this.cachedConfig;
  }

  /** Logs go to stderr, errors only unless --verbose (then LOG_LEVEL). */
  logger(): Logger {
    this.cachedLogger ??= createLogger({
      level: this.opts.verbose ? this.config().logLevel : 'error',
      destination: 2,
    });
    return this.cachedLogger;
  }

  db(): Knex {
    if (this.io.db) return this.io.db;
    this.openedDb ??= createDb(this.config().database);
    return this.openedDb;
  }

  /** The services, on a database with every migration applied (else a CliError saying so). */
  async services(): Promise<Services> {
    if (this.cachedServices) return this.cachedServices;
    const db = this.db();
    const { pending } = await migrationStatus(db);
    if (pending.length > 0) {
      throw new CliError(
        `the database has ${pending.length} pending migration(s) (${pending[0]}${pending.length > 1 ? ', ...' : ''}); ` +
          `run 'llmring-server migrate' first`,
      );
    }
    this.cachedServices = await createServices({ db, config: this.config(), logger: this.logger() });
    return this.cachedServices;
  }

  /** A project by key or id (archived ones included), or a CliError. */
  async project(ref: string): Promise<Project> {
    const { projects } = await this.services();
    const project = UUID.test(ref) ? await projects.getById(ref) : await projects.getByKey(ref);
    if (!project)
      throw new CliError(`no project with key or id '${ref}' (see 'llmring-server project list --all')`);
    return project;
  }

  /** True to go ahead: --yes, or the operator confirmed. Refuses when nobody can be asked. */
  async confirm(question: string, yes: boolean): Promise<boolean> {
    if (yes) return true;
    const ask = this.io.confirm ?? promptOnTerminal;
    return ask(question);
  }

  async close(): Promise<void> {
    const db = this.openedDb;
    this.openedDb = undefined;
    if (db) await db.destroy();
  }
}
