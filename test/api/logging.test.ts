/**
 * logUsageBatch is atomic (one bad item, or a failure while storing, stores nothing) and
 * bounded at 1000 items; idempotency keys replay the first result, in logUsage, within a
 * batch, across batches and under concurrent retries.
 */
import {
  createProjectWithKey,
  dataOf,
  errorCodes,
  startTestServer,
  withKey,
  type GraphQLResponse,
  type TestProject,
  type TestServer,
} from '../helpers/server';

let server: TestServer;
let project: TestProject;

beforeAll(async () => {
  server = await startTestServer();
  project = await createProjectWithKey(server, 'logging');
});
afterAll(() => server?.close());

const RESULT = 'replayed usageLog { id model occurredAt } receipt { receiptId signature document }';
const LOG = `mutation($input: LogUsageInput!) { logUsage(input: $input) { ${RESULT} } }`;
const BATCH = `mutation($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { ${RESULT} } } }`;

interface Result {
  replayed: boolean;
  usageLog: { id: string; model: string; occurredAt: string };
  receipt: { receiptId: string; signature: string; document: Record<string, unknown> };
}

const call = (n: number, extra: Record<string, unknown> = {}) => ({
  provider: 'openai',
  model: 'gpt-4.1',
  aliasName: `alias-${n % 7}`,
  inputTokens: 100 + n,
  outputTokens: 10,
  ...extra,
});

const logUsage = async (input: Record<string, unknown>): Promise<Result> =>
  dataOf(await server.gql(LOG, { input }, withKey(project.secret))).logUsage;
const batch = (inputs: Array<Record<string, unknown>>) =>
  server.gql(BATCH, { inputs }, withKey(project.secret));
const batchResults = async (inputs: Array<Record<string, unknown>>): Promise<Result[]> =>
  dataOf(await batch(inputs)).logUsageBatch.results;

/** Statistics cover at most 10 years: these include every log of these tests. */
const STATS_WINDOW = {
  startDate: new Date(Date.now() - 9 * 365 * 24 * 3600 * 1000).toISOString(),
  endDate: new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString(),
};

/** What is stored for the project: logs as the API counts them, receipts as the database holds them. */
async function stored(): Promise<{ logs: number; receipts: number }> {
  const res = await server.gql(
    'query ($f: UsageFilter) { usageStats(filter: $f) { summary { requests } } }',
    { f: STATS_WINDOW },
    withKey(project.secret),
  );
  const [{ n }] = await server.app.db('receipts').where({ project_id: project.id }).count({ n: '*' });
  return { logs: dataOf(res).usageStats.summary.requests, receipts: Number(n) };
}

function expectBadInput(res: GraphQLResponse<unknown>, field: string) {
  expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
  expect(res.body.errors![0].extensions?.field).toBe(field);
  expect(res.body.errors![0].message).toContain(field);
  expect(res.body.data).toBeNull();
}

describe('logUsageBatch', () => {
  test('stores every item with its receipt and returns results in input order', async () => {
    const before = await stored();
    const inputs = [0, 1, 2, 3, 4].map((n) => call(n, { model: `model-${n}` }));
    const results = await batchResults(inputs);
    expect(results.map((r) => r.usageLog.model)).toEqual([
      'model-0',
      'model-1',
      'model-2',
      'model-3',
      'model-4',
    ]);
    expect(results.every((r) => !r.replayed)).toBe(true);
    expect(new Set(results.map((r) => r.receipt.receiptId)).size).toBe(5);
    expect(await stored()).toEqual({ logs: before.logs + 5, receipts: before.receipts + 5 });
  });

  test('an empty batch stores nothing', async () => {
    const before = await stored();
    expect(await batchResults([])).toEqual([]);
    expect(await stored()).toEqual(before);
  });

  test.each<[string, number, Record<string, unknown>]>([
    ['inputs[2].cachedInputTokens', 2, { inputTokens: 5, cachedInputTokens: 6 }],
    ['inputs[0].model', 0, { model: '' }],
    ['inputs[4].occurredAt', 4, { occurredAt: new Date(Date.now() + 3_600_000).toISOString() }],
    ['inputs[3].metadata', 3, { metadata: { big: 'x'.repeat(20_000) } }],
  ])('one invalid item stores nothing, and the error names it: %s', async (field, index, change) => {
    const before = await stored();
    const inputs = [0, 1, 2, 3, 4].map((n) => call(n, n === index ? change : {}));
    expectBadInput(await batch(inputs), field);
    expect(await stored()).toEqual(before);
  });

  test('a failure while storing rolls back the whole batch, logs included', async () => {
    const before = await stored();
    // Receipts are written after the logs, in the same transaction: make that write fail.
    await server.app.db.raw('ALTER TABLE receipts RENAME TO receipts_hidden');
    let res: GraphQLResponse;
    try {
      res = await batch([call(1), call(2), call(3)]);
    } finally {
      await server.app.db.raw('ALTER TABLE receipts_hidden RENAME TO receipts');
    }
    expect(errorCodes(res)).toEqual(['INTERNAL_SERVER_ERROR']);
    expect(await stored()).toEqual(before);
  });

  test('1001 items: BAD_USER_INPUT naming inputs, nothing stored; 1000 items are accepted', async () => {
    const before = await stored();
    const inputs = Array.from({ length: 1001 }, (_, n) => call(n));
    expectBadInput(await batch(inputs), 'inputs');
    expect(await stored()).toEqual(before);

    const results = await batchResults(inputs.slice(0, 1000));
    expect(results).toHaveLength(1000);
    expect(new Set(results.map((r) => r.usageLog.id)).size).toBe(1000);
    expect(await stored()).toEqual({ logs: before.logs + 1000, receipts: before.receipts + 1000 });
  });
});

