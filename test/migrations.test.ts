/**
 * The migration away from alias storage, on real legacy data: apply only the baseline, seed
 * rows with the legacy column names (../shared/spec/legacy-schema.md), migrate to latest and
 * check that nothing but the alias bindings is lost; then roll everything back and forward
 * again. Runs on embedded PGlite, or on Postgres with TEST_DATABASE_URL.
 *
 * Nothing here depends on how many migrations follow phase 4: the test goes baseline-only,
 * then latest, then rollback --all, then latest.
 */
import { createHash, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Knex } from 'knex';
import { PROJECT_KEY_PATTERN } from '../src/domain/slug';
import { createTestDatabase, type TestDatabase } from './helpers/db';

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

async function query<T>(db: Knex, sql: string, bindings: readonly Knex.RawBinding[] = []): Promise<T[]> {
  const result = (await db.raw(sql, bindings)) as { rows: T[] };
  return result.rows;
}

async function tableNames(db: Knex): Promise<string[]> {
  const rows = await query<{ table_name: string }>(
    db,
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
  );
  return rows.map((r) => r.table_name);
}

async function columnNames(db: Knex, table: string): Promise<string[]> {
  const rows = await query<{ column_name: string }>(
    db,
    `SELECT column_name FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name = ? ORDER BY column_name`,
    [table],
  );
  return rows.map((r) => r.column_name);
}

interface ForeignKey {
  table_name: string;
  referenced: string;
  def: string;
}

async function foreignKeys(db: Knex): Promise<ForeignKey[]> {
  return query<ForeignKey>(
    db,
    `SELECT c.conrelid::regclass::text AS table_name, c.confrelid::regclass::text AS referenced,
            pg_get_constraintdef(c.oid) AS def
     FROM pg_constraint c
     WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
     ORDER BY 1, 3`,
  );
}

/** Columns, constraints and indexes of the application's tables (Knex's bookkeeping aside). */
async function structure(
  db: Knex,
): Promise<{ columns: unknown[]; constraints: unknown[]; indexes: unknown[] }> {
  const columns = await query(
    db,
    `SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision,
            numeric_scale, is_nullable, column_default
     FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name NOT LIKE 'knex\\_%'
     ORDER BY table_name, column_name`,
  );
  const constraints = await query(
    db,
    `SELECT c.conrelid::regclass::text AS table_name, c.conname, c.contype, pg_get_constraintdef(c.oid) AS def
     FROM pg_constraint c
     WHERE c.connamespace = 'public'::regnamespace AND c.conrelid::regclass::text NOT LIKE 'knex\\_%'
     ORDER BY 1, 2`,
  );
  const indexes = await query(
    db,
    `SELECT tablename, indexname, indexdef FROM pg_indexes
     WHERE schemaname = 'public' AND tablename NOT LIKE 'knex\\_%'
     ORDER BY 1, 2`,
  );
  return { columns, constraints, indexes };
}

// ---------------------------------------------------------------------------------------
// Legacy fixture: projects, keys, aliases, logs, signed receipts, sync rows.

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const otherKey = generateKeyPairSync('ed25519').publicKey;

type Doc = Record<string, unknown>;

function jcs(doc: Doc): Buffer {
  const text = canonicalize(doc);
  if (text === undefined) throw new Error('not serialisable');
  return Buffer.from(text, 'utf8');
}

function signDocument(unsigned: Doc): Doc {
  const signature = `ed25519:${sign(null, jcs(unsigned), privateKey).toString('base64url')}`;
  return { ...unsigned, signature };
}

/** RFC 8785 JCS over the document without its signature, Ed25519, as receipts.md gives it. */
function verifies(document: Doc, key: KeyObject = publicKey): boolean {
  const { signature, ...unsigned } = document;
  if (typeof signature !== 'string' || !signature.startsWith('ed25519:')) return false;
  return verify(null, jcs(unsigned), key, Buffer.from(signature.slice('ed25519:'.length), 'base64url'));
}

interface LegacyProject {
  id: string;
  name: string;
  created_at: Date;
  expectedKey: string;
}

