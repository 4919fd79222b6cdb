/**
 * Migration 20261201000009 (the audit log as a Merkle log) on a database with audit entries
 * from before it: migrate to just before it, seed entries, migrate up, check that every one is
 * a leaf in id order and that an export of the log verifies, and that new entries go on from
 * there; migrate down, check the audit log's tree is gone (rows kept, the 'audit' kind refused);
 * migrate up again and get the same root: checkpoints handed out before stay valid.
 */
import type { Knex } from 'knex';
import { loadConfig } from '../src/config';
import { CLI_ACTOR } from '../src/domain/access';
import { verifyAuditExport } from '../src/ledger/verifyAudit';
import { createLogger } from '../src/logger';
import { createServices, type Services } from '../src/services';
import { createTestDatabase, type TestDatabase } from './helpers/db';

const MIGRATION = '20261201000009_audit_log_ledger';
const AUDIT_LOG_ID = '00000000-0000-0000-0000-000000000000';

const nameOf = (m: string | { file: string }) => (typeof m === 'string' ? m : m.file).replace(/\.ts$/, '');

let database: TestDatabase;
let db: Knex;

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
});
afterAll(() => database?.destroy());

const services = (): Promise<Services> =>
  createServices({
    db,
    config: loadConfig({ LLMRING_ENV: 'test' }),
    logger: createLogger({ level: 'silent' }),
  });

async function verified(s: Services) {
  const lines: unknown[] = [];
  for await (const line of s.audit.export()) lines.push(JSON.parse(JSON.stringify(line)));
  return verifyAuditExport({ lines, vkeys: s.audit.verifierKeys() });
}

const head = async () =>
  db('ledger_trees').where({ project_id: AUDIT_LOG_ID }).first('tree_size', 'root_hash');

test('up appends every existing entry in id order; down removes the tree; up again rebuilds the same one', async () => {
  for (;;) {
    const [, pending] = (await db.migrate.list()) as [unknown[], Array<string | { file: string }>];
    if (pending.length === 0 || nameOf(pending[0]) === MIGRATION) break;
    await db.migrate.up();
  }
  // Entries as the server wrote them before: microsecond times, ids past 9 (sorted as numbers,
  // not as text), details of every JSON kind.
  for (let i = 0; i < 12; i++) {
    await db('audit_log').insert({
      at: db.raw(`now() - (? * interval '1 hour') + interval '123.456 microseconds'`, [12 - i]),
      actor_kind: i % 2 ? 'admin_token' : 'cli',
      actor_name: i % 2 ? 'admin token' : 'cli',
      action: 'createProject',
      target_type: 'project',
      target_id: `p-${i}`,
      details: JSON.stringify({ key: `p-${i}`, n: i, ok: true, none: null, list: [1, 'two'] }),
    });
  }

  await db.migrate.up();
  const [done] = (await db.migrate.list()) as [Array<string | { name: string }>];
  expect(done.map((m) => (typeof m === 'string' ? m : m.name).replace(/\.ts$/, '')).pop()).toBe(MIGRATION);
  const leaves = await db('ledger_leaves')
    .where({ project_id: AUDIT_LOG_ID })
    .orderBy('leaf_index')
    .select('leaf_index', 'entry_kind', 'entry_id');
  const ids = (await db('audit_log').orderBy('id').pluck('id')).map(String);
  expect(leaves.map((l) => [Number(l.leaf_index), l.entry_kind, l.entry_id])).toEqual(
    ids.map((id, i) => [i, 'audit', id]),
  );
  const s = await services();
  const result = await verified(s);
  expect(result).toMatchObject({ ok: true, failures: [], checked: { leaves: 12, treeSize: 12 } });

  // The server appends after them.
  await s.audit.record(db, CLI_ACTOR, { action: 'createOperator', targetType: 'operator', targetId: 'x' });
  expect((await s.audit.list({ first: 1 }))[0].leafIndex).toBe(12);
  expect(await verified(s)).toMatchObject({ ok: true, checked: { leaves: 13 } });
  const root = Buffer.from((await head()).root_hash).toString('hex');

  await db.migrate.down();
  expect(await db('ledger_leaves').where({ project_id: AUDIT_LOG_ID }).first()).toBeUndefined();
  expect(await db('ledger_nodes').where({ project_id: AUDIT_LOG_ID }).first()).toBeUndefined();
  expect(await head()).toBeUndefined();
  expect(Number((await db('audit_log').count({ n: '*' }))[0].n)).toBe(13);
  await expect(
    db('ledger_leaves').insert({
      project_id: AUDIT_LOG_ID,
      leaf_index: 0,
      entry_kind: 'audit',
      entry_id: '1',
      leaf_hash: Buffer.alloc(32),
      integrated_at: new Date(),
    }),
  ).rejects.toThrow(/ledger_leaves_kind_check/);

  // Up again: the same log, root for root (the 13th entry, written by the server, included).
  await db.migrate.latest();
  expect(Number((await head()).tree_size)).toBe(13);
  expect(Buffer.from((await head()).root_hash).toString('hex')).toBe(root);
  expect(await verified(s)).toMatchObject({ ok: true, checked: { leaves: 13 } });
});
