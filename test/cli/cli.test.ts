/**
 * The CLI in-process, on a fresh database, as an operator would use it: migrate and roll
 * back, status, projects and keys, stats, export (CSV and JSON Lines, in small batches so
 * rows cross batch and project boundaries) and prune; exit codes and error messages. Plus
 * one smoke test of the real executable.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createServices, type Services } from '../../src/services';
import { runCli } from '../../src/cli/program';
import { RetentionService } from '../../src/services/retention';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { cliRunner } from '../helpers/cli';

let database: TestDatabase;
let db: Knex;
let confirmAnswer = false;
let tmp: string;

const cli = cliRunner(() => db, { confirm: () => confirmAnswer });

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
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-cli-'));
});
afterAll(async () => {
  await database?.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('migrate, status, and a rollback that asks first', async () => {
  let run = await cli('project', 'list');
  expect(run.code).toBe(1);
  expect(run.err).toMatch(/pending migration.*llmring-server migrate/);

  run = await cli('migrate');
  expect(run.code).toBe(0);
  expect(run.out).toMatch(/Applied \d+ migration\(s\)/);

  run = await cli('status', '--json');
  expect(run.code).toBe(0);
  const status = JSON.parse(run.out);
  expect(status.database.kind).toBe(process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite');
  expect(status.migrations.pending).toEqual([]);
  expect(status.counts).toMatchObject({ projects: 0, apiKeys: 0, usageLogs: 0, receipts: 0 });
  const applied = status.migrations.applied.length;

  confirmAnswer = false;
  run = await cli('migrate', '--rollback', '--all');
  expect(run.code).toBe(1);
  expect(run.err).toContain('not confirmed');
  expect(JSON.parse((await cli('status', '--json')).out).migrations.applied).toHaveLength(applied);

  run = await cli('migrate', '--rollback', '--all', '--yes');
  expect(run.code).toBe(0);
  expect(run.out).toContain(`Rolled back ${applied} migration(s)`);
  run = await cli('status');
  expect(run.out).toContain(`0 applied, ${applied} pending`);

  expect((await cli('migrate')).code).toBe(0);
  expect((await cli('migrate')).out).toContain('Already up to date');
  expect((await cli('migrate', '--all')).code).toBe(2);
});

let secret: string;
let keyId: string;

test('projects and API keys', async () => {
  let run = await cli('project', 'create', 'Client A', '--description', 'first client');
  expect(run.code).toBe(0);
  expect(run.out).toContain("Created project 'client-a'");

  run = await cli('project', 'create', 'Other', '--key', 'client-a');
  expect(run.code).toBe(2);
  expect(run.err).toContain("a project with key 'client-a' already exists");
  expect((await cli('project', 'create', 'Other', '--key', 'other')).code).toBe(0);

  run = await cli('key', 'create', 'client-a', '--name', 'web app');
  expect(run.code).toBe(0);
  // stdout is the secret alone, so scripts can capture it; the details go to stderr.
  expect(run.out).toMatch(/^lrs_\S+\n$/);
  secret = run.out.trim();
  expect(run.err).toContain("for project 'client-a'");
  const found = await (await services()).apiKeys.authenticate(secret);
  expect(found?.project.key).toBe('client-a');
  keyId = found!.apiKey.id;

  run = await cli('key', 'list', 'client-a', '--json');
  const keys = JSON.parse(run.out);
  expect(keys).toEqual([
    expect.objectContaining({ id: keyId, name: 'web app', prefix: secret.slice(0, 12) }),
  ]);
  expect(run.out).not.toContain(secret);

  run = await cli('project', 'list');
  expect(run.out).toMatch(/KEY\s+NAME/);
  expect(run.out).toMatch(/client-a\s+Client A/);

  expect((await cli('key', 'revoke', 'not-an-id')).code).toBe(2);
  run = await cli('key', 'revoke', keyId);
  expect(run.code).toBe(0);
  expect(await (await services()).apiKeys.authenticate(secret)).toBeNull();

  run = await cli('project', 'archive', 'other');
  expect(run.code).toBe(0);
  expect((await cli('project', 'list', '--json')).out).not.toContain('"other"');
  expect((await cli('project', 'list', '--all', '--json')).out).toContain('"other"');
  run = await cli('key', 'create', 'nope');
  expect(run.code).toBe(1);
  expect(run.err).toContain("no project with key or id 'nope'");
});

const day = (d: number, h = 12) => new Date(Date.UTC(2025, 2, d, h));

test('stats, as tables and as JSON', async () => {
  const s = await services();
  const a = await s.projects.getByKey('client-a');
  const b = await s.projects.create({ key: 'client-b', name: 'Client B' });
  const record = (project: typeof a, input: Record<string, unknown>) =>
    s.usage.record(
      { project: project!, apiKeyId: null },
      {
        provider: 'openai',
        model: 'gpt-4o',
        inputTokens: 1000,
        outputTokens: 100,
        cost: 0.01,
        ...input,
      },
    );
  for (const d of [1, 2, 3])
    await record(a, { aliasName: 'summarizer', occurredAt: day(d), metadata: { n: d } });
  await record(a, { provider: 'anthropic', model: 'claude-x', cost: 0.02, occurredAt: day(2, 8) });
  await record(a, {
    provider: 'anthropic',
    model: 'claude-x',
    cost: 0.02,
    occurredAt: day(4),
    metadata: { note: 'a, "b"' },
  });
  await record(b, { aliasName: 'summarizer', occurredAt: day(2) });

  let run = await cli(
    'stats',
    '--project',
    'client-a',
    '--start',
    '2025-03-01',
    '--end',
    '2025-03-31',
    '--json',
  );
  expect(run.code).toBe(0);
  const stats = JSON.parse(run.out);
  expect(stats.summary).toMatchObject({ requests: 5, cost: '0.07000000', uniqueAliases: 1, uniqueModels: 2 });
  expect(stats.byAlias).toEqual([
    expect.objectContaining({ aliasName: null, requests: 2, cost: '0.04000000' }),
    expect.objectContaining({ aliasName: 'summarizer', requests: 3, cost: '0.03000000', models: ['gpt-4o'] }),
  ]);
  expect(stats.byModel.map((m: { model: string }) => m.model)).toEqual(['claude-x', 'gpt-4o']);

  run = await cli(
    'stats',
    '--project',
    'client-a',
    '--start',
    '2025-03-01',
    '--end',
    '2025-03-31',
    '--group-by',
    'day',
  );
  expect(run.code).toBe(0);
  expect(run.out).toContain(
    "Usage of project 'client-a' from 2025-03-01 00:00:00 to 2025-04-01 00:00:00 UTC",
  );
  expect(run.out).toMatch(/summarizer\s+3\s+3,000\s+0\s+300\s+\$0\.0300\s+gpt-4o/);
  expect(run.out).toMatch(/\(no alias\)\s+2/);
  expect(run.out).toMatch(/By day \(UTC\)\n.*\n2025-03-01 00:00\s+1/);

  // Every project when none is named; the end date includes its day.
  run = await cli('stats', '--start', '2025-03-02', '--end', '2025-03-02', '--json');
  expect(JSON.parse(run.out).summary.requests).toBe(3);

  run = await cli('stats', '--start', '2025-02-30');
  expect(run.code).toBe(2);
  expect(run.err).toContain("--start: '2025-02-30' is not an ISO 8601 date");
  run = await cli('stats', '--start', '2025-03-10', '--end', '2025-03-01');
  expect(run.code).toBe(2);
  expect(run.err).toContain('--start: must be before the end of the range');
  expect((await cli('stats', '--group-by', 'year')).code).toBe(2);
});

test('export streams CSV to a file and JSON Lines to stdout, in batches, with the filters', async () => {
  const file = path.join(tmp, 'usage.csv');
  let run = await cli(
    'export',
    '--project',
    'client-a',
    '--start',
    '2025-03-01',
    '--end',
    '2025-03-31',
    '-o',
    file,
    '--batch-size',
    '2',
  );
  expect(run.code).toBe(0);
  expect(run.out).toBe('');
  expect(run.err).toContain('exported 5 of 5 usage logs (100%)');
  expect(run.err).toContain(`Exported 5 usage logs to ${file}.`);
  expect(fs.existsSync(`${file}.partial`)).toBe(false);
  const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  expect(lines[0]).toBe(
    'id,project_key,occurred_at,received_at,provider,model,alias_name,profile,origin,id_at_origin,' +
      'input_tokens,output_tokens,cached_input_tokens,cache_write_tokens,cache_write_1h_tokens,reasoning_tokens,' +
      'cost,original_cost,cost_source,latency_ms,idempotency_key,metadata,warnings',
  );
  expect(lines).toHaveLength(6);
  // Oldest call first; quoting of a JSON value holding commas and quotes.
  expect(lines[1]).toContain(',client-a,2025-03-01T12:00:00.000Z,');
  expect(lines[5]).toContain(',0.02000000,0.02000000,client,,,"{""note"":""a, \\""b\\""""}"');

  run = await cli(
    'export',
    '--format',
    'jsonl',
    '--start',
    '2025-03-01',
    '--end',
    '2025-03-31',
    '--batch-size',
    '2',
  );
  expect(run.code).toBe(0);
  const rows = run.out
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(rows.map((r) => r.project_key)).toEqual([
    'client-a',
    'client-a',
    'client-a',
    'client-a',
    'client-a',
    'client-b',
  ]);
  const times = rows.slice(0, 5).map((r) => r.occurred_at);
  expect(times).toEqual([...times].sort());
  expect(rows[0]).toMatchObject({
    alias_name: 'summarizer',
    cost: '0.01000000',
    metadata: { n: 1 },
    input_tokens: 1000,
  });

  run = await cli(
    'export',
    '--format',
    'jsonl',
    '--start',
    '2025-03-01',
    '--end',
    '2025-03-31',
    '--alias',
    'summarizer',
  );
  expect(run.out.trimEnd().split('\n')).toHaveLength(4);
  run = await cli(
    'export',
    '--format',
    'jsonl',
    '--start',
    '2025-03-01',
    '--end',
    '2025-03-31',
    '--unaliased',
    '--model',
    'claude-x',
  );
  expect(run.out.trimEnd().split('\n')).toHaveLength(2);
  expect((await cli('export', '--format', 'xml')).code).toBe(2);
  const unwritable = path.join(tmp, 'missing-dir', 'usage.csv');
  run = await cli('export', '--start', '2025-03-01', '-o', unwritable);
  expect(run.code).toBe(1);
  expect(run.err).toContain('ENOENT');
});

/**
 * Folds every stored log into the hourly rollups. The watermark stops at the oldest open
 * transaction of the whole cluster, so while other test files run on the same Postgres
 * server a round may not reach the newest logs: retry until it has.
 */