const minute = 60_000;
const t0 = Date.parse('2024-03-01T09:00:00.000Z');

const project = (i: number, name: string, expectedKey: string): LegacyProject => ({
  id: randomUUID(),
  name,
  created_at: new Date(t0 + i * minute),
  expectedKey,
});

const pA = project(0, 'Client A', 'client-a');
const pB = project(1, 'client-a', 'client-a-2'); // slugifies like 'Client A', created later
const pU = project(2, '日本語プロジェクト', 'project'); // no usable character
const pC = project(3, 'Café Ünïcode — Ops', 'cafe-unicode-ops');
const pL = project(
  4,
  'Long Name '.repeat(10),
  'long-name-long-name-long-name-long-name-long-name-long-name-long',
);
const projects = [pA, pB, pU, pC, pL];

interface LegacyKey {
  id: string;
  project: LegacyProject;
  secret: string;
  revoked: boolean;
}

const apiKey = (p: LegacyProject, revoked = false): LegacyKey => ({
  id: randomUUID(),
  project: p,
  secret: `lmr_${randomUUID().replace(/-/g, '')}${randomUUID().replace(/-/g, '')}`,
  revoked,
});

const kA = apiKey(pA);
const kA2 = apiKey(pA, true);
const kB = apiKey(pB);
const kU = apiKey(pU);
const keys = [kA, kA2, kB, kU];

interface LegacyAlias {
  id: string;
  project: LegacyProject;
  profile: string;
  name: string;
  model: string;
}

const alias = (p: LegacyProject, profile: string, name: string, model: string): LegacyAlias => ({
  id: randomUUID(),
  project: p,
  profile,
  name,
  model,
});

// The same name in two profiles of one project, bound to different models.
const sumA = alias(pA, 'default', 'summarizer', 'openai:gpt-4o');
const sumAStaging = alias(pA, 'staging', 'summarizer', 'anthropic:claude-3-5-sonnet-latest');
const extA = alias(pA, 'default', 'extractor', 'openai:gpt-4o-mini');
const receiptOnlyA = alias(pA, 'default', 'nightly-report', 'anthropic:claude-3-haiku');
const unusedA = alias(pA, 'default', 'never-called', 'openai:o1');
const sumB = alias(pB, 'default', 'summarizer', 'google:gemini-1.5-pro');
const longB = alias(pB, 'default', 'ä'.repeat(255), 'openai:gpt-4o');
const uniU = alias(pU, 'default', 'résumé ✓ 要約', 'openai:gpt-4o');
const longModelC = alias(pC, 'default', 'fine-tuned', 'custom:ft');
const aliases = [sumA, sumAStaging, extA, receiptOnlyA, unusedA, sumB, longB, uniU, longModelC];

interface LegacyLog {
  id: string;
  project: LegacyProject;
  key: LegacyKey | null;
  profile: string;
  alias: LegacyAlias | null;
  provider: string;
  model: string;
  created_at: Date;
}

const logs: LegacyLog[] = [];
const log = (
  p: LegacyProject,
  key: LegacyKey | null,
  profile: string,
  a: LegacyAlias | null,
  provider: string,
  model: string,
): LegacyLog => {
  const entry = {
    id: randomUUID(),
    project: p,
    key,
    profile,
    alias: a,
    provider,
    model,
    created_at: new Date(t0 + (60 + logs.length * 7) * minute),
  };
  logs.push(entry);
  return entry;
};

