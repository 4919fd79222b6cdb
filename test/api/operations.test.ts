/**
 * Every operation of the contract over HTTP, with the values a client relies on: usage
 * logging and pricing, statistics and every breakdown, logs and receipts, the project and key
 * mutations; BAD_USER_INPUT naming the field, NOT_FOUND, and INTERNAL_SERVER_ERROR that leaks
 * nothing.
 */
import { createPublicKey, verify } from 'node:crypto';
import canonicalize from 'canonicalize';
import {
  asAdmin,
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
let stats: TestProject;

beforeAll(async () => {
  server = await startTestServer();
  stats = await createProjectWithKey(server, 'stats');
});
afterAll(() => server?.close());

const LOG_USAGE = `mutation($input: LogUsageInput!) {
  logUsage(input: $input) {
    replayed
    usageLog {
      id project { key } aliasName provider model inputTokens outputTokens cachedInputTokens cost
      costSource latencyMs origin idAtOrigin profile metadata occurredAt receivedAt
      receipt { receiptId } pricing { inputPerMillion outputPerMillion cachedInputPerMillion registryVersion }
      idempotencyKey
    }
    receipt {
      receiptId project { key } usageLog { id } projectKey aliasName modelUsed provider
      inputTokens outputTokens cachedInputTokens cost issuedAt keyId signature document
    }
  }
}`;

const BATCH = `mutation($inputs: [LogUsageInput!]!) {
  logUsageBatch(inputs: $inputs) { results { replayed usageLog { id } receipt { receiptId } } }
}`;

/** The first error of a response, which must be BAD_USER_INPUT naming `field`. */
function expectBadInput(res: GraphQLResponse<unknown>, field: string) {
  expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
  const [error] = res.body.errors!;
  expect(error.extensions?.field).toBe(field);
  expect(error.message).toContain(field);
}

// The stats fixture: four calls in [2026-11-01, 2026-11-04) UTC with client-sent costs.
const WINDOW = { startDate: '2026-11-01T00:00:00Z', endDate: '2026-11-04T00:00:00Z' };
const STATS_LOGS = [
  {
    provider: 'openai',
    model: 'gpt-4.1',
    aliasName: 'summarizer',
    origin: 'web',
    inputTokens: 100,
    outputTokens: 50,
    cachedInputTokens: 10,
    cost: 0.5,
    occurredAt: '2026-11-01T10:00:00Z',
  },
  {
    provider: 'openai',
    model: 'gpt-4.1',
    aliasName: 'summarizer',
    origin: 'web',
    inputTokens: 200,
    outputTokens: 100,
    cost: 1.0,
    occurredAt: '2026-11-01T11:30:00Z',
  },
  {
    provider: 'anthropic',
    model: 'claude-x',
    aliasName: 'chat',
    origin: 'cli',
    profile: 'prod',
    inputTokens: 300,
    outputTokens: 30,
    cachedInputTokens: 100,
    cost: 2.25,
    occurredAt: '2026-11-02T09:00:00Z',
  },
  {
    provider: 'openai',
    model: 'gpt-5-nano',
    inputTokens: 10,
    outputTokens: 5,
    cost: 0.25,
    occurredAt: '2026-11-03T23:30:00Z',
  },
  // Outside the window: never counted.
  {
    provider: 'openai',
    model: 'gpt-4.1',
    inputTokens: 1,
    outputTokens: 1,
    cost: 100,
    occurredAt: '2026-11-04T00:00:00Z',
  },
  {
    provider: 'openai',
    model: 'gpt-4.1',
    inputTokens: 1,
    outputTokens: 1,
    cost: 100,
    occurredAt: '2026-10-31T23:59:59.999Z',
  },
];

describe('logUsage', () => {
  test('records a registry-priced call with every field, and signs a receipt for it', async () => {
    const occurredAt = new Date(Date.now() - 60_000).toISOString();
    const res = await server.gql(
      LOG_USAGE,
      {
        input: {
          provider: 'openai',
          model: 'gpt-4.1',
          aliasName: 'summarizer',
          inputTokens: 1_000_000,
          outputTokens: 100_000,
          cachedInputTokens: 200_000,
          latencyMs: 1234,
          origin: 'billing-service',
          idAtOrigin: 'resp_123',
          profile: 'prod',
          metadata: { team: 'core', nested: { ok: true } },
          occurredAt,
          idempotencyKey: 'idem-registry-1',
        },
      },
      withKey(stats.secret),
    );
    const { usageLog, receipt, replayed } = dataOf(res).logUsage;
    expect(replayed).toBe(false);
    expect(usageLog).toMatchObject({
      project: { key: 'stats' },
      aliasName: 'summarizer',
      provider: 'openai',
      model: 'gpt-4.1',
      inputTokens: 1_000_000,
      outputTokens: 100_000,
      cachedInputTokens: 200_000,
      // (800k x $2 + 200k x $0.5 + 100k x $8) / 1M
      cost: 2.5,
      costSource: 'REGISTRY',
      latencyMs: 1234,
      origin: 'billing-service',
      idAtOrigin: 'resp_123',
      profile: 'prod',
      metadata: { team: 'core', nested: { ok: true } },
      occurredAt,
      receipt: { receiptId: receipt.receiptId },
      pricing: { inputPerMillion: 2, outputPerMillion: 8, cachedInputPerMillion: 0.5 },
      idempotencyKey: 'idem-registry-1',
    });
    expect(usageLog.pricing.registryVersion).toEqual(expect.any(String));
    expect(Math.abs(Date.parse(usageLog.receivedAt) - Date.now())).toBeLessThan(60_000);

    expect(receipt).toMatchObject({
      project: { key: 'stats' },
      usageLog: { id: usageLog.id },
      projectKey: 'stats',
      aliasName: 'summarizer',
      modelUsed: 'gpt-4.1',
      provider: 'openai',
      inputTokens: 1_000_000,
      outputTokens: 100_000,
      cachedInputTokens: 200_000,
      cost: 2.5,
    });
    expect(receipt.receiptId).toMatch(/^rcpt_/);
    expect(receipt.signature).toMatch(/^ed25519:[A-Za-z0-9_-]+$/);
    expect(receipt.document.signature).toBe(receipt.signature);
    expect(receipt.document.key_id).toBe(receipt.keyId);
    expect(receipt.document.receipt_id).toBe(receipt.receiptId);
    // The secret never appears in a receipt; the project's public key does.
    expect(JSON.stringify(receipt)).not.toContain(stats.secret);

    // Verifiable offline with the published public key, as a third party would.
    const keys = dataOf(
      await server.gql('{ receiptPublicKeys { keyId algorithm publicKeyPem jwk active } }'),
    ).receiptPublicKeys;
    const key = keys.find((k: { keyId: string }) => k.keyId === receipt.keyId);
    expect(key).toMatchObject({ algorithm: 'Ed25519', active: true, jwk: { kty: 'OKP', crv: 'Ed25519' } });
    expect(key.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const { signature, ...unsigned } = receipt.document;
    expect(
      verify(
        null,
        Buffer.from(canonicalize(unsigned)!, 'utf8'),
        createPublicKey(key.publicKeyPem),
        Buffer.from(String(signature).slice('ed25519:'.length), 'base64url'),
      ),
    ).toBe(true);
  });

  test('defaults: client cost, unpriced models, profile, metadata, occurredAt', async () => {
    const before = Date.now();
    const client = dataOf(
      await server.gql(
        LOG_USAGE,
        { input: { provider: 'openai', model: 'gpt-4.1', inputTokens: 10, outputTokens: 20, cost: 0.125 } },
        withKey(stats.secret),
      ),
    ).logUsage.usageLog;
    expect(client).toMatchObject({
      cost: 0.125,
      costSource: 'CLIENT',
      pricing: null,
      aliasName: null,
      cachedInputTokens: 0,
      latencyMs: null,
      origin: null,
      idAtOrigin: null,
      profile: 'default',
      metadata: {},
      idempotencyKey: null,
    });
    expect(Date.parse(client.occurredAt)).toBeGreaterThanOrEqual(before - 1000);

    const unpriced = dataOf(
      await server.gql(
        LOG_USAGE,
        { input: { provider: 'acme', model: 'no-such-model', inputTokens: 10, outputTokens: 20 } },
        withKey(stats.secret),
      ),
    ).logUsage;
    expect(unpriced.usageLog).toMatchObject({ cost: 0, costSource: 'UNPRICED', pricing: null });
    expect(unpriced.receipt.cost).toBe(0);
  });
});

describe('BAD_USER_INPUT names the field', () => {
  const base = { provider: 'openai', model: 'gpt-4.1', inputTokens: 10, outputTokens: 5 };
  const long = 'x'.repeat(256);
  test.each<[string, string, Record<string, unknown>]>([
    ['input.cachedInputTokens', 'more cached than input tokens', { cachedInputTokens: 11 }],
    ['input.provider', 'empty', { provider: '' }],
    ['input.model', 'blank', { model: '   ' }],
    ['input.provider', '256 characters', { provider: long }],
    ['input.model', '256 characters', { model: long }],
    ['input.aliasName', '256 characters', { aliasName: long }],
    ['input.origin', '256 characters', { origin: long }],
    ['input.idAtOrigin', '256 characters', { idAtOrigin: long }],
    ['input.profile', '256 characters', { profile: long }],
    ['input.idempotencyKey', '256 characters', { idempotencyKey: long }],
    ['input.metadata', 'over 16 KiB', { metadata: { blob: 'x'.repeat(16 * 1024) } }],
    [
      'input.occurredAt',
      '10 minutes ahead',
      { occurredAt: new Date(Date.now() + 10 * 60_000).toISOString() },
    ],
    ['input.model', 'a NUL character', { model: 'nul\u0000byte' }],
  ])('logUsage: %s (%s)', async (field, _problem, change) => {
    const res = await server.gql(LOG_USAGE, { input: { ...base, ...change } }, withKey(stats.secret));
    expectBadInput(res, field);
  });

  test('strings of exactly 255 characters and 16 KiB of metadata are accepted', async () => {
    const name = 'y'.repeat(255);
    const metadata = { blob: 'x'.repeat(16 * 1024 - '{"blob":""}'.length) };
    const res = await server.gql(
      LOG_USAGE,
      { input: { ...base, model: name, aliasName: name, origin: name, idAtOrigin: name, metadata } },
      withKey(stats.secret),
    );
    expect(dataOf(res).logUsage.usageLog.aliasName).toBe(name);
  });

  test('a value the schema rejects (negative tokens) is BAD_USER_INPUT naming the field', async () => {
    const res = await server.gql(LOG_USAGE, { input: { ...base, inputTokens: -1 } }, withKey(stats.secret));
    expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0].message).toContain('inputTokens');
  });

  test.each<[string, string, Record<string, unknown>]>([
    ['first', '{ usageLogs(first: 501) { edges { cursor } } }', {}],
    ['first', '{ receipts(first: -1) { edges { cursor } } }', {}],
    ['after', '{ usageLogs(after: "not a cursor") { edges { cursor } } }', {}],
    ['timeZone', '{ usageStats(timeZone: "Mars/Olympus_Mons") { byPeriod { requests } } }', {}],
    [
      'filter.startDate',
      `{ usageStats(filter: { startDate: "${WINDOW.endDate}", endDate: "${WINDOW.startDate}" }) { summary { requests } } }`,
      {},
    ],
    ['by', '{ usageStats { breakdown(by: []) { requests } } }', {}],
    ['limit', '{ usageStats { breakdown(by: [MODEL], limit: 0) { requests } } }', {}],
    [
      'startDate',
      `{ currentProject { usage(startDate: "${WINDOW.endDate}", endDate: "${WINDOW.startDate}") { requests } } }`,
      {},
    ],
  ])('query argument %s', async (field, query, variables) => {
    expectBadInput(await server.gql(query, variables, withKey(stats.secret)), field);
  });

  test.each<[string, string, Record<string, unknown>]>([
    ['key', 'mutation { createProject(input: { key: "Not A Slug", name: "x" }) { id } }', {}],
    ['key', 'mutation { createProject(input: { key: "stats", name: "duplicate" }) { id } }', {}],
    ['name', 'mutation { createProject(input: { key: "no-name", name: "" }) { id } }', {}],
    ['name', 'mutation($id: UUID!) { createApiKey(projectId: $id, name: " ") { secret } }', { id: 'STATS' }],
    [
      'name',
      `mutation($id: UUID!) { updateProject(id: $id, input: { name: "${'n'.repeat(256)}" }) { id } }`,
      { id: 'STATS' },
    ],
  ])('admin mutation field %s', async (field, query, variables) => {
    const vars = Object.fromEntries(
      Object.entries(variables).map(([k, v]) => [k, v === 'STATS' ? stats.id : v]),
    );
    expectBadInput(await server.gql(query, vars, asAdmin), field);
  });
});

