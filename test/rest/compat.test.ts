/**
 * The original Python server's REST routes, over HTTP, with the payloads its clients send
 * (llmring's logging service posts exactly these bodies to /api/v1/log), and the original
 * response shapes: 401 without or with a bad key, 400 naming the field.
 */
import type { Project } from '../../src/domain/types';
import { asAdmin, createProjectWithKey, startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;
let otherKey: string;
let project: Project;

beforeAll(async () => {
  server = await startTestServer();
  otherKey = (await createProjectWithKey(server, 'other')).secret;
  project = (await server.app.services.projects.getByKey('default'))!;
});
afterAll(() => server?.close());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read loosely typed JSON
type Json = any;

async function call(
  path: string,
  init: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Json }> {
  const res = await server.http(path, {
    method: init.body === undefined ? 'GET' : 'POST',
    headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: res.status, body: await res.json() };
}

const key = () => ({ 'X-API-Key': server.firstKey });

/** Every field llmring's UsageLogRequest has. */
const FULL = {
  model: 'gpt-4o',
  provider: 'openai',
  input_tokens: 1200,
  output_tokens: 300,
  cached_input_tokens: 200,
  alias: 'summarizer',
  profile: 'prod',
  cost: 0.0123,
  latency_ms: 850,
  origin: 'llmring',
  id_at_origin: 'conv-1',
  metadata: { model_alias: 'openai:gpt-4o', finish_reason: 'stop' },
};

test('POST /api/v1/log stores the call and answers {log_id, cost, timestamp} with the signed receipt', async () => {
  const res = await call('/api/v1/log', { body: FULL, headers: key() });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ log_id: expect.stringMatching(/^[0-9a-f-]{36}$/), cost: 0.0123 });
  expect(Date.parse(res.body.timestamp)).toBeGreaterThan(Date.now() - 60_000);
  expect(res.body.receipt_id).toMatch(/^rcpt_/);
  expect(res.body.receipt).toMatchObject({
    receipt_id: res.body.receipt_id,
    usage_log_id: res.body.log_id,
    project_key: 'default',
    alias_name: 'summarizer',
    model_used: 'gpt-4o',
    tokens: { input: 1200, output: 300, cached_input: 200 },
    cost: { amount: '0.01230000', currency: 'USD', source: 'client' },
  });
  const verified = await server.gql('query($d: JSONObject!) { verifyReceipt(document: $d) { valid } }', {
    d: res.body.receipt,
  });
  expect(verified.body.data?.verifyReceipt.valid).toBe(true);

  const logs = await call('/api/v1/logs?limit=1', { headers: key() });
  expect(logs.body).toEqual([
    expect.objectContaining({
      id: res.body.log_id,
      model: 'gpt-4o',
      provider: 'openai',
      alias: 'summarizer',
      profile: 'prod',
      origin: 'llmring',
      id_at_origin: 'conv-1',
      input_tokens: 1200,
      output_tokens: 300,
      cached_input_tokens: 200,
      cost: 0.0123,
      latency_ms: 850,
      metadata: FULL.metadata,
      logged_at: res.body.timestamp,
    }),
  ]);
});

test("llmring's metadata-only body (no alias, profile or cost) is priced from the registry; X-Project-Key works", async () => {
  const body = {
    model: 'gpt-4o',
    provider: 'openai',
    input_tokens: 1000,
    output_tokens: 100,
    cached_input_tokens: 0,
    origin: 'llmring',
    metadata: { model_alias: 'openai:gpt-4o', finish_reason: null },
  };
  const res = await call('/api/v1/log', { body, headers: { 'X-Project-Key': server.firstKey } });
  expect(res.status).toBe(200);
  expect(res.body.cost).toBeGreaterThan(0);
  expect(res.body.receipt.cost.source).toBe('registry');
  expect(res.body.receipt.alias_name).toBeNull();
});

