/**
 * A fresh database per test file: embedded PGlite in memory by default, or a new database
 * on the Postgres server named by TEST_DATABASE_URL (created here, dropped afterwards).
 */
import { randomBytes } from 'node:crypto';
import { knex, type Knex } from 'knex';
import { createDb, type DatabaseSettings } from '../../src/db/connection';

export const testDatabaseUrl = process.env.TEST_DATABASE_URL;
export const onPostgres = Boolean(testDatabaseUrl);

export interface TestDatabase {
  db: Knex;
  settings: DatabaseSettings;
  destroy(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  if (!testDatabaseUrl) {
    const settings: DatabaseSettings = { poolMax: 1, dataDir: '', inMemory: true };
    const db = createDb(settings);
    return { db, settings, destroy: () => db.destroy() };
  }
  const name = `llmring_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = knex({ client: 'pg', connection: testDatabaseUrl, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const url = new URL(testDatabaseUrl);
  url.pathname = `/${name}`;
  const settings: DatabaseSettings = { url: url.toString(), poolMax: 10, dataDir: '' };
  const db = createDb(settings);
  return {
    db,
    settings,
    async destroy() {
      await db.destroy();
      await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.destroy();
    },
  };
}

/** A fresh database with every migration applied. */
export async function createMigratedDatabase(): Promise<TestDatabase> {
  const t = await createTestDatabase();
  await t.db.migrate.latest();
  return t;
}
