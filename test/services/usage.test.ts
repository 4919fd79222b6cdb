/** UsageService.record / recordBatch on a real database (PGlite, or Postgres with TEST_DATABASE_URL). */
import type { ReceiptRow, UsageLogRow } from '../../src/db/tables';
import type { LogUsageInput } from '../../src/services/usage';
import {
  createServiceHarness,
  expectServiceError,
  seedProject,
  usageInput,
  type SeededProject,
  type ServiceHarness,
} from '../helpers/fixtures';

let h: ServiceHarness;
let p: SeededProject;

beforeAll(async () => {
  h = await createServiceHarness();
  p = await seedProject(h.services, { key: 'usage' });
});

afterAll(async () => {
  await h?.close();
});

const countLogs = async (projectId = p.project.id) =>
  Number((await h.db('usage_logs').where({ project_id: projectId }).count({ n: '*' }))[0].n);
const countReceipts = async (projectId = p.project.id) =>
  Number((await h.db('receipts').where({ project_id: projectId }).count({ n: '*' }))[0].n);

describe('recording arbitrary alias names', () => {
  const names: Array<[string, string]> = [
    ['a plain name', 'summarizer'],
    ['a name never seen before', `brand-new-${Date.now()}-${Math.random()}`],
    ['accents and CJK', 'résumé-摘要-요약'],
    ['emoji', '🦄✨ alias 🚀'],
    ['combining characters and RTL text', 'e\u0301 مرحبا'],
    ['spaces, quotes and SQL', `it's "quoted"; DROP TABLE usage_logs; --`],
    ['255 ASCII characters', 'a'.repeat(255)],
    ['255 non-ASCII characters', 'ü'.repeat(254) + '名'],
    ['an empty string', ''],
  ];

  it.each(names)('stores %s exactly, in the log and its receipt', async (_what, aliasName) => {
    const result = await h.services.usage.record(p.caller, usageInput({ aliasName }));
    expect(result.replayed).toBe(false);
    expect(result.usageLog.aliasName).toBe(aliasName);
    expect(result.receipt.aliasName).toBe(aliasName);
    expect(result.receipt.document.alias_name).toBe(aliasName);

    const row = await h.db<UsageLogRow>('usage_logs').where({ id: result.usageLog.id }).first();
    expect(row!.alias_name).toBe(aliasName);
    expect(await h.services.usage.getById(result.usageLog.id)).toEqual(result.usageLog);
    const receipt = await h.db<ReceiptRow>('receipts').where({ usage_log_id: result.usageLog.id }).first();
    expect(receipt!.alias_name).toBe(aliasName);
  });

  it('stores a call without an alias with a null alias name (omitted or null)', async () => {
    for (const input of [
      usageInput(),
      usageInput({ aliasName: null }),
      usageInput({ aliasName: undefined }),
    ]) {
      const result = await h.services.usage.record(p.caller, input);
      expect(result.usageLog.aliasName).toBeNull();
      expect(result.receipt.document.alias_name).toBeNull();
      const row = await h.db<UsageLogRow>('usage_logs').where({ id: result.usageLog.id }).first();
      expect(row!.alias_name).toBeNull();
    }
  });

  it('needs no alias storage: there is no aliases table to register names in', async () => {
    const tables = await h
      .db('information_schema.tables')
      .where({ table_schema: 'public' })
      .whereIn('table_name', ['aliases', 'alias_sync_state', 'alias_sync_events']);
    expect(tables).toEqual([]);
  });
});

