/**
 * GET /health: liveness, answering 200 at once whatever the database does, with `status` and
 * `database` as the llmring client's `llmring server status` prints them (the original
 * server's shape). The database's state is the last check's, at most MAX_AGE_MS old: a probe
 * never waits behind the database's queue (on the embedded database a long statistics query
 * holds its one connection), and never adds a query per probe. `/ready` is the readiness probe.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';

/** How old the database's state may be before a probe starts a new check (it answers at once). */
const MAX_AGE_MS = 5_000;
/** A check that takes longer counts as the database not answering. */
const CHECK_TIMEOUT_MS = 2_000;

/** The version in the server's package.json: the nearest one up from here (src/http, dist/src/http). */
const SERVER_VERSION = (() => {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'llmring-server' && pkg.version) return pkg.version;
  }
  return 'unknown';
})();

class DatabaseState {
  private connected = false;
  private checkedAt = 0;
  private inFlight: Promise<void> | null = null;

  constructor(private readonly db: Knex) {}

  /** Runs one check (or joins the one running). */
  check(): Promise<void> {
    this.inFlight ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS);
      });
      this.connected = await Promise.race([this.db.raw('SELECT 1'), timeout]).then(
        () => true,
        () => false,
      );
      clearTimeout(timer);
      this.checkedAt = Date.now();
      this.inFlight = null;
    })();
    return this.inFlight;
  }

  /** The last check's answer; a stale one starts the next check without waiting for it. */
  current(): boolean {
    if (Date.now() - this.checkedAt > MAX_AGE_MS) void this.check();
    return this.connected;
  }
}

export async function registerHealth(app: FastifyInstance, deps: { db: Knex }): Promise<void> {
  const database = new DatabaseState(deps.db);
  await database.check();
  app.get('/health', async () => {
    const connected = database.current();
    return {
      status: connected ? 'healthy' : 'unhealthy',
      database: connected ? 'connected' : 'disconnected',
      name: 'llmring-server',
      version: SERVER_VERSION,
    };
  });
}