describe('idempotent replays', () => {
  test('logUsage: a retry returns the first log and receipt with replayed: true and stores nothing', async () => {
    const input = call(1, { idempotencyKey: 'retry-1', occurredAt: '2026-11-20T10:00:00.000Z' });
    const first = await logUsage(input);
    const before = await stored();
    const again = await logUsage(input);
    expect(first.replayed).toBe(false);
    expect(again).toEqual({ ...first, replayed: true });
    // The first result wins even when the retry differs.
    const changed = await logUsage({ ...input, model: 'gpt-4.1-mini', occurredAt: undefined });
    expect(changed).toEqual({ ...first, replayed: true });
    expect(await stored()).toEqual(before);
  });

  test('within a batch: a repeated key replays the earlier item; a key stored before replays that call', async () => {
    const earlier = await logUsage(call(2, { idempotencyKey: 'stored-before' }));
    const before = await stored();
    const results = await batchResults([
      call(3, { idempotencyKey: 'stored-before' }),
      call(4, { idempotencyKey: 'in-batch' }),
      call(5),
      call(6, { idempotencyKey: 'in-batch' }),
    ]);
    expect(results.map((r) => r.replayed)).toEqual([true, false, false, true]);
    expect(results[0]).toEqual({ ...earlier, replayed: true });
    expect(results[3]).toEqual({ ...results[1], replayed: true });
    expect(results[2].usageLog.id).not.toBe(results[1].usageLog.id);
    expect(await stored()).toEqual({ logs: before.logs + 2, receipts: before.receipts + 2 });

    // Replaying the whole batch returns the same results and stores nothing.
    const replay = await batchResults([
      call(3, { idempotencyKey: 'stored-before' }),
      call(4, { idempotencyKey: 'in-batch' }),
      call(6, { idempotencyKey: 'in-batch' }),
    ]);
    expect(replay).toEqual([results[0], results[3], results[3]]);
    expect(await stored()).toEqual({ logs: before.logs + 2, receipts: before.receipts + 2 });
  });

  test('a rejected batch stores nothing, not even the items with new idempotency keys', async () => {
    const before = await stored();
    expectBadInput(
      await batch([call(1, { idempotencyKey: 'never-stored' }), call(2, { provider: '' })]),
      'inputs[1].provider',
    );
    expect(await stored()).toEqual(before);
    const later = await logUsage(call(1, { idempotencyKey: 'never-stored' }));
    expect(later.replayed).toBe(false);
  });

  test('concurrent retries with one key store one call; every response carries it', async () => {
    const before = await stored();
    const input = call(9, { idempotencyKey: 'concurrent-1' });
    const results = await Promise.all(Array.from({ length: 8 }, () => logUsage(input)));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(new Set(results.map((r) => r.usageLog.id)).size).toBe(1);
    expect(new Set(results.map((r) => r.receipt.receiptId)).size).toBe(1);
    expect(await stored()).toEqual({ logs: before.logs + 1, receipts: before.receipts + 1 });
  });
});