describe('usageStats', () => {
  beforeAll(async () => {
    dataOf(await server.gql(BATCH, { inputs: STATS_LOGS }, withKey(stats.secret)));
  });

  const ALL_FIELDS = `query($filter: UsageFilter, $groupBy: TimeBucket, $timeZone: String) {
    usageStats(filter: $filter, groupBy: $groupBy, timeZone: $timeZone) {
      summary { requests inputTokens outputTokens cachedInputTokens totalTokens cost uniqueModels uniqueAliases uniqueOrigins }
      byPeriod { periodStart requests inputTokens outputTokens cost topModel cachedInputTokens }
      byAlias { aliasName requests inputTokens outputTokens cachedInputTokens cost models }
      byModel { provider model requests inputTokens outputTokens cachedInputTokens cost }
      byOrigin { origin requests cost inputTokens outputTokens cachedInputTokens }
      all: breakdown(by: [ALIAS, MODEL, PROVIDER, ORIGIN, PROFILE, PROJECT]) {
        aliasName model provider origin profile project { key } requests inputTokens outputTokens cachedInputTokens cost
      }
      byProvider: breakdown(by: [PROVIDER]) { aliasName model provider origin profile project { key } requests cost }
      top: breakdown(by: [MODEL], limit: 1) { model cost }
    }
  }`;

  const SUMMARY = {
    requests: 4,
    inputTokens: 610,
    outputTokens: 185,
    cachedInputTokens: 110,
    totalTokens: 795,
    cost: 4,
    uniqueModels: 3,
    uniqueAliases: 2,
    uniqueOrigins: 2,
  };

  test('every field, for the project key, over a window', async () => {
    const res = await server.gql(ALL_FIELDS, { filter: WINDOW }, withKey(stats.secret));
    const s = dataOf(res).usageStats;
    expect(s.summary).toEqual(SUMMARY);
    expect(s.byPeriod).toEqual([
      {
        periodStart: '2026-11-01T00:00:00.000Z',
        requests: 2,
        inputTokens: 300,
        outputTokens: 150,
        cachedInputTokens: 10,
        cost: 1.5,
        topModel: 'gpt-4.1',
      },
      {
        periodStart: '2026-11-02T00:00:00.000Z',
        requests: 1,
        inputTokens: 300,
        outputTokens: 30,
        cachedInputTokens: 100,
        cost: 2.25,
        topModel: 'claude-x',
      },
      {
        periodStart: '2026-11-03T00:00:00.000Z',
        requests: 1,
        inputTokens: 10,
        outputTokens: 5,
        cachedInputTokens: 0,
        cost: 0.25,
        topModel: 'gpt-5-nano',
      },
    ]);
    expect(s.byAlias).toEqual([
      {
        aliasName: 'chat',
        requests: 1,
        inputTokens: 300,
        outputTokens: 30,
        cachedInputTokens: 100,
        cost: 2.25,
        models: ['claude-x'],
      },
      {
        aliasName: 'summarizer',
        requests: 2,
        inputTokens: 300,
        outputTokens: 150,
        cachedInputTokens: 10,
        cost: 1.5,
        models: ['gpt-4.1'],
      },
      {
        aliasName: null,
        requests: 1,
        inputTokens: 10,
        outputTokens: 5,
        cachedInputTokens: 0,
        cost: 0.25,
        models: ['gpt-5-nano'],
      },
    ]);
    expect(s.byModel).toEqual([
      {
        provider: 'anthropic',
        model: 'claude-x',
        requests: 1,
        inputTokens: 300,
        outputTokens: 30,
        cachedInputTokens: 100,
        cost: 2.25,
      },
      {
        provider: 'openai',
        model: 'gpt-4.1',
        requests: 2,
        inputTokens: 300,
        outputTokens: 150,
        cachedInputTokens: 10,
        cost: 1.5,
      },
      {
        provider: 'openai',
        model: 'gpt-5-nano',
        requests: 1,
        inputTokens: 10,
        outputTokens: 5,
        cachedInputTokens: 0,
        cost: 0.25,
      },
    ]);
    expect(s.byOrigin).toEqual([
      { origin: 'cli', requests: 1, inputTokens: 300, outputTokens: 30, cachedInputTokens: 100, cost: 2.25 },
      { origin: 'web', requests: 2, inputTokens: 300, outputTokens: 150, cachedInputTokens: 10, cost: 1.5 },
      { origin: null, requests: 1, inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, cost: 0.25 },
    ]);
    expect(s.all).toEqual([
      {
        aliasName: 'chat',
        model: 'claude-x',
        provider: 'anthropic',
        origin: 'cli',
        profile: 'prod',
        project: { key: 'stats' },
        requests: 1,
        inputTokens: 300,
        outputTokens: 30,
        cachedInputTokens: 100,
        cost: 2.25,
      },
      {
        aliasName: 'summarizer',
        model: 'gpt-4.1',
        provider: 'openai',
        origin: 'web',
        profile: 'default',
        project: { key: 'stats' },
        requests: 2,
        inputTokens: 300,
        outputTokens: 150,
        cachedInputTokens: 10,
        cost: 1.5,
      },
      {
        aliasName: null,
        model: 'gpt-5-nano',
        provider: 'openai',
        origin: null,
        profile: 'default',
        project: { key: 'stats' },
        requests: 1,
        inputTokens: 10,
        outputTokens: 5,
        cachedInputTokens: 0,
        cost: 0.25,
      },
    ]);
    // Dimensions not asked for are null.
    expect(s.byProvider).toEqual([
      {
        aliasName: null,
        model: null,
        provider: 'anthropic',
        origin: null,
        profile: null,
        project: null,
        requests: 1,
        cost: 2.25,
      },
      {
        aliasName: null,
        model: null,
        provider: 'openai',
        origin: null,
        profile: null,
        project: null,
        requests: 3,
        cost: 1.75,
      },
    ]);
    expect(s.top).toEqual([{ model: 'claude-x', cost: 2.25 }]);

    // Every breakdown adds up to the summary.
    const sum = (rows: Array<{ requests: number; cost: number }>) => ({
      requests: rows.reduce((a, r) => a + r.requests, 0),
      cost: rows.reduce((a, r) => a + r.cost, 0),
    });
    for (const rows of [s.byPeriod, s.byAlias, s.byModel, s.byOrigin, s.all, s.byProvider]) {
      expect(sum(rows)).toEqual({ requests: SUMMARY.requests, cost: SUMMARY.cost });
    }
  });

  test('byPeriod buckets start at the boundary of the requested time zone', async () => {
    const res = await server.gql(
      'query($f: UsageFilter) { usageStats(filter: $f, timeZone: "Asia/Tokyo") { byPeriod { periodStart requests cost } } }',
      { f: WINDOW },
      withKey(stats.secret),
    );
    expect(dataOf(res).usageStats.byPeriod).toEqual([
      { periodStart: '2026-10-31T15:00:00.000Z', requests: 2, cost: 1.5 },
      { periodStart: '2026-11-01T15:00:00.000Z', requests: 1, cost: 2.25 },
      { periodStart: '2026-11-03T15:00:00.000Z', requests: 1, cost: 0.25 },
    ]);
    const monthly = await server.gql(
      'query($f: UsageFilter) { usageStats(filter: $f, groupBy: MONTH) { byPeriod { periodStart requests } } }',
      { f: WINDOW },
      withKey(stats.secret),
    );
    expect(dataOf(monthly).usageStats.byPeriod).toEqual([
      { periodStart: '2026-11-01T00:00:00.000Z', requests: 4 },
    ]);
  });

  test('filters combine: alias names (null selects calls without one), models, providers, origins, profiles', async () => {
    const q = 'query($f: UsageFilter) { usageStats(filter: $f) { summary { requests cost } } }';
    const cases: Array<[Record<string, unknown>, { requests: number; cost: number }]> = [
      [{ aliasNames: ['summarizer'] }, { requests: 2, cost: 1.5 }],
      [{ aliasNames: [null] }, { requests: 1, cost: 0.25 }],
      [{ aliasNames: ['chat', null] }, { requests: 2, cost: 2.5 }],
      [{ models: ['gpt-4.1', 'gpt-5-nano'] }, { requests: 3, cost: 1.75 }],
      [{ providers: ['anthropic'] }, { requests: 1, cost: 2.25 }],
      [
        { origins: ['web'], profiles: ['default'] },
        { requests: 2, cost: 1.5 },
      ],
      [
        { origins: ['web'], profiles: ['prod'] },
        { requests: 0, cost: 0 },
      ],
    ];
    for (const [filter, expected] of cases) {
      const res = await server.gql(q, { f: { ...WINDOW, ...filter } }, withKey(stats.secret));
      expect({ filter, summary: dataOf(res).usageStats.summary }).toEqual({ filter, summary: expected });
    }
  });

  test('the admin reads the same numbers by naming the project, and Project.usage agrees', async () => {
    const res = await server.gql(
      `query($f: UsageFilter, $id: UUID!, $start: DateTime, $end: DateTime) {
        usageStats(filter: $f) { summary { requests inputTokens outputTokens cachedInputTokens totalTokens cost uniqueModels uniqueAliases uniqueOrigins } }
        project(id: $id) { usage(startDate: $start, endDate: $end) { requests inputTokens outputTokens cachedInputTokens totalTokens cost uniqueModels uniqueAliases uniqueOrigins } }
      }`,
      { f: { ...WINDOW, projectId: stats.id }, id: stats.id, start: WINDOW.startDate, end: WINDOW.endDate },
      asAdmin,
    );
    const data = dataOf(res);
    expect(data.usageStats.summary).toEqual(SUMMARY);
    expect(data.project.usage).toEqual(SUMMARY);
  });
});

