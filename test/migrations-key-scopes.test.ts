/**
 * Migration 20261201000006 (key scopes, operators, audit log, rate limits) on a database with
 * keys from before it: migrate to just before it, seed, migrate up, check that the existing
 * key keeps doing everything and never expires, migrate down, check that all of it is gone.
 */
import type { Knex } from 'knex';
import { createTestDatabase, type TestDatabase } from './helpers/db';

const MIGRATION = '20261201000006_key_scopes_operators';

/** A migration's name as knex lists it (the project's migration source lists names). */
const nameOf = (m: string | { file: string }) => (typeof m === 'string' ? m : m.file).replace(/\.ts$/, '');

let database: TestDatabase;
let db: Knex;

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
});
afterAll(() => database?.destroy());

const columns = async (table: string) =>
  (await db('information_schema.columns')
    .where({ table_schema: 'public', table_name: table })
    .pluck('column_name')) as string[];
const tables = async () =>
  (await db('information_schema.tables').where({ table_schema: 'public' }).pluck('table_name')) as string[];

test('up keeps existing keys as they were (both scopes, no expiry); down removes everything it added', async () => {
  // Every migration before this one.
  for (;;) {
    const [, pending] = (await db.migrate.list()) as [unknown[], Array<string | { file: string }>];
    if (pending.length === 0 || nameOf(pending[0]) === MIGRATION) break;
    await db.migrate.up();
  }
  const [project] = await db('projects').insert({ key: 'old', name: 'Old' }).returning('id');
  const [key] = await db('api_keys')
    .insert({ project_id: project.id, name: 'old key', key_hash: 'a'.repeat(64), key_prefix: 'lrs_old' })
    .returning('id');

  await db.migrate.up();
  const [done, pending] = (await db.migrate.list()) as [
    Array<string | { name: string }>,
    Array<string | { file: string }>,
  ];
  expect(pending.map(nameOf)).not.toContain(MIGRATION);
  // Only this one was applied now: down below undoes it alone.
  expect(done.map((m) => (typeof m === 'string' ? m : m.name).replace(/\.ts$/, '')).pop()).toBe(MIGRATION);
  const row = await db('api_keys').where({ id: key.id }).first();
  expect({ scopes: row.scopes, expires_at: row.expires_at, rotated_from: row.rotated_from }).toEqual({
    scopes: ['ingest', 'read'],
    expires_at: null,
    rotated_from: null,
  });
  expect(await tables()).toEqual(
    expect.arrayContaining(['operators', 'audit_log', 'project_rate_limits', 'rate_counters']),
  );
  const [{ relpersistence }] = (
    await db.raw("SELECT relpersistence FROM pg_class WHERE relname = 'rate_counters'")
  ).rows;
  expect(relpersistence).toBe('u'); // UNLOGGED

  await db.migrate.down();
  for (const gone of ['scopes', 'expires_at', 'rotated_from'])
    expect(await columns('api_keys')).not.toContain(gone);
  for (const gone of ['operators', 'audit_log', 'project_rate_limits', 'rate_counters']) {
    expect(await tables()).not.toContain(gone);
  }
  expect(await db('api_keys').where({ id: key.id }).first()).toMatchObject({ name: 'old key' });
  await db.migrate.latest();
});