async function rollUpEverything(s: Services): Promise<void> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
    await s.rollups.runOnce();
    if ((await s.rollups.lagSeconds()) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the rollups did not catch up within 20 seconds');
}

test('prune asks first, keeps receipts detached by default, or deletes them', async () => {
  const receiptsBefore = await db('receipts').count({ n: '*' });
  // Prune keeps logs the rollups have not counted; count them all first.
  await rollUpEverything(await services());
  let run = await cli('prune', '--before', '2025-03-03', '--dry-run');
  expect(run.code).toBe(0);
  // Mar 1 and Mar 2 (three calls, one of them client-b's).
  expect(run.out).toMatch(/Would delete 4 usage logs of every project.*their 4 receipts kept, detached/);

  confirmAnswer = false;
  run = await cli('prune', '--before', '2025-03-03');
  expect(run.code).toBe(1);
  expect(run.err).toContain('nothing deleted');
  expect(Number((await db('usage_logs').count({ n: '*' }))[0].n)).toBe(6);

  run = await cli('prune', '--before', '2025-03-03', '--yes');
  expect(run.code).toBe(0);
  expect(run.out).toBe('Deleted 4 usage logs; kept 4 receipts, detached from them.\n');
  expect(Number((await db('usage_logs').count({ n: '*' }))[0].n)).toBe(2);
  expect(await db('receipts').count({ n: '*' })).toEqual(receiptsBefore);
  const detached = await db('receipts').whereNull('usage_log_id');
  expect(detached).toHaveLength(4);
  const s = await services();
  for (const r of detached) expect(s.receipts.verify(r.document).valid).toBe(true);
  // The hourly rollups stay: statistics of the pruned (whole) hours still count those calls.
  run = await cli('stats', '--start', '2025-03-01', '--end', '2025-03-31', '--json');
  expect(JSON.parse(run.out).summary.requests).toBe(6);

  // A log the rollups have not counted yet is kept until they have.
  const a = (await s.projects.getByKey('client-a'))!;
  await s.usage.record(
    { project: a, apiKeyId: null },
    {
      provider: 'openai',
      model: 'gpt-4o',
      inputTokens: 1,
      outputTokens: 1,
      occurredAt: new Date('2025-02-01T00:00:00Z'),
    },
  );
  const retention = new RetentionService({ db });
  expect(await retention.preview(new Date('2025-03-03'))).toEqual({
    usageLogs: 0,
    receipts: 0,
    waitingForRollups: 1,
  });
  expect((await retention.prune(new Date('2025-03-03'))).usageLogs).toBe(0);
  await rollUpEverything(s);
  expect((await cli('prune', '--before', '2025-03-03', '--yes')).out).toMatch(
    /^Deleted 1 usage log; kept 1 receipt, detached/,
  );

  confirmAnswer = true;
  run = await cli('prune', '--before', '2025-03-05', '--project', 'client-a', '--delete-receipts');
  expect(run.code).toBe(0);
  expect(run.out).toBe('Deleted 2 usage logs; deleted 2 receipts.\n');
  expect(Number((await db('receipts').count({ n: '*' }))[0].n)).toBe(5);

  run = await cli('prune', '--before', '2999-01-01', '--yes');
  expect(run.code).toBe(2);
  expect(run.err).toContain('before: is in the future');
  expect((await cli('prune')).code).toBe(2);
});