describe('usageLogs, receipts, receipt, verifyReceipt', () => {
  let logged: { usageLog: { id: string }; receipt: { receiptId: string; document: Record<string, unknown> } };

  beforeAll(async () => {
    logged = dataOf(
      await server.gql(
        LOG_USAGE,
        {
          input: {
            provider: 'openai',
            model: 'gpt-4.1',
            aliasName: 'reader',
            inputTokens: 3,
            outputTokens: 4,
            cost: 0.01,
            occurredAt: '2026-11-10T12:00:00Z',
          },
        },
        withKey(stats.secret),
      ),
    ).logUsage;
  });

  const range = { startDate: '2026-11-10T00:00:00Z', endDate: '2026-11-11T00:00:00Z' };

  test('usageLogs returns the logs of the filter, newest first, with every field', async () => {
    const res = await server.gql(
      `query($f: UsageFilter) { usageLogs(filter: $f, first: 10) {
        edges { cursor node { id project { key } aliasName provider model inputTokens outputTokens cachedInputTokens
          cost costSource latencyMs origin idAtOrigin profile metadata occurredAt receivedAt receipt { receiptId } pricing { registryVersion } idempotencyKey } }
        pageInfo { hasNextPage endCursor }
      } }`,
      { f: range },
      withKey(stats.secret),
    );
    const { edges, pageInfo } = dataOf(res).usageLogs;
    expect(edges).toHaveLength(1);
    expect(edges[0].node).toMatchObject({
      id: logged.usageLog.id,
      project: { key: 'stats' },
      aliasName: 'reader',
      cost: 0.01,
      costSource: 'CLIENT',
      occurredAt: '2026-11-10T12:00:00.000Z',
      receipt: { receiptId: logged.receipt.receiptId },
    });
    expect(pageInfo).toEqual({ hasNextPage: false, endCursor: edges[0].cursor });

    const window = await server.gql(
      'query($f: UsageFilter) { usageLogs(filter: $f) { edges { node { occurredAt } } } }',
      { f: WINDOW },
      withKey(stats.secret),
    );
    expect(
      dataOf(window).usageLogs.edges.map((e: { node: { occurredAt: string } }) => e.node.occurredAt),
    ).toEqual([
      '2026-11-03T23:30:00.000Z',
      '2026-11-02T09:00:00.000Z',
      '2026-11-01T11:30:00.000Z',
      '2026-11-01T10:00:00.000Z',
    ]);
  });

  test('receipts returns the receipts of the filter; receipt(receiptId) finds one', async () => {
    const res = await server.gql(
      `query($f: UsageFilter, $id: String!) {
        receipts(filter: $f) { edges { cursor node { receiptId usageLog { id } modelUsed aliasName } } pageInfo { hasNextPage endCursor } }
        receipt(receiptId: $id) { receiptId projectKey usageLog { id } document }
        missing: receipt(receiptId: "rcpt_does_not_exist") { receiptId }
      }`,
      { f: range, id: logged.receipt.receiptId },
      withKey(stats.secret),
    );
    const data = dataOf(res);
    expect(data.receipts.edges.map((e: { node: unknown }) => e.node)).toEqual([
      {
        receiptId: logged.receipt.receiptId,
        usageLog: { id: logged.usageLog.id },
        modelUsed: 'gpt-4.1',
        aliasName: 'reader',
      },
    ]);
    expect(data.receipts.pageInfo.hasNextPage).toBe(false);
    expect(data.receipt).toEqual({
      receiptId: logged.receipt.receiptId,
      projectKey: 'stats',
      usageLog: { id: logged.usageLog.id },
      document: logged.receipt.document,
    });
    expect(data.missing).toBeNull();
  });

  test('verifyReceipt accepts an issued document and rejects an altered one with a reason', async () => {
    const q = 'query($d: JSONObject!) { verifyReceipt(document: $d) { valid keyId reason } }';
    const good = dataOf(await server.gql(q, { d: logged.receipt.document })).verifyReceipt;
    expect(good).toEqual({ valid: true, keyId: logged.receipt.document.key_id, reason: null });
    const altered = { ...logged.receipt.document, model_used: 'gpt-4.1-mini' };
    const bad = dataOf(await server.gql(q, { d: altered })).verifyReceipt;
    expect(bad.valid).toBe(false);
    expect(bad.reason).toEqual(expect.any(String));
  });

  test('modelPricing lists registry prices, optionally for one provider', async () => {
    const all = dataOf(
      await server.gql(
        '{ modelPricing { provider model dollarsPerMillionInputTokens dollarsPerMillionOutputTokens dollarsPerMillionCachedInputTokens } }',
      ),
    ).modelPricing as Array<{ provider: string; model: string }>;
    expect(new Set(all.map((m) => m.provider)).size).toBeGreaterThan(1);
    const openai = dataOf(
      await server.gql(
        '{ modelPricing(provider: "openai") { provider model dollarsPerMillionInputTokens dollarsPerMillionOutputTokens dollarsPerMillionCachedInputTokens } }',
      ),
    ).modelPricing as Array<{ provider: string; model: string }>;
    expect(openai.every((m) => m.provider === 'openai')).toBe(true);
    expect(openai.find((m) => m.model === 'gpt-4.1')).toEqual({
      provider: 'openai',
      model: 'gpt-4.1',
      dollarsPerMillionInputTokens: 2,
      dollarsPerMillionOutputTokens: 8,
      dollarsPerMillionCachedInputTokens: 0.5,
    });
    expect(openai.length).toBe(all.filter((m) => m.provider === 'openai').length);
  });
});