describe('what a recorded log holds', () => {
  it('keeps every field as given, with the caller’s project and key', async () => {
    const occurredAt = new Date(Date.now() - 3_600_000);
    const input: LogUsageInput = {
      provider: 'anthropic',
      model: 'claude-x-test',
      aliasName: 'writer',
      inputTokens: 1200,
      outputTokens: 345,
      cachedInputTokens: 200,
      cost: 0.0123456789,
      latencyMs: 870,
      origin: 'web-app',
      idAtOrigin: 'msg_123',
      profile: 'prod',
      metadata: { user: 'u-1', tags: ['a', 'b'], nested: { ok: true, n: 1.5 } },
      occurredAt,
      idempotencyKey: 'fields-1',
    };
    const before = Date.now();
    const { usageLog, receipt } = await h.services.usage.record(p.caller, input);
    expect(usageLog).toMatchObject({
      projectId: p.project.id,
      apiKeyId: p.apiKey.id,
      provider: 'anthropic',
      model: 'claude-x-test',
      aliasName: 'writer',
      inputTokens: 1200,
      outputTokens: 345,
      cachedInputTokens: 200,
      cost: '0.01234568', // rounded half-up to 8 digits
      costSource: 'client',
      latencyMs: 870,
      origin: 'web-app',
      idAtOrigin: 'msg_123',
      profile: 'prod',
      metadata: input.metadata,
      occurredAt,
      idempotencyKey: 'fields-1',
      pricing: null,
    });
    expect(usageLog.receivedAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect(receipt).toMatchObject({ projectId: p.project.id, usageLogId: usageLog.id });
    expect(h.services.receipts.verify(receipt.document)).toMatchObject({ valid: true });
  });

  it('returns the log and receipt stored, field for field (one call, and a batch signed off the event loop)', async () => {
    const single = await h.services.usage.record(p.caller, usageInput({ aliasName: 'a ' }));
    const batch = await h.services.usage.recordBatch(
      p.caller,
      Array.from({ length: 20 }, (_, i) =>
        usageInput({ aliasName: i % 3 ? `alias-${i}` : null, cost: i % 2 ? 0.25 : null }),
      ),
    );
    for (const { usageLog, receipt } of [single, ...batch]) {
      expect(await h.services.usage.getById(usageLog.id)).toEqual(usageLog);
      expect(await h.services.receipts.find(receipt.receiptId, null)).toEqual(receipt);
    }
  });

  it('defaults the profile, cached tokens, metadata and occurredAt', async () => {
    const before = Date.now();
    const { usageLog } = await h.services.usage.record(p.caller, {
      provider: 'openai',
      model: 'gpt-4o',
      inputTokens: 10,
      outputTokens: 5,
    });
    expect(usageLog).toMatchObject({
      profile: 'default',
      cachedInputTokens: 0,
      metadata: {},
      origin: null,
      latencyMs: null,
      idempotencyKey: null,
    });
    expect(usageLog.occurredAt.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(usageLog.occurredAt.getTime()).toBeLessThanOrEqual(Date.now() + 1);
  });

  it('accepts the limits themselves: 16 KiB of metadata, occurredAt 4 minutes ahead, 0 tokens', async () => {
    const filler = 'x'.repeat(16 * 1024 - JSON.stringify({ a: '' }).length);
    const metadata = { a: filler };
    expect(Buffer.byteLength(JSON.stringify(metadata))).toBe(16 * 1024);
    const { usageLog } = await h.services.usage.record(
      p.caller,
      usageInput({
        metadata,
        occurredAt: new Date(Date.now() + 4 * 60_000),
        inputTokens: 0,
        outputTokens: 0,
      }),
    );
    expect(usageLog.metadata).toEqual(metadata);
  });
});

describe('validation names the field and stores nothing', () => {
  const tooBigMetadata = { a: 'x'.repeat(16 * 1024 - JSON.stringify({ a: '' }).length + 1) };
  const cases: Array<[string, Partial<LogUsageInput> | (() => Partial<LogUsageInput>), string]> = [
    ['cachedInputTokens > inputTokens', { inputTokens: 10, cachedInputTokens: 11 }, 'cachedInputTokens'],
    ['negative inputTokens', { inputTokens: -1 }, 'inputTokens'],
    ['fractional outputTokens', { outputTokens: 1.5 }, 'outputTokens'],
    ['tokens over the int range', { outputTokens: 2 ** 31 }, 'outputTokens'],
    ['empty provider', { provider: '' }, 'provider'],
    ['blank provider', { provider: '   ' }, 'provider'],
    ['empty model', { model: '' }, 'model'],
    ['model over 255 characters', { model: 'm'.repeat(256) }, 'model'],
    ['aliasName over 255 characters', { aliasName: 'a'.repeat(256) }, 'aliasName'],
    ['origin over 255 characters', { origin: 'o'.repeat(256) }, 'origin'],
    ['idAtOrigin over 255 characters', { idAtOrigin: 'i'.repeat(256) }, 'idAtOrigin'],
    ['idempotencyKey over 255 characters', { idempotencyKey: 'k'.repeat(256) }, 'idempotencyKey'],
    ['metadata over 16 KiB', { metadata: tooBigMetadata }, 'metadata'],
    ['metadata that is an array', { metadata: [1, 2] as unknown as Record<string, unknown> }, 'metadata'],
    ['metadata that is a string', { metadata: 'x' as unknown as Record<string, unknown> }, 'metadata'],
    ['a NUL byte in aliasName', { aliasName: 'a\u0000b' }, 'aliasName'],
    ['a NUL byte in model', { model: 'gpt\u0000' }, 'model'],
    ['a NUL byte in a metadata value', { metadata: { note: 'a\u0000b' } }, 'metadata'],
    ['a NUL byte in a metadata key', { metadata: { 'k\u0000': 1 } }, 'metadata'],
    ['a lone surrogate in aliasName', { aliasName: 'x\ud800' }, 'aliasName'],
    ['a lone surrogate in origin', { origin: '\udc00y' }, 'origin'],
    ['a lone surrogate in metadata', { metadata: { deep: ['\ud83d'] } }, 'metadata'],
    ['a negative cost', { cost: -0.01 }, 'cost'],
    ['a NaN cost', { cost: Number.NaN }, 'cost'],
    ['an infinite cost', { cost: Number.POSITIVE_INFINITY }, 'cost'],
    [
      'occurredAt more than 5 minutes ahead',
      () => ({ occurredAt: new Date(Date.now() + 6 * 60_000) }),
      'occurredAt',
    ],
    ['occurredAt before 2000', { occurredAt: new Date('1999-12-31T23:59:59Z') }, 'occurredAt'],
    ['an invalid occurredAt', { occurredAt: new Date('not a date') }, 'occurredAt'],
    ['a negative latency', { latencyMs: -5 }, 'latencyMs'],
  ];

  it.each(cases)('rejects %s', async (_what, overrides, field) => {
    const before = await countLogs();
    const input = usageInput(typeof overrides === 'function' ? overrides() : overrides);
    await expectServiceError(h.services.usage.record(p.caller, input), 'BAD_USER_INPUT', `input.${field}`);
    await expectServiceError(
      h.services.usage.recordBatch(p.caller, [usageInput(), usageInput(), input]),
      'BAD_USER_INPUT',
      `inputs[2].${field}`,
    );
    expect(await countLogs()).toBe(before);
  });

  it('rejects a batch of more than 1000 items, naming inputs', async () => {
    const before = await countLogs();
    const inputs = Array.from({ length: 1001 }, () => usageInput());
    await expectServiceError(h.services.usage.recordBatch(p.caller, inputs), 'BAD_USER_INPUT', 'inputs');
    expect(await countLogs()).toBe(before);
  });

  it('stores a batch of exactly 1000 items, each with its own receipt', async () => {
    const logsBefore = await countLogs();
    const receiptsBefore = await countReceipts();
    const results = await h.services.usage.recordBatch(
      p.caller,
      Array.from({ length: 1000 }, (_, i) => usageInput({ aliasName: `bulk-${i}`, inputTokens: i })),
    );
    expect(results).toHaveLength(1000);
    expect(results.map((r) => r.usageLog.aliasName)).toEqual(results.map((_, i) => `bulk-${i}`));
    expect(new Set(results.map((r) => r.receipt.receiptId)).size).toBe(1000);
    expect(results.every((r) => r.receipt.usageLogId === r.usageLog.id)).toBe(true);
    expect(await countLogs()).toBe(logsBefore + 1000);
    expect(await countReceipts()).toBe(receiptsBefore + 1000);
  });

  it('an empty batch stores nothing and returns nothing', async () => {
    const before = await countLogs();
    expect(await h.services.usage.recordBatch(p.caller, [])).toEqual([]);
    expect(await countLogs()).toBe(before);
  });

  it('a batch is atomic: one bad item anywhere stores none of the others', async () => {
    const logsBefore = await countLogs();
    const receiptsBefore = await countReceipts();
    const good = (i: number) => usageInput({ aliasName: `atomic-${i}`, idempotencyKey: `atomic-${i}` });
    for (const badAt of [0, 2, 4]) {
      const inputs = [good(0), good(1), good(2), good(3), good(4)];
      inputs[badAt] = { ...inputs[badAt], model: '' };
      await expectServiceError(
        h.services.usage.recordBatch(p.caller, inputs),
        'BAD_USER_INPUT',
        `inputs[${badAt}].model`,
      );
    }
    expect(await countLogs()).toBe(logsBefore);
    expect(await countReceipts()).toBe(receiptsBefore);
    // Nothing half-stored either: the idempotency keys are still free.
    const results = await h.services.usage.recordBatch(p.caller, [good(0), good(1)]);
    expect(results.map((r) => r.replayed)).toEqual([false, false]);
  });

  it('a batch the database rejects after validation stores nothing', async () => {
    const logsBefore = await countLogs();
    const receiptsBefore = await countReceipts();
    // A key id that does not exist: the insert violates a foreign key, after validation passed.
    const badCaller = { project: p.project, apiKeyId: '00000000-0000-4000-8000-000000000000' };
    await expect(h.services.usage.recordBatch(badCaller, [usageInput(), usageInput()])).rejects.toThrow();
    expect(await countLogs()).toBe(logsBefore);
    expect(await countReceipts()).toBe(receiptsBefore);
  });
});

describe('idempotency', () => {
  it('the same key twice stores one log and replays the first result', async () => {
    const before = await countLogs();
    const first = await h.services.usage.record(
      p.caller,
      usageInput({ idempotencyKey: 'retry-1', cost: 0.5 }),
    );
    // A retry may even differ in its payload: the first call wins.
    const second = await h.services.usage.record(
      p.caller,
      usageInput({ idempotencyKey: 'retry-1', cost: 9, model: 'other' }),
    );
    expect(first.replayed).toBe(false);
    expect(second.replayed).toBe(true);
    expect(second.usageLog).toEqual(first.usageLog);
    expect(second.receipt).toEqual(first.receipt);
    expect(second.usageLog.cost).toBe('0.50000000');
    expect(await countLogs()).toBe(before + 1);
    expect(await h.db('usage_logs').where({ idempotency_key: 'retry-1' })).toHaveLength(1);
    expect(await h.db('receipts').where({ usage_log_id: first.usageLog.id })).toHaveLength(1);
  });

  it('replays inside a batch: repeats of a key return the first item’s result', async () => {
    const before = await countLogs();
    const results = await h.services.usage.recordBatch(p.caller, [
      usageInput({ idempotencyKey: 'dup-a', aliasName: 'first' }),
      usageInput({ idempotencyKey: 'dup-a', aliasName: 'second' }),
      usageInput({ idempotencyKey: 'dup-b' }),
      usageInput(),
      usageInput({ idempotencyKey: 'dup-a', aliasName: 'third' }),
    ]);
    expect(results.map((r) => r.replayed)).toEqual([false, true, false, false, true]);
    expect(results[1].usageLog).toEqual(results[0].usageLog);
    expect(results[4].receipt).toEqual(results[0].receipt);
    expect(results[1].usageLog.aliasName).toBe('first');
    expect(new Set(results.map((r) => r.usageLog.id)).size).toBe(3);
    expect(await countLogs()).toBe(before + 3);
  });

  it('replays keys stored by an earlier request inside a new batch', async () => {
    const earlier = await h.services.usage.record(p.caller, usageInput({ idempotencyKey: 'earlier-1' }));
    const before = await countLogs();
    const results = await h.services.usage.recordBatch(p.caller, [
      usageInput({ idempotencyKey: 'fresh-1' }),
      usageInput({ idempotencyKey: 'earlier-1' }),
    ]);
    expect(results.map((r) => r.replayed)).toEqual([false, true]);
    expect(results[1].usageLog).toEqual(earlier.usageLog);
    expect(results[1].receipt).toEqual(earlier.receipt);
    expect(await countLogs()).toBe(before + 1);
  });

  it('concurrent requests with the same key store one log', async () => {
    const before = await countLogs();
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        h.services.usage.record(p.caller, usageInput({ idempotencyKey: 'race-1' })),
      ),
    );
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(new Set(results.map((r) => r.usageLog.id)).size).toBe(1);
    expect(new Set(results.map((r) => r.receipt.receiptId)).size).toBe(1);
    expect(await countLogs()).toBe(before + 1);
  });

  it('keys are per project: the same key in another project is a new call', async () => {
    const other = await seedProject(h.services);
    const a = await h.services.usage.record(p.caller, usageInput({ idempotencyKey: 'shared-key' }));
    const b = await h.services.usage.record(other.caller, usageInput({ idempotencyKey: 'shared-key' }));
    expect(b.replayed).toBe(false);
    expect(b.usageLog.id).not.toBe(a.usageLog.id);
    expect(b.usageLog.projectId).toBe(other.project.id);
    expect(await countLogs(other.project.id)).toBe(1);
  });

  it('calls without a key are never deduplicated', async () => {
    const before = await countLogs();
    const [a, b] = [
      await h.services.usage.record(p.caller, usageInput()),
      await h.services.usage.record(p.caller, usageInput()),
    ];
    expect(a.usageLog.id).not.toBe(b.usageLog.id);
    expect(await countLogs()).toBe(before + 2);
  });
});
