/**
 * `key create --scope --expires`, `key rotate` and `key list` in-process on a fresh database, as
 * an operator uses them: what the key may do, when it stops, and the old secret of a rotated key
 * working until its overlap ends.
 */
import type { Knex } from 'knex';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createServices, type Services } from '../../src/services';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { cliRunner } from '../helpers/cli';

let database: TestDatabase;
let db: Knex;

const cli = cliRunner(() => db);

/** Fresh services on the same database (no cached key lookups). */
function services(): Promise<Services> {
  return createServices({
    db,
    config: loadConfig({ LLMRING_ENV: 'test' }),
    logger: createLogger({ level: 'silent' }),
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
  expect((await cli('migrate')).code).toBe(0);
  expect((await cli('project', 'create', 'Client A')).code).toBe(0);
});
afterAll(async () => {
  await database?.destroy();
});

test('key create --scope --expires makes a key that may only do that, until then', async () => {
  const before = Date.now();
  const run = await cli(
    'key',
    'create',
    'client-a',
    '--name',
    'mobile',
    '--scope',
    'ingest',
    '--expires',
    'P30D',
  );
  expect(run.code).toBe(0);
  expect(run.out).toMatch(/^lrs_\S+\n$/);
  expect(run.err).toContain('scopes INGEST');
  const found = await (await services()).apiKeys.authenticate(run.out.trim());
  expect(found?.apiKey.scopes).toEqual(['ingest']);
  const expires = found!.apiKey.expiresAt!.getTime();
  expect(expires).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
  expect(expires).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000);

  const both = await cli(
    'key',
    'create',
    'client-a',
    '--scope',
    'READ',
    '--scope',
    'INGEST',
    '--expires',
    '2099-01-01T00:00:00Z',
    '--json',
  );
  expect(JSON.parse(both.out)).toMatchObject({
    scopes: ['INGEST', 'READ'],
    expiresAt: '2099-01-01T00:00:00.000Z',
  });
});

test('key create refuses a wrong scope or expiry with exit code 2, naming the option', async () => {
  for (const [args, message] of [
    [['--scope', 'write'], "--scope: 'write' is not a scope (INGEST, READ)"],
    [['--expires', '2001-01-01T00:00:00Z'], '--expires: must be in the future'],
    [['--expires', 'Pnever'], "--expires: 'Pnever' is not an ISO 8601 duration"],
    [['--expires', 'tomorrow'], '--expires'],
  ] as const) {
    const run = await cli('key', 'create', 'client-a', ...args);
    expect({ args, code: run.code }).toEqual({ args, code: 2 });
    expect(run.err).toContain(message);
    expect(run.out).toBe('');
  }
});

test('key rotate prints the new secret alone; the old one works until the overlap ends; key list shows it', async () => {
  const created = JSON.parse(
    (await cli('key', 'create', 'client-a', '--name', 'ci', '--scope', 'READ', '--json')).out,
  );
  const run = await cli('key', 'rotate', created.id, '--overlap', 'P1D');
  expect(run.code).toBe(0);
  expect(run.out).toMatch(/^lrs_\S+\n$/);
  expect(run.err).toMatch(/the old secret \(prefix lrs_\S+\) works until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
  const s = await services();
  const fresh = await s.apiKeys.authenticate(run.out.trim());
  expect(fresh?.apiKey).toMatchObject({ name: 'ci', scopes: ['read'], rotatedFrom: created.id });
  expect(await s.apiKeys.authenticate(created.secret)).not.toBeNull();

  const listed = JSON.parse((await cli('key', 'list', 'client-a', '--json')).out);
  const old = listed.find((k: { id: string }) => k.id === created.id);
  expect(Date.parse(old.expiresAt)).toBeGreaterThan(Date.now() + 86_400_000 - 60_000);
  expect((await cli('key', 'list', 'client-a')).out).toMatch(/SCOPES\s+EXPIRES/);

  const again = await cli('key', 'rotate', created.id);
  expect(again.code).toBe(2);
  expect(again.err).toContain('already rotated');
  const bad = await cli('key', 'rotate', fresh!.apiKey.id, '--overlap', 'soon');
  expect(bad.code).toBe(2);
  expect(bad.err).toContain('--overlap: must be an ISO 8601 duration');
  expect((await cli('key', 'rotate', 'nope')).code).toBe(2);
});

test('operator create|list|revoke and audit: tokens printed once, every change in the audit log as the cli', async () => {
  const run = await cli('operator', 'create', 'alice', '--role', 'viewer');
  expect(run.code).toBe(0);
  expect(run.out).toMatch(/^lro_\S+\n$/);
  const token = run.out.trim();
  const s = await services();
  expect(await s.operators.authenticate(token)).toMatchObject({ name: 'alice', role: 'viewer' });
  expect((await cli('operator', 'create', 'bob', '--role', 'root')).code).toBe(2);

  const listed = JSON.parse((await cli('operator', 'list', '--json')).out);
  expect(listed).toEqual([expect.objectContaining({ name: 'alice', role: 'VIEWER', revokedAt: null })]);
  expect(JSON.stringify(listed)).not.toContain(token);

  expect((await cli('operator', 'revoke', listed[0].id)).code).toBe(0);
  expect(await s.operators.authenticate(token)).toBeNull();

  const audit = (await cli('audit', '--json')).out
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  // Newest first: everything this file's CLI commands changed, each by 'cli'.
  expect(audit.map((e: { action: string }) => e.action).reverse()).toEqual([
    'createProject',
    'createApiKey',
    'createApiKey',
    'createApiKey',
    'rotateApiKey',
    'createOperator',
    'revokeOperator',
  ]);
  expect(new Set(audit.map((e: { actor: string }) => e.actor))).toEqual(new Set(['cli']));
  expect((await cli('audit')).out).toMatch(/ID\s+AT\s+WHO\s+ACTION\s+TARGET/);
  expect((await cli('audit', '--limit', 'lots')).code).toBe(2);
});