describe('projects and keys', () => {
  test('createProject, updateProject, archiveProject, projects(includeArchived)', async () => {
    const created = dataOf(
      await server.gql(
        'mutation { createProject(input: { key: "client-a", name: "Client A", description: "first client" }) { id key name description createdAt archivedAt apiKeys { id } } }',
        {},
        asAdmin,
      ),
    ).createProject;
    expect(created).toMatchObject({
      key: 'client-a',
      name: 'Client A',
      description: 'first client',
      archivedAt: null,
      apiKeys: [],
    });
    expect(Math.abs(Date.parse(created.createdAt) - Date.now())).toBeLessThan(60_000);

    const renamed = dataOf(
      await server.gql(
        'mutation($id: UUID!) { updateProject(id: $id, input: { name: "Client A Ltd" }) { key name description } }',
        { id: created.id },
        asAdmin,
      ),
    ).updateProject;
    expect(renamed).toEqual({ key: 'client-a', name: 'Client A Ltd', description: 'first client' });
    const cleared = dataOf(
      await server.gql(
        'mutation($id: UUID!) { updateProject(id: $id, input: { description: null }) { name description } }',
        { id: created.id },
        asAdmin,
      ),
    ).updateProject;
    expect(cleared).toEqual({ name: 'Client A Ltd', description: null });

    const first = dataOf(
      await server.gql(
        'mutation($id: UUID!) { archiveProject(id: $id) { archivedAt } }',
        { id: created.id },
        asAdmin,
      ),
    ).archiveProject.archivedAt;
    expect(Date.parse(first)).not.toBeNaN();
    const again = dataOf(
      await server.gql(
        'mutation($id: UUID!) { archiveProject(id: $id) { archivedAt } }',
        { id: created.id },
        asAdmin,
      ),
    ).archiveProject.archivedAt;
    expect(again).toBe(first);

    const lists = dataOf(
      await server.gql(
        '{ active: projects { key } all: projects(includeArchived: true) { key archivedAt } }',
        {},
        asAdmin,
      ),
    );
    expect(lists.active.map((p: { key: string }) => p.key)).not.toContain('client-a');
    expect(lists.all.map((p: { key: string }) => p.key)).toEqual(['default', 'stats', 'client-a']);

    // An archived project gets no new key.
    const key = await server.gql(
      'mutation($id: UUID!) { createApiKey(projectId: $id, name: "late") { secret } }',
      { id: created.id },
      asAdmin,
    );
    expectBadInput(key, 'projectId');
  });

  test('createApiKey returns the secret once; the key works; apiKeys shows metadata only; revokeApiKey', async () => {
    const created = dataOf(
      await server.gql(
        'mutation($id: UUID!) { createApiKey(projectId: $id, name: "laptop") { secret apiKey { id name prefix createdAt lastUsedAt revokedAt } } }',
        { id: stats.id },
        asAdmin,
      ),
    ).createApiKey;
    expect(created.apiKey).toMatchObject({ name: 'laptop', lastUsedAt: null, revokedAt: null });
    expect(created.secret.startsWith(created.apiKey.prefix)).toBe(true);
    expect(created.apiKey.prefix.length).toBeLessThan(created.secret.length);

    const me = dataOf(
      await server.gql('{ currentProject { key apiKeys { id name prefix } } }', {}, withKey(created.secret)),
    );
    expect(me.currentProject.key).toBe('stats');
    expect(me.currentProject.apiKeys.map((k: { name: string }) => k.name)).toEqual(['test', 'laptop']);
    expect(JSON.stringify(me)).not.toContain(created.secret);

    const revoked = dataOf(
      await server.gql(
        'mutation($id: UUID!) { revokeApiKey(id: $id) { id revokedAt } }',
        { id: created.apiKey.id },
        asAdmin,
      ),
    ).revokeApiKey;
    const again = dataOf(
      await server.gql(
        'mutation($id: UUID!) { revokeApiKey(id: $id) { id revokedAt } }',
        { id: created.apiKey.id },
        asAdmin,
      ),
    ).revokeApiKey;
    expect(again).toEqual(revoked);
    const keys = dataOf(
      await server.gql(
        'query($id: UUID!) { project(id: $id) { apiKeys { id revokedAt lastUsedAt } } }',
        { id: stats.id },
        asAdmin,
      ),
    ).project.apiKeys;
    expect(keys.find((k: { id: string }) => k.id === created.apiKey.id).revokedAt).toBe(revoked.revokedAt);
  });

  test("a project's own key sees a rename at once in currentProject and projects", async () => {
    const project = await createProjectWithKey(server, 'to-rename');
    const q = '{ currentProject { name description } projects { name description } }';
    expect(dataOf(await server.gql(q, {}, withKey(project.secret))).currentProject.name).toBe(
      'Project to-rename',
    );
    dataOf(
      await server.gql(
        'mutation($id: UUID!) { updateProject(id: $id, input: { name: "Renamed", description: "now described" }) { id } }',
        { id: project.id },
        asAdmin,
      ),
    );
    const renamed = { name: 'Renamed', description: 'now described' };
    expect(dataOf(await server.gql(q, {}, withKey(project.secret)))).toEqual({
      currentProject: renamed,
      projects: [renamed],
    });
  });

  test('NOT_FOUND for unknown ids', async () => {
    const unknown = '00000000-0000-4000-8000-0000000000ff';
    for (const query of [
      'mutation($id: UUID!) { updateProject(id: $id, input: { name: "x" }) { id } }',
      'mutation($id: UUID!) { updateProject(id: $id, input: {}) { id } }',
      'mutation($id: UUID!) { archiveProject(id: $id) { id } }',
      'mutation($id: UUID!) { createApiKey(projectId: $id, name: "x") { secret } }',
      'mutation($id: UUID!) { revokeApiKey(id: $id) { id } }',
    ]) {
      const res = await server.gql(query, { id: unknown }, asAdmin);
      expect({ query, codes: errorCodes(res) }).toEqual({ query, codes: ['NOT_FOUND'] });
    }
  });
});

describe('INTERNAL_SERVER_ERROR', () => {
  test('an unexpected failure reaches the client without SQL, stack or secret, and is logged in full', async () => {
    // Break the database under the running server, then repair it.
    await server.app.db.raw('ALTER TABLE usage_logs RENAME TO usage_logs_hidden');
    let res: GraphQLResponse;
    try {
      res = await server.gql('{ usageStats { summary { requests cost } } }', {}, withKey(stats.secret));
    } finally {
      await server.app.db.raw('ALTER TABLE usage_logs_hidden RENAME TO usage_logs');
    }
    expect(errorCodes(res)).toEqual(['INTERNAL_SERVER_ERROR']);
    const text = JSON.stringify(res.body);
    for (const leak of ['usage_logs', 'select', 'relation', 'stacktrace', '    at ', stats.secret, 'knex']) {
      expect(text.toLowerCase()).not.toContain(leak.toLowerCase());
    }
    expect(res.body.errors![0].message).toBe('Internal server error');
    expect(server.logs()).toContain('usage_logs');
    // And the server still works.
    expect(
      dataOf(await server.gql('{ usageStats { summary { requests } } }', {}, withKey(stats.secret)))
        .usageStats.summary.requests,
    ).toBeGreaterThan(0);
  });
});
