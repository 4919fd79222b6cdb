/**
 * Database selection, in one place for the server, the knexfile, the tests and the CLI:
 * DATABASE_URL gives Postgres through `pg` with a sized pool; without it the embedded
 * PGlite database is kept on disk in the data folder.
 */
import fs from 'node:fs';
import path from 'node:path';
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
    connection = { filename: path.join(settings.dataDir, 'pglite') };
  }
  return {
    // knex-pglite's client class is a Knex.Client subclass; its typings predate Knex 3's.
    client: ClientPgLite as unknown as typeof Knex.Client,
    dialect: 'postgres',
    connection,
    migrations: migrationConfig,
  };
}

export function createDb(settings: DatabaseSettings): Knex {
  return knex(knexConfig(settings));
}