const l1 = log(pA, kA, 'default', sumA, 'openai', 'gpt-4o');
const l2 = log(pA, kA, 'default', null, 'openai', 'gpt-4o');
const l3 = log(pA, kA, 'staging', sumAStaging, 'anthropic', 'claude-3-5-sonnet-20241022');
log(pA, kA2, 'staging', null, 'anthropic', 'claude-3-5-sonnet-20241022');
log(pA, kA, 'default', sumA, 'openai', 'gpt-4o-2024-08-06'); // the last summarizer call in default
log(pA, null, 'default', extA, 'openai', 'gpt-4o-mini');
log(pB, kB, 'default', sumB, 'google', 'gemini-1.5-pro');
log(pB, kB, 'default', null, 'google', 'gemini-1.5-flash');
log(pB, kB, 'default', longB, 'openai', 'gpt-4o');
const l10 = log(pU, kU, 'default', uniU, 'openai', 'gpt-4o');
log(pA, kA, 'staging', sumAStaging, 'anthropic', 'claude-3-5-haiku-20241022'); // last in staging
log(pU, kU, 'default', uniU, 'openai', 'openai:gpt-4o-mini'); // a model logged with its provider prefix
log(pC, null, 'default', null, 'openai', 'gpt-4o');
log(pC, null, 'default', longModelC, 'custom', `ft:${'m'.repeat(252)}`); // 255 characters: no room for 'custom:'

/** The binding phase 4's down gives an alias: the provider:model of the last call under it. */
function lastBinding(p: LegacyProject, profile: string, name: string): string | undefined {
  const last = logs.filter((l) => l.project === p && l.profile === profile && l.alias?.name === name).at(-1);
  if (!last) return undefined;
  if (last.model.startsWith(`${last.provider}:`)) return last.model;
  return last.provider.length + 1 + last.model.length > 255 ? last.model : `${last.provider}:${last.model}`;
}

interface LegacyReceipt {
  id: string;
  receipt_id: string;
  project: LegacyProject;
  log: LegacyLog | null;
  alias: LegacyAlias | null;
  document: Doc;
  created_at: Date;
}

const receipt = (
  p: LegacyProject,
  l: LegacyLog | null,
  a: LegacyAlias | null,
  model: string,
  i: number,
): LegacyReceipt => {
  const receiptId = `rcpt_${randomUUID().replace(/-/g, '')}`;
  const [provider, modelUsed] = model.split(':');
  const unsigned: Doc = {
    version: 1,
    receipt_id: receiptId,
    issued_at: new Date(t0 + (200 + i) * minute).toISOString(),
    project_id: p.id,
    usage_log_id: l?.id ?? null,
    provider,
    model_used: modelUsed,
    alias: a ? { id: a.id, name: a.name, resolved_model: a.model } : null,
    profile: l?.profile ?? 'default',
    tokens: { input: 1000 + i, output: 200, cached_input: 0 },
    cost: 0.0045,
    ratio: 0.30000000000000004, // a float whose shortest form is long
    tiny: 1e-7,
    note: 'naïve – ✓ 日本語 "quoted" \\ back\nslash \u2028 😀',
    nested: [{ z: 1, a: [true, null, 'x', -0.5] }, []],
    key_id: 'legacy-2024',
  };
  return {
    id: randomUUID(),
    receipt_id: receiptId,
    project: p,
    log: l,
    alias: a,
    document: signDocument(unsigned),
    created_at: new Date(t0 + (200 + i) * minute),
  };
};

const receipts = [
  receipt(pA, l1, sumA, 'openai:gpt-4o', 0),
  receipt(pA, l3, sumAStaging, 'anthropic:claude-3-5-sonnet-20241022', 1),
  receipt(pA, l2, null, 'openai:gpt-4o', 2),
  receipt(pA, null, receiptOnlyA, 'anthropic:claude-3-haiku-20240307', 3), // its log is gone
  receipt(pU, l10, uniU, 'openai:gpt-4o', 4),
];

