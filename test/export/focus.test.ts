/**
 * The FinOps FOCUS 1.2 export, over HTTP (GET /v1/exports/focus) and from the CLI
 * (`export --format focus`): the header, and rows checked against values computed by hand from
 * the logged calls (docs/focus.md gives the mapping).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { runCli } from '../../src/cli/program';
import {
  asAdmin,
  createProjectWithKey,
  dataOf,
  startTestServer,
  withKey,
  type TestServer,
} from '../helpers/server';

let server: TestServer;
let key: string;
let projectId: string;
let tmp: string;

const LOG = `mutation($input: LogUsageInput!) { logUsage(input: $input) { usageLog { id cost } } }`;

const ids: Record<string, string> = {};

beforeAll(async () => {
  server = await startTestServer({ LLMRING_METADATA_DIMENSIONS: 'team' });
  const project = await createProjectWithKey(server, 'focus-a');
  key = project.secret;
  projectId = project.id;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-focus-'));
  const calls: Record<string, Record<string, unknown>> = {
    a: {
      provider: 'openai',
      model: 'gpt-4o-mini',
      aliasName: 'summarizer',
      origin: 'web',
      inputTokens: 1000,
      cachedInputTokens: 200,
      outputTokens: 500,
      latencyMs: 812,
      metadata: { team: 'payments', other: 'not a dimension' },
      occurredAt: '2026-11-05T10:15:30.250Z',
    },
    formula: {
      provider: 'openai',
      model: '=HYPERLINK("http://x")',
      inputTokens: 1,
      outputTokens: 1,
      cost: 0,
      occurredAt: '2026-11-10T00:00:00Z',
    },
    b: {
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      inputTokens: 10000,
      outputTokens: 2000,
      reasoningTokens: 500,
      cost: 0.25,
      occurredAt: '2026-11-30T23:59:59Z',
    },
    december: {
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputTokens: 5,
      outputTokens: 5,
      occurredAt: '2026-12-01T00:00:00Z',
    },
  };
  for (const [name, input] of Object.entries(calls)) {
    ids[name] = dataOf(await server.gql(LOG, { input }, withKey(key))).logUsage.usageLog.id;
  }
});
afterAll(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

type Row = Record<string, string>;

const HEADER_START = [
  'BilledCost',
  'BillingAccountId',
  'BillingAccountName',
  'BillingCurrency',
  'BillingPeriodEnd',
  'BillingPeriodStart',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'ChargeFrequency',
  'ChargePeriodEnd',
  'ChargePeriodStart',
  'ConsumedQuantity',
  'ConsumedUnit',
  'ContractedCost',
  'EffectiveCost',
  'InvoiceIssuerName',
  'ListCost',
  'PricingCategory',
  'PricingQuantity',
  'PricingUnit',
  'ProviderName',
  'PublisherName',
  'ResourceId',
  'ResourceName',
  'ResourceType',
  'ServiceCategory',
  'ServiceName',
  'ServiceSubcategory',
  'SkuId',
  'SubAccountId',
  'SubAccountName',
  'Tags',
];

function checkNovember(text: string): void {
  const [header] = parse(text, { to: 1 }) as string[][];
  expect(header.slice(0, HEADER_START.length)).toEqual(HEADER_START);
  expect(header.filter((c) => !HEADER_START.includes(c)).every((c) => c.startsWith('x_'))).toBe(true);

  const rows = parse(text, { columns: true }) as Row[];
  expect(rows.map((r) => r.x_UsageLogId)).toEqual([ids.a, ids.formula, ids.b]); // not December's

  // gpt-4o-mini: 800 uncached x 0.15 + 200 cached x 0.075 + 500 output x 0.6 per million = 0.000435.
  expect(rows[0]).toMatchObject({
    BilledCost: '0.00043500',
    EffectiveCost: '0.00043500',
    ListCost: '0.00043500',
    ContractedCost: '0.00043500',
    BillingCurrency: 'USD',
    BillingAccountId: 'openai',
    BillingPeriodStart: '2026-11-01T00:00:00Z',
    BillingPeriodEnd: '2026-12-01T00:00:00Z',
    ChargeCategory: 'Usage',
    ChargeClass: '',
    ChargeFrequency: 'Usage-Based',
    ChargePeriodStart: '2026-11-05T10:00:00Z',
    ChargePeriodEnd: '2026-11-05T11:00:00Z',
    ChargeDescription: 'gpt-4o-mini (openai): 1000 input tokens (200 cached), 500 output tokens',
    ConsumedQuantity: '1500',
    ConsumedUnit: 'Tokens',
    PricingQuantity: '1500',
    PricingUnit: 'Tokens',
    PricingCategory: 'Standard',
    ProviderName: 'openai',
    PublisherName: 'openai',
    InvoiceIssuerName: 'openai',
    ResourceId: 'openai/gpt-4o-mini',
    ResourceName: 'gpt-4o-mini',
    ResourceType: 'Model',
    ServiceCategory: 'AI and Machine Learning',
    ServiceSubcategory: 'Generative AI',
    ServiceName: 'openai API',
    SkuId: 'openai/gpt-4o-mini',
    SubAccountId: projectId,
    SubAccountName: 'Project focus-a', // the name createProjectWithKey gives
    x_OccurredAt: '2026-11-05T10:15:30.250Z',
    x_AliasName: 'summarizer',
    x_Origin: 'web',
    x_InputTokens: '1000',
    x_CachedInputTokens: '200',
    x_OutputTokens: '500',
    x_CostSource: 'REGISTRY',
    x_LatencyMs: '812',
  });
  // Only the promoted metadata key (a dimension) is a tag; the server's own tags are prefixed.
  expect(JSON.parse(rows[0].Tags)).toEqual({
    'llmring/project': 'focus-a',
    'llmring/alias': 'summarizer',
    'llmring/origin': 'web',
    'llmring/profile': 'default',
    team: 'payments',
  });

  // A model named like a formula is shown as text by a spreadsheet.
  expect(rows[1].ResourceName).toBe(`'=HYPERLINK("http://x")`);
  expect(rows[1].BilledCost).toBe('0.00000000');

  expect(rows[2]).toMatchObject({
    BilledCost: '0.25000000',
    PricingCategory: 'Other',
    x_CostSource: 'CLIENT',
    ChargePeriodStart: '2026-11-30T23:00:00Z',
    ChargePeriodEnd: '2026-12-01T00:00:00Z',
    ChargeDescription: 'claude-sonnet-4 (anthropic): 10000 input tokens, 2000 output tokens (500 reasoning)',
    ConsumedQuantity: '12000',
    x_AliasName: '',
    x_LatencyMs: '',
  });
  expect(JSON.parse(rows[2].Tags)).toEqual({ 'llmring/project': 'focus-a', 'llmring/profile': 'default' });
}

test('GET /v1/exports/focus streams a month as FOCUS 1.2 CSV', async () => {
  const res = await server.http('/v1/exports/focus?start_date=2026-11-01&end_date=2026-11-30', {
    headers: withKey(key),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
  expect(res.headers.get('content-disposition')).toContain('focus-2026-11-01-2026-12-01.csv');
  checkNovember(await res.text());
});

test('GET /v1/exports/focus?format=parquet sends the same rows as Parquet', async () => {
  const res = await server.http(
    '/v1/exports/focus?start_date=2026-11-01&end_date=2026-11-30&format=parquet',
    {
      headers: withKey(key),
    },
  );
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/vnd.apache.parquet');
  expect(res.headers.get('content-disposition')).toContain('focus-2026-11-01-2026-12-01.parquet');
  const buffer = await res.arrayBuffer();
  const rows = (await parquetReadObjects({ file: buffer })) as Array<Record<string, unknown>>;
  expect(rows.map((r) => r.x_UsageLogId)).toEqual([ids.a, ids.formula, ids.b]);
  expect(rows.map((r) => r.BilledCost)).toEqual([0.000435, 0, 0.25]);
});

test('the export route: 401 without a key, 400 naming a bad field, a key sees its own project only', async () => {
  expect((await server.http('/v1/exports/focus')).status).toBe(401);
  const bad = await server.http('/v1/exports/focus?start_date=yesterday', { headers: withKey(key) });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { field: string }).field).toBe('start_date');
  const fmt = await server.http('/v1/exports/focus?format=xlsx', { headers: withKey(key) });
  expect(fmt.status).toBe(400);

  const other = await createProjectWithKey(server, 'focus-other');
  const mine = await server.http('/v1/exports/focus?start_date=2026-11-01&end_date=2026-11-30', {
    headers: withKey(other.secret),
  });
  expect((parse(await mine.text(), { columns: true }) as Row[]).length).toBe(0);
  const admin = await server.http(
    `/v1/exports/focus?start_date=2026-11-01&end_date=2026-11-30&project=${projectId}`,
    { headers: asAdmin },
  );
  expect((parse(await admin.text(), { columns: true }) as Row[]).length).toBe(3);
});

async function exportNovember(format: string, file: string): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await runCli(
    [
      'export',
      '--format',
      format,
      '--project',
      'focus-a',
      '--start',
      '2026-11-01',
      '--end',
      '2026-11-30',
      '--batch-size',
      '2',
      '-o',
      file,
    ],
    {
      stdout: { write: () => true, once: () => undefined },
      stderr: {
        write: (s: string) => {
          err += s;
          return true;
        },
        once: () => undefined,
      },
      env: { LLMRING_ENV: 'test', LLMRING_METADATA_DIMENSIONS: 'team' },
      db: server.app.services.db,
      confirm: async () => false,
    },
  );
  return { code, err };
}

test('llmring-server export --format focus writes the same file, in batches', async () => {
  const file = path.join(tmp, 'focus-2026-11.csv');
  const { code, err } = await exportNovember('focus', file);
  expect(err).toContain('Exported 3 usage logs');
  expect(code).toBe(0);
  checkNovember(fs.readFileSync(file, 'utf8'));
  expect(fs.existsSync(`${file}.partial`)).toBe(false);
});

test('--format focus-parquet writes a Parquet file that reads back with the same rows, typed', async () => {
  const file = path.join(tmp, 'focus-2026-11.parquet');
  const { code, err } = await exportNovember('focus-parquet', file);
  expect(err).toContain('Exported 3 usage logs');
  expect(code).toBe(0);
  const bytes = fs.readFileSync(file);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const metadata = parquetMetadata(buffer);
  expect(Number(metadata.num_rows)).toBe(3);
  expect(metadata.key_value_metadata).toContainEqual({ key: 'focus_version', value: '1.2' });
  expect(metadata.schema.slice(1, 1 + HEADER_START.length).map((c) => c.name)).toEqual(HEADER_START);

  const rows = (await parquetReadObjects({ file: buffer })) as Array<Record<string, unknown>>;
  expect(rows.map((r) => r.x_UsageLogId)).toEqual([ids.a, ids.formula, ids.b]);
  expect(rows[0]).toMatchObject({
    BilledCost: 0.000435,
    ConsumedQuantity: 1500,
    ChargePeriodStart: new Date('2026-11-05T10:00:00Z'),
    BillingPeriodEnd: new Date('2026-12-01T00:00:00Z'),
    x_InputTokens: 1000n,
    x_CostSource: 'REGISTRY',
    ServiceName: 'openai API',
    ChargeClass: null,
  });
  expect(JSON.parse(rows[0].Tags as string)).toMatchObject({ team: 'payments' });
  // No formula escaping in Parquet: it is not opened by a spreadsheet as text.
  expect(rows[1].ResourceName).toBe('=HYPERLINK("http://x")');
  expect(rows[2]).toMatchObject({ BilledCost: 0.25, x_LatencyMs: null });

  expect((await exportNovember('focus-parquet', '')).code).toBe(2);
});