test('an Idempotency-Key header makes a retry replay the first result', async () => {
  const headers = { ...key(), 'Idempotency-Key': 'retry-1' };
  const first = await call('/api/v1/log', { body: FULL, headers });
  const second = await call('/api/v1/log', { body: FULL, headers });
  expect(second.status).toBe(200);
  expect(second.body).toMatchObject({
    log_id: first.body.log_id,
    receipt_id: first.body.receipt_id,
    replayed: true,
  });
});

test('401 without a key or with a bad one, 403 for the admin token, 400 naming the field', async () => {
  for (const path of ['/api/v1/log', '/api/v1/stats', '/api/v1/logs']) {
    const body = path === '/api/v1/log' ? FULL : undefined;
    const none = await call(path, { body });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({
      code: 'UNAUTHENTICATED',
      detail: expect.stringContaining('X-API-Key'),
    });
    const bad = await call(path, { body, headers: { 'X-API-Key': 'lrs_not-a-key' } });
    expect(bad.status).toBe(401);
    expect(bad.body.code).toBe('UNAUTHENTICATED');
  }
  const admin = await call('/api/v1/log', { body: FULL, headers: asAdmin });
  expect(admin.status).toBe(403);

  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ ...FULL, input_tokens: 'many' }, 'input_tokens', /^input_tokens: must be an integer/],
    [{ ...FULL, model: undefined }, 'model', /^model: is required/],
    [{ ...FULL, output_tokens: -1 }, 'output_tokens', /^output_tokens: must be a non-negative integer/],
    [{ ...FULL, metadata: [1] }, 'metadata', /^metadata: must be an object/],
    [{ ...FULL, cost: -2 }, 'cost', /^cost: must be a finite number/],
  ];
  for (const [body, field, detail] of cases) {
    const res = await call('/api/v1/log', { body, headers: key() });
    expect([res.status, res.body.field]).toEqual([400, field]);
    expect(res.body.detail).toMatch(detail);
  }
  // Parts above their totals are a convention to read, not an error: stored, with a warning
  // (test/compat covers each provider's payloads).
  const parts = await call('/api/v1/log', { body: { ...FULL, cached_input_tokens: 5000 }, headers: key() });
  expect(parts.status).toBe(200);
  expect(parts.body.warnings).toEqual([expect.stringMatching(/exceed input_tokens/)]);
});