async function seedLegacy(db: Knex): Promise<void> {
  await db('projects').insert(
    projects.map((p) => ({
      id: p.id,
      name: p.name,
      description: `legacy ${p.name}`,
      created_at: p.created_at,
    })),
  );
  await db('api_keys').insert(
    keys.map((k) => ({
      id: k.id,
      project_id: k.project.id,
      name: `key of ${k.project.name}`,
      key_hash: sha256(k.secret),
      key_prefix: k.secret.slice(0, 12),
      last_used_at: new Date(t0),
      revoked_at: k.revoked ? new Date(t0 + minute) : null,
    })),
  );
  await db('aliases').insert(
    aliases.map((a) => ({
      id: a.id,
      project_id: a.project.id,
      profile: a.profile,
      name: a.name,
      model: a.model,
      metadata: JSON.stringify({ source: 'lockfile' }),
    })),
  );
  await db('usage_logs').insert(
    logs.map((l, i) => ({
      id: l.id,
      project_id: l.project.id,
      api_key_id: l.key?.id ?? null,
      alias_id: l.alias?.id ?? null,
      provider: l.provider,
      model: l.model,
      input_tokens: 100 + i,
      output_tokens: 10 + i,
      cached_input_tokens: i % 3,
      cost: '0.00123456',
      latency_ms: 300 + i,
      origin: 'legacy-client',
      id_at_origin: `call-${i}`,
      profile: l.profile,
      metadata: JSON.stringify({ i }),
      created_at: l.created_at,
    })),
  );
  await db('receipts').insert(
    receipts.map((r) => ({
      id: r.id,
      receipt_id: r.receipt_id,
      project_id: r.project.id,
      usage_log_id: r.log?.id ?? null,
      alias_id: r.alias?.id ?? null,
      document: JSON.stringify(r.document),
      signature: r.document.signature,
      key_id: 'legacy-2024',
      created_at: r.created_at,
    })),
  );
  await db('alias_sync_state').insert([
    { project_id: pA.id, version: 7, lockfile_digest: sha256('lockfile A'), last_push_at: new Date(t0) },
    { project_id: pB.id, version: 1, last_pull_at: new Date(t0) },
  ]);
  await db('alias_sync_events').insert([
    {
      project_id: pA.id,
      direction: 'push',
      payload: JSON.stringify({ aliases: ['summarizer', 'extractor'] }),
    },
    { project_id: pA.id, direction: 'pull', payload: JSON.stringify({ version: 7 }) },
    { project_id: pB.id, direction: 'push', payload: JSON.stringify({ aliases: ['summarizer'] }) },
  ]);
}

interface LogAfter {
  id: string;
  alias_name: string | null;
  occurred_at: Date;
  created_at: Date;
  cost_source: string;
}

interface ReceiptAfter {
  id: string;
  alias_name: string | null;
  document: Doc;
  signature: string;
}

async function counts(db: Knex): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const table of ['projects', 'api_keys', 'usage_logs', 'receipts']) {
    const [row] = await db(table).count<{ n: number | string }[]>({ n: '*' });
    result[table] = Number(row.n);
  }
  return result;
}

async function projectKeys(db: Knex): Promise<Map<string, string>> {
  const rows: Array<{ id: string; key: string }> = await db('projects').select('id', 'key');
  return new Map(rows.map((r) => [r.id, r.key]));
}

/** Every receipt document as stored, and its signature still verifying with the original key. */
async function expectReceiptsUnchanged(db: Knex): Promise<ReceiptAfter[]> {
  const rows: ReceiptAfter[] = await db('receipts').select('*').orderBy('created_at');
  expect(rows).toHaveLength(receipts.length);
  for (const r of receipts) {
    const row = rows.find((x) => x.id === r.id);
    expect(row?.document).toEqual(r.document);
    expect(row?.signature).toBe(r.document.signature);
    expect(verifies(row!.document)).toBe(true);
  }
  return rows;
}

// One database for the file (starting embedded PGlite takes seconds); each scenario starts
// from an empty public schema.
let t: TestDatabase;
let db: Knex;

beforeAll(async () => {
  t = await createTestDatabase();
  db = t.db;
});
afterAll(async () => {
  await t?.destroy();
});

async function emptyDatabase(): Promise<void> {
  await db.raw('DROP SCHEMA public CASCADE');
  await db.raw('CREATE SCHEMA public');
  expect(await tableNames(db)).toEqual([]);
}

