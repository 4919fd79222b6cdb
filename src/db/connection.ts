/**
 * Database selection, in one place for the server, the knexfile, the tests and the CLI:
 * DATABASE_URL gives Postgres through `pg` with a sized pool; without it the embedded
 * PGlite database is kept on disk in the data folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { knex, type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { migrationConfig } from './migrations';

export interface DatabaseSettings {
  /** postgres:// URL; absent means embedded PGlite. */
  url?: string;
  poolMax: number;
  /** Folder of the embedded database (ignored with a URL). */
  dataDir: string;
  /** Embedded database only: keep it in memory (tests). */
  inMemory?: boolean;
}

export type DatabaseKind = 'postgres' | 'pglite';

export function databaseKind(settings: DatabaseSettings): DatabaseKind {
  return settings.url ? 'postgres' : 'pglite';
}

/**
 * The embedded database runs inside this process, synchronously: while PGlite executes a
 * statement, nothing else runs. Knex hands the one connection from statement to statement in
 * microtasks, so statements queued by concurrent requests would run back to back and hold the
 * event loop for all of them (twenty 10 ms stats statements kept /health waiting 200 ms). Each
 * statement first yields to the event loop, so requests and probes are served between them.
 */
class EmbeddedClient extends (ClientPgLite as unknown as new (config: Knex.Config) => {
  _query(connection: unknown, obj: unknown): Promise<unknown>;
}) {
  async _query(connection: unknown, obj: unknown): Promise<unknown> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return super._query(connection, obj);
  }
}

/** The Knex configuration for these settings: what the knexfile exports too. */
export function knexConfig(settings: DatabaseSettings): Knex.Config {
  if (settings.url) {
    return {
      client: 'pg',
      connection: settings.url,
      pool: { min: 0, max: settings.poolMax },
      migrations: migrationConfig,
    };
  }
  let connection: object = {};
  if (!settings.inMemory) {
    fs.mkdirSync(settings.dataDir, { recursive: true });
    connection = { filename: embeddedDir(settings) };
  }
  return {
    // knex-pglite's client class is a Knex.Client subclass; its typings predate Knex 3's.
    client: EmbeddedClient as unknown as typeof Knex.Client,
    dialect: 'postgres',
    connection,
    migrations: migrationConfig,
  };
}

export function createDb(settings: DatabaseSettings): Knex {
  return knex(knexConfig(settings));
}

function embeddedDir(settings: DatabaseSettings): string {
  return path.join(settings.dataDir, 'pglite');
}

/**
 * A worker thread's program: creates a PGlite database in workerData.dir and closes it, or
 * posts what went wrong (PGlite's file-system errors carry a code, not always a message).
 */
const CREATE_EMBEDDED = `
const { parentPort, workerData } = require('node:worker_threads');
const { PGlite } = require(workerData.pglitePath);
PGlite.create(workerData.dir)
  .then((db) => db.close())
  .catch((err) => parentPort.postMessage((err && (err.message || (err.errno !== undefined && 'file-system error ' + err.errno))) || String(err)));
`;

/**
 * Creates the embedded database's files when the data folder has none yet, on a worker thread
 * that exits when done. PGlite's first start (initdb) grows its WebAssembly memory to about
 * 800 MB, which an instance never gives back; the thread's memory goes with it, and the
 * server's own instance opens an existing database: about 500 MB after a first start instead
 * of 810, and 330-400 MB after later ones. A no-op with DATABASE_URL, in memory, or once the
 * files exist.
 */
export async function createEmbeddedDatabaseFiles(settings: DatabaseSettings): Promise<boolean> {
  if (settings.url || settings.inMemory) return false;
  const dir = embeddedDir(settings);
  if (fs.existsSync(path.join(dir, 'PG_VERSION'))) return false;
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new Error(`could not create the embedded database in ${dir}: ${(err as Error).message}`);
  }
  const worker = new Worker(CREATE_EMBEDDED, {
    eval: true,
    workerData: { dir, pglitePath: require.resolve('@electric-sql/pglite') },
  });
  let problem: unknown;
  worker.on('message', (message) => (problem = message));
  worker.on('error', (err) => (problem = err.message));
  await new Promise<void>((resolve, reject) =>
    worker.on('exit', (code) =>
      problem === undefined && code === 0
        ? resolve()
        : reject(
            new Error(
              `could not create the embedded database in ${dir}: ${String(problem ?? `exit ${code}`)}`,
            ),
          ),
    ),
  );
  return true;
}