test('budgets and webhooks: create, list, status, deliveries, and errors naming the option', async () => {
  const s = await services();
  const project = (await s.projects.create({ key: 'budgeted', name: 'Budgeted' }))!;
  let run = await cli(
    'budget',
    'create',
    'budgeted',
    '--amount',
    '2',
    '--period',
    'day',
    '--alias',
    'writer',
  );
  expect(run.code).toBe(0);
  expect(run.out).toMatch(/day budget \(day, UTC\): \$0\.0000 of \$2\.0000 \[-{20}\] 0\.0%/);
  const id = /Budget (\S+) created/.exec(run.out)![1];
  for (const [alias, cost] of [
    ['writer', 0.5],
    ['writer', 0.25],
    ['other', 9],
  ] as const) {
    await s.usage.record(
      { project, apiKeyId: null },
      { provider: 'openai', model: 'gpt-4o', inputTokens: 10, outputTokens: 5, aliasName: alias, cost },
    );
  }
  run = await cli('budget', 'status', id, '--json');
  expect(run.code).toBe(0);
  expect(JSON.parse(run.out)).toMatchObject({ spent: '0.75000000', remaining: '1.25000000', percent: 37.5 });
  run = await cli('budget', 'list', '--project', 'budgeted');
  expect(run.out).toMatch(
    /day budget\s+day UTC\s+alias=writer\s+\$0\.7500\s+\$2\.0000\s+\[####------\] 37\.5%/,
  );

  for (const [args, message] of [
    [['--amount', '2', '--period', 'year'], /--period: one of day, week, month, total/],
    [['--amount', '-1'], /--amount: /],
    [['--amount', '2', '--thresholds', '50,abc'], /--thresholds: expected whole percentages/],
    [['--amount', '2', '--time-zone', 'Mars/Olympus'], /--time-zone: /],
  ] as const) {
    run = await cli('budget', 'create', 'budgeted', ...args);
    expect([run.code, run.err]).toEqual([2, expect.stringMatching(message)]);
  }

  run = await cli(
    'webhook',
    'create',
    '--url',
    'http://127.0.0.1:9/hook',
    '--event',
    'budget.threshold_crossed',
  );
  expect([run.code, run.err]).toEqual([
    2,
    expect.stringMatching(/--url: 127\.0\.0\.1 is an internal address/),
  ]);
  run = await cli('webhook', 'create', '--url', 'https://hooks.example.com/x', '--event', 'budget.nope');
  expect([run.code, run.err]).toEqual([2, expect.stringMatching(/--event: 'budget.nope' is not one of/)]);
  run = await cli(
    'webhook',
    'create',
    '--url',
    'https://hooks.example.com/x',
    '--event',
    'budget.threshold_crossed',
    '--project',
    'budgeted',
  );
  expect(run.code).toBe(0);
  const secret = /Signing secret \(shown only now\): (whsec_\S+)/.exec(run.out)![1];
  const hookId = /Webhook (\S+) created/.exec(run.out)![1];
  run = await cli('webhook', 'list');
  expect(run.out).toMatch(/budgeted\s+https:\/\/hooks\.example\.com\/x\s+budget\.threshold_crossed\s+active/);
  expect(run.out).not.toContain(secret);
  expect((await cli('webhook', 'test', hookId)).code).toBe(0);
  run = await cli('webhook', 'deliveries', hookId, '--json');
  expect(JSON.parse(run.out)).toEqual([
    expect.objectContaining({ eventType: 'webhook.test', status: 'pending' }),
  ]);
  expect(run.out).not.toContain(secret);

  expect((await cli('budget', 'delete', id)).code).toBe(0);
  expect((await cli('budget', 'status', id)).code).toBe(1);
});

test('configuration errors and help', async () => {
  const out: string[] = [];
  const code = await runCli(['status'], {
    stdout: { write: () => true, once: () => undefined },
    stderr: { write: (s: string) => out.push(s) > 0, once: () => undefined },
    env: { DATABASE_URL: 'mysql://nope', PORT: 'x' },
  });
  expect(code).toBe(2);
  expect(out.join('')).toMatch(/Invalid configuration:\n {2}- DATABASE_URL: .*\n {2}- PORT: /);

  let run = await cli('export', '--help');
  expect(run.code).toBe(0);
  expect(run.out).toContain('Usage: llmring-server export [options]');
  run = await cli('frobnicate');
  expect(run.code).toBe(2);
  expect(run.err).toContain("unknown command 'frobnicate'");
});

test('the installed executable answers --help', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['bin/llmring-server.js', '--help'], {
    cwd: path.resolve(__dirname, '..', '..'),
    timeout: 30_000,
  });
  for (const command of ['serve', 'migrate', 'status', 'project', 'key', 'stats', 'export', 'prune']) {
    expect(stdout).toContain(`  ${command}`);
  }
});