describe('migrating a legacy database off alias storage', () => {
  let legacyStructure: Awaited<ReturnType<typeof structure>>;
  let firstAliasNames: Map<string, string | null>;
  let firstKeys: Map<string, string>;
  let firstCounts: Record<string, number>;

  beforeAll(emptyDatabase);

  it('applies the baseline alone and accepts legacy rows with the legacy column names', async () => {
    await db.migrate.up();
    const [applied, pending] = (await db.migrate.list()) as [Array<{ name: string }>, string[]];
    expect(applied.map((m) => m.name)).toEqual(['20250801000000_baseline_legacy_schema']);
    expect(pending.length).toBeGreaterThanOrEqual(3);

    await seedLegacy(db);
    legacyStructure = await structure(db);

    // The fixture itself: signatures verify, and tampering or another key would be caught.
    for (const r of receipts) expect(verifies(r.document)).toBe(true);
    expect(verifies({ ...receipts[0].document, cost: 0.0046 })).toBe(false);
    expect(verifies(receipts[0].document, otherKey)).toBe(false);
  });

  it('migrates to latest, moving alias ids to alias names', async () => {
    await db.migrate.latest();
    const [, pending] = (await db.migrate.list()) as [unknown[], string[]];
    expect(pending).toEqual([]);

    const rows: LogAfter[] = await db('usage_logs').select(
      'id',
      'alias_name',
      'occurred_at',
      'created_at',
      'cost_source',
    );
    expect(rows).toHaveLength(logs.length);
    for (const l of logs) {
      const row = rows.find((r) => r.id === l.id);
      expect(row).toBeDefined();
      expect({ id: l.id, alias_name: row!.alias_name }).toEqual({
        id: l.id,
        alias_name: l.alias?.name ?? null,
      });
      expect(new Date(row!.occurred_at).getTime()).toBe(l.created_at.getTime());
      expect(new Date(row!.created_at).getTime()).toBe(l.created_at.getTime());
      expect(row!.cost_source).toBe('client');
    }
    firstAliasNames = new Map(rows.map((r) => [r.id, r.alias_name]));

    const receiptRows = await expectReceiptsUnchanged(db);
    for (const r of receipts) {
      expect(receiptRows.find((x) => x.id === r.id)?.alias_name).toBe(r.alias?.name ?? null);
    }
  });

  it('keeps every API key working: its hash finds its live project', async () => {
    for (const k of keys) {
      const row = await db('api_keys as k')
        .join('projects as p', 'p.id', 'k.project_id')
        .where('k.key_hash', sha256(k.secret))
        .whereNull('p.archived_at')
        .first('k.id', 'k.project_id', 'k.key_prefix', 'k.revoked_at', 'p.key');
      expect(row).toMatchObject({ id: k.id, project_id: k.project.id, key_prefix: k.secret.slice(0, 12) });
      expect(row.revoked_at === null).toBe(!k.revoked);
    }
    expect(await db('api_keys').where('key_hash', sha256('not a key')).first()).toBeUndefined();
  });

  it('gives every project a unique URL-safe key derived from its name', async () => {
    const rows: Array<{ id: string; name: string; key: string; archived_at: Date | null }> = await db(
      'projects',
    ).select('id', 'name', 'key', 'archived_at');
    expect(rows).toHaveLength(projects.length);
    for (const p of projects) {
      const row = rows.find((r) => r.id === p.id);
      expect(row).toMatchObject({ name: p.name, key: p.expectedKey, archived_at: null });
      expect(row!.key).toMatch(PROJECT_KEY_PATTERN);
    }
    expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
    await expect(db('projects').insert({ name: 'dup', key: 'client-a' })).rejects.toThrow();
    firstKeys = await projectKeys(db);
    firstCounts = await counts(db);
  });

  it('drops the alias tables, the alias_id columns and everything that referred to them', async () => {
    const tables = await tableNames(db);
    for (const gone of ['aliases', 'alias_sync_state', 'alias_sync_events'])
      expect(tables).not.toContain(gone);
    for (const kept of ['projects', 'api_keys', 'usage_logs', 'receipts']) expect(tables).toContain(kept);

    expect(await columnNames(db, 'usage_logs')).toEqual(
      expect.arrayContaining(['alias_name', 'occurred_at', 'cost_source', 'idempotency_key']),
    );
    expect(await columnNames(db, 'usage_logs')).not.toContain('alias_id');
    expect(await columnNames(db, 'receipts')).toEqual(expect.arrayContaining(['alias_name']));
    expect(await columnNames(db, 'receipts')).not.toContain('alias_id');
    const aliasColumns = await query(
      db,
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name = 'alias_id'`,
    );
    expect(aliasColumns).toEqual([]);

    const fks = await foreignKeys(db);
    expect(fks.filter((fk) => /alias/.test(fk.referenced) || /alias_id/.test(fk.def))).toEqual([]);
    expect(fks.length).toBeGreaterThan(0); // the query does see foreign keys (e.g. api_keys -> projects)
    const indexes = await query<{ indexdef: string }>(
      db,
      `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'`,
    );
    expect(indexes.filter((i) => /alias_id|\baliases\b|alias_sync/.test(i.indexdef))).toEqual([]);
  });

  it('rolls back all: the legacy structure returns and every log points at an alias of its name', async () => {
    await db.migrate.rollback(undefined, true);
    expect(await db.migrate.currentVersion()).toBe('none');
    expect(await structure(db)).toEqual(legacyStructure);

    const fks = await foreignKeys(db);
    for (const table of ['usage_logs', 'receipts']) {
      expect(fks).toContainEqual({
        table_name: table,
        referenced: 'aliases',
        def: 'FOREIGN KEY (alias_id) REFERENCES aliases(id)',
      });
    }

    const rows: Array<{
      id: string;
      project_id: string;
      profile: string;
      alias_id: string | null;
      a_project_id: string | null;
      a_profile: string | null;
      a_name: string | null;
      a_model: string | null;
    }> = await db('usage_logs as u')
      .leftJoin('aliases as a', 'a.id', 'u.alias_id')
      .select(
        'u.id',
        'u.project_id',
        'u.profile',
        'u.alias_id',
        'a.project_id as a_project_id',
        'a.profile as a_profile',
        'a.name as a_name',
        'a.model as a_model',
      );
    expect(rows).toHaveLength(logs.length);
    for (const l of logs) {
      const row = rows.find((r) => r.id === l.id)!;
      if (!l.alias) {
        expect(row.alias_id).toBeNull();
        continue;
      }
      expect(row).toMatchObject({
        a_name: l.alias.name,
        a_project_id: l.project.id,
        a_profile: l.profile,
        a_model: lastBinding(l.project, l.profile, l.alias.name),
      });
    }

    const receiptRows: Array<{
      id: string;
      alias_id: string | null;
      a_project_id: string;
      a_profile: string;
      a_name: string;
      a_model: string;
    }> = await db('receipts as r')
      .leftJoin('aliases as a', 'a.id', 'r.alias_id')
      .select(
        'r.id',
        'r.alias_id',
        'a.project_id as a_project_id',
        'a.profile as a_profile',
        'a.name as a_name',
        'a.model as a_model',
      );
    for (const r of receipts) {
      const row = receiptRows.find((x) => x.id === r.id)!;
      if (!r.alias) {
        expect(row.alias_id).toBeNull();
        continue;
      }
      expect(row).toMatchObject({
        a_name: r.alias.name,
        a_project_id: r.project.id,
        a_profile: r.log?.profile ?? 'default',
      });
      if (!r.log) {
        // No log to take the model from: the binding the receipt itself recorded.
        expect(row.a_model).toBe((r.document.alias as { resolved_model: string }).resolved_model);
      }
    }
    await expectReceiptsUnchanged(db);

    // One alias per distinct (project, profile, name) in use; the never-called one is gone by design.
    const restored: Array<{ name: string }> = await db('aliases').select('name');
    expect(restored.map((a) => a.name).sort()).toEqual(
      aliases
        .filter((a) => a !== unusedA)
        .map((a) => a.name)
        .sort(),
    );
    // Sync history cannot come back either: the tables return empty.
    for (const table of ['alias_sync_state', 'alias_sync_events']) {
      const [row] = await db(table).count<{ n: number | string }[]>({ n: '*' });
      expect(Number(row.n)).toBe(0);
    }

    const keyHashes: Array<{ key_hash: string }> = await db('api_keys').select('key_hash');
    expect(keyHashes.map((k) => k.key_hash).sort()).toEqual(keys.map((k) => sha256(k.secret)).sort());
    expect(await counts(db)).toEqual(firstCounts);
  });

  it('migrates forward again with no alias name, log, receipt, project or key lost', async () => {
    await db.migrate.latest();
    const rows: Array<{ id: string; alias_name: string | null }> = await db('usage_logs').select(
      'id',
      'alias_name',
    );
    expect(new Map(rows.map((r) => [r.id, r.alias_name]))).toEqual(firstAliasNames);
    expect(await counts(db)).toEqual(firstCounts);
    expect(await projectKeys(db)).toEqual(firstKeys);

    const receiptRows = await expectReceiptsUnchanged(db);
    for (const r of receipts) {
      expect(receiptRows.find((x) => x.id === r.id)?.alias_name).toBe(r.alias?.name ?? null);
    }
    expect(await tableNames(db)).not.toContain('aliases');
  });
});