describe('GET /api/v1/stats and /api/v1/logs', () => {
  const at = (month: number, day: number, hour: number) => new Date(Date.UTC(2025, month - 1, day, hour));
  const range = 'start_date=2025-03-01&end_date=2025-04-30';

  beforeAll(async () => {
    const caller = { project, apiKeyId: null };
    const log = (input: Record<string, unknown>) =>
      server.app.services.usage.record(caller, {
        provider: 'openai',
        model: 'gpt-4o',
        inputTokens: 1000,
        outputTokens: 100,
        cost: 0.01,
        ...input,
      });
    await log({ occurredAt: at(3, 3, 10), aliasName: 'summarizer', origin: 'web' }); // Monday
    await log({
      occurredAt: at(3, 3, 15),
      provider: 'anthropic',
      model: 'claude-x',
      cost: 0.02,
      inputTokens: 500,
      outputTokens: 50,
    });
    await log({ occurredAt: at(3, 5, 9), aliasName: 'summarizer', origin: 'web' });
    await log({ occurredAt: at(3, 12, 9), aliasName: 'classifier', origin: 'batch', cost: 0.03 });
    await log({
      occurredAt: at(4, 2, 9),
      aliasName: 'classifier',
      origin: 'batch',
      provider: 'anthropic',
      model: 'claude-x',
      cost: 0.04,
    });
  });

  test('the original shape, with per-day totals over every model', async () => {
    const res = await call(`/api/v1/stats?${range}&group_by=day`, { headers: key() });
    expect(res.status).toBe(200);
    expect(res.body.summary).toMatchObject({
      total_requests: 5,
      total_cost: '0.11000000',
      total_tokens: 4 * 1100 + 550,
      unique_models: 2,
      unique_origins: 2,
    });
    expect(res.body.by_day.map((d: { date: string }) => d.date)).toEqual([
      '2025-04-02',
      '2025-03-12',
      '2025-03-05',
      '2025-03-03',
    ]);
    expect(res.body.by_day[3]).toMatchObject({
      date: '2025-03-03',
      requests: 2,
      cost: '0.03000000',
      top_model: 'claude-x',
      tokens: 1650,
      input_tokens: 1500,
      output_tokens: 150,
    });
    expect(res.body.by_model).toEqual({
      'gpt-4o': {
        requests: 3,
        cost: '0.05000000',
        input_tokens: 3000,
        output_tokens: 300,
        cached_input_tokens: 0,
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
      },
      'claude-x': {
        requests: 2,
        cost: '0.06000000',
        input_tokens: 1500,
        output_tokens: 150,
        cached_input_tokens: 0,
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
      },
    });
    expect(res.body.by_origin).toEqual({
      web: expect.objectContaining({ requests: 2, cost: 0.02 }),
      batch: expect.objectContaining({ requests: 2, cost: 0.07 }),
    });
    expect(Object.keys(res.body.by_alias).sort()).toEqual(['classifier', 'summarizer']);
    expect(res.body.by_alias.classifier).toMatchObject({ requests: 2, cost: '0.07000000' });
  });

  test('group_by week and month, date-times without an offset as UTC, and bad input', async () => {
    const dates = async (query: string) =>
      (await call(`/api/v1/stats?${query}`, { headers: key() })).body.by_day.map(
        (d: { date: string; requests: number }) => `${d.date}:${d.requests}`,
      );
    expect(await dates(`${range}&group_by=week`)).toEqual(['2025-03-31:1', '2025-03-10:1', '2025-03-03:3']);
    expect(await dates(`${range}&group_by=month`)).toEqual(['2025-04-01:1', '2025-03-01:4']);
    expect(await dates('start_date=2025-03-03T12:00:00&end_date=2025-03-05')).toEqual([
      '2025-03-05:1',
      '2025-03-03:1',
    ]);

    const other = await call(`/api/v1/stats?${range}`, { headers: { 'X-API-Key': otherKey } });
    expect(other.body.summary.total_requests).toBe(0);

    const bad: Array<[string, string]> = [
      [`${range}&group_by=year`, 'group_by'],
      ['start_date=yesterday', 'start_date'],
      ['start_date=2025-04-01&end_date=2025-03-01', 'start_date'],
      ['end_date=2025-02-30', 'end_date'],
    ];
    for (const [query, field] of bad) {
      const res = await call(`/api/v1/stats?${query}`, { headers: key() });
      expect([res.status, res.body.field]).toEqual([400, field]);
      expect(res.body.detail).toContain(field);
    }
  });

  test('logs: newest first, limit and offset, alias, model and origin filters', async () => {
    const ids = async (query: string) =>
      (await call(`/api/v1/logs?${range}&${query}`, { headers: key() })).body.map(
        (l: { occurred_at: string; alias: string | null }) => `${l.occurred_at.slice(5, 13)}:${l.alias}`,
      );
    expect(await ids('limit=2&offset=1')).toEqual(['03-12T09:classifier', '03-05T09:summarizer']);
    expect(await ids('alias=summarizer')).toEqual(['03-05T09:summarizer', '03-03T10:summarizer']);
    expect(await ids('model=claude-x')).toEqual(['04-02T09:classifier', '03-03T15:null']);
    expect(await ids('origin=batch&limit=1')).toEqual(['04-02T09:classifier']);
    expect(await ids('limit=0')).toHaveLength(1);

    const bad = await call('/api/v1/logs?limit=ten', { headers: key() });
    expect([bad.status, bad.body.field]).toEqual([400, 'limit']);
    const other = await call(`/api/v1/logs?${range}`, { headers: { 'X-API-Key': otherKey } });
    expect(other.body).toEqual([]);
  });
});