describe('the baseline on an existing database', () => {
  beforeEach(emptyDatabase);

  it('adopts a legacy deployment that never had Knex, keeping its rows', async () => {
    await db.migrate.up();
    await db('projects').insert({ id: pA.id, name: 'Legacy Project', created_at: pA.created_at });
    await db('api_keys').insert({
      id: kA.id,
      project_id: pA.id,
      name: 'legacy',
      key_hash: sha256(kA.secret),
      key_prefix: kA.secret.slice(0, 12),
    });
    await db('aliases').insert({
      id: sumA.id,
      project_id: pA.id,
      name: 'summarizer',
      model: 'openai:gpt-4o',
    });
    await db('usage_logs').insert([
      {
        id: l1.id,
        project_id: pA.id,
        api_key_id: kA.id,
        alias_id: sumA.id,
        provider: 'openai',
        model: 'gpt-4o',
        input_tokens: 1,
        output_tokens: 2,
        cost: '0.1',
      },
      {
        id: l2.id,
        project_id: pA.id,
        provider: 'openai',
        model: 'gpt-4o',
        input_tokens: 1,
        output_tokens: 2,
        cost: '0.1',
      },
    ]);
    // A legacy deployment has the tables and no Knex bookkeeping at all.
    await db.schema.dropTable('knex_migrations');
    await db.schema.dropTable('knex_migrations_lock');

    await db.migrate.latest();
    const [, pending] = (await db.migrate.list()) as [unknown[], string[]];
    expect(pending).toEqual([]);
    expect(await db('projects').select('id', 'name', 'key')).toEqual([
      { id: pA.id, name: 'Legacy Project', key: 'legacy-project' },
    ]);
    expect(await db('usage_logs').select('id', 'alias_name').orderBy('alias_name')).toEqual([
      { id: l1.id, alias_name: 'summarizer' },
      { id: l2.id, alias_name: null },
    ]);
    expect(
      await db('api_keys')
        .where({ key_hash: sha256(kA.secret) })
        .first('project_id'),
    ).toEqual({ project_id: pA.id });
    expect(await tableNames(db)).not.toContain('aliases');
  });

  it('refuses a database holding only some of the legacy tables, with a clear message', async () => {
    await db.raw(`CREATE TABLE projects (id uuid PRIMARY KEY, name varchar(255) NOT NULL)`);
    await db.raw(`CREATE TABLE usage_logs (id uuid PRIMARY KEY)`);
    await db('projects').insert({ id: pA.id, name: 'kept' });

    const quiet = jest.spyOn(console, 'log').mockImplementation(() => undefined); // Knex logs the failure
    const error = await db.migrate.latest().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    quiet.mockRestore();
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(
      /some legacy tables \((projects, usage_logs|usage_logs, projects)\) but not all/,
    );
    expect(error!.message).toMatch(/aliases/);

    // Nothing was applied or created, and the existing rows are untouched.
    expect(await db.migrate.currentVersion()).toBe('none');
    expect((await tableNames(db)).filter((n) => !n.startsWith('knex_'))).toEqual(['projects', 'usage_logs']);
    expect(await db('projects').select('id', 'name')).toEqual([{ id: pA.id, name: 'kept' }]);
  });
});
