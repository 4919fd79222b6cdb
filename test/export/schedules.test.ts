/**
 * Scheduled exports on a real database: a daily schedule writes one file per day, no more,
 * however often (and from however many instances) the worker runs; each file is complete, with
 * its manifest line (rows, sum of cost, SHA-256) computed by hand here; a failed attempt leaves
 * no file and is retried. Times are passed to the worker's round, not waited for.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { parse } from 'csv-parse/sync';
import { loadConfig } from '../../src/config';
import { runCli } from '../../src/cli/program';
import { createLogger } from '../../src/logger';
import { createServices, type Services } from '../../src/services';
import type { Caller } from '../../src/services/usage';
import { ExportScheduleService } from '../../src/services/exportSchedules';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { asAdmin, dataOf, errorCodes, startTestServer, withKey } from '../helpers/server';

let database: TestDatabase;
let db: Knex;
let dir: string;
let caller: Caller;

function services(env: Record<string, string> = {}): Promise<Services> {
  return createServices({
    db,
    config: loadConfig({
      LLMRING_ENV: 'test',
      LLMRING_EXPORT_DIR: dir,
      LLMRING_EXPORT_GRACE_SECONDS: '600',
      ...env,
    }),
    logger: createLogger({ level: 'silent' }),
  });
}

const hours = (n: number) => n * 3_600_000;

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
  await db.migrate.latest();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-schedules-'));
  const s = await services();
  const project = await s.projects.create({ key: 'sched', name: 'Scheduled' });
  caller = { project, apiKeyId: null };
});
afterAll(async () => {
  await database?.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Usage at fixed instants in the past, with client costs (exact sums by hand). */
async function logAt(s: Services, iso: string, cost: number): Promise<void> {
  await s.usage.record(caller, {
    provider: 'openai',
    model: 'gpt-4o-mini',
    inputTokens: 10,
    outputTokens: 5,
    cost,
    occurredAt: new Date(iso),
  });
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

test('a daily schedule writes one complete file per day, once, with its manifest line', async () => {
  const a = await services();
  const b = await services(); // a second instance on the same database
  const schedule = await a.exportSchedules.create({
    format: 'FOCUS_CSV',
    period: 'DAILY',
    timeZone: 'Europe/Berlin',
    destination: 'finance/daily',
  });
  expect(schedule.timeZone).toBe('Europe/Berlin');
  const created = schedule.createdAt.getTime();
  // The schedule's first local day in Berlin, as the database's zone rules say.
  const { rows: start } = await db.raw(
    `SELECT date_trunc('day', ?::timestamptz AT TIME ZONE 'Europe/Berlin') AT TIME ZONE 'Europe/Berlin' AS t,
            to_char(?::timestamptz AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD') AS label`,
    [schedule.createdAt, schedule.createdAt],
  );
  const dayStart = new Date(start[0].t);
  const label: string = start[0].label;
  // Two calls in the schedule's first local day (before now), one of them cost 0.1, one 0.02.
  const inDay = (offsetMs: number) => new Date(Math.min(dayStart.getTime() + offsetMs, created - 1000));
  await logAt(a, inDay(1000).toISOString(), 0.1);
  await logAt(a, inDay(2000).toISOString(), 0.02);

  const folder = path.join(dir, 'finance', 'daily');
  const dayEnd = dayStart.getTime() + hours(24);

  // Before the day ends (and within the grace after it), nothing is due.
  expect(await a.exportSchedules.runOnce(new Date(dayEnd - 1000))).toEqual({ written: 0, failed: 0 });
  expect(await a.exportSchedules.runOnce(new Date(dayEnd + 599_000))).toEqual({ written: 0, failed: 0 });
  expect(fs.readdirSync(folder)).toEqual([]);

  // Ten minutes after: written once, by whichever instance gets it.
  const after = new Date(dayEnd + 600_000);
  const rounds = await Promise.all([a.exportSchedules.runOnce(after), b.exportSchedules.runOnce(after)]);
  expect(rounds.reduce((n, r) => n + r.written, 0)).toBe(1);
  expect(await a.exportSchedules.runOnce(new Date(dayEnd + hours(2)))).toEqual({ written: 0, failed: 0 });

  const name = `focus-${label}.csv`;
  expect(fs.readdirSync(folder).sort()).toEqual([name, 'manifest.jsonl']);
  const rows = parse(fs.readFileSync(path.join(folder, name), 'utf8'), { columns: true }) as Array<
    Record<string, string>
  >;
  expect(rows.map((r) => r.BilledCost)).toEqual(['0.10000000', '0.02000000']);

  const manifest = fs
    .readFileSync(path.join(folder, 'manifest.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(manifest).toEqual([
    {
      file: name,
      schedule_id: schedule.id,
      format: 'FOCUS_CSV',
      period_start: dayStart.toISOString(),
      period_end: new Date(dayEnd).toISOString(),
      rows: 2,
      cost: '0.12000000',
      sha256: sha256(path.join(folder, name)),
      written_at: after.toISOString(),
    },
  ]);

  // Two days later: the next two days are written (empty ones too), each once.
  const later = new Date(dayEnd + hours(48) + 600_000);
  expect(await b.exportSchedules.runOnce(later)).toEqual({ written: 2, failed: 0 });
  expect(await a.exportSchedules.runOnce(later)).toEqual({ written: 0, failed: 0 });
  expect(fs.readdirSync(folder).filter((f) => f.endsWith('.csv'))).toHaveLength(3);
  const lines = fs.readFileSync(path.join(folder, 'manifest.jsonl'), 'utf8').trim().split('\n');
  expect(lines).toHaveLength(3);
  expect(JSON.parse(lines[1])).toMatchObject({ rows: 0, cost: '0.00000000' });

  const runs = await a.exportSchedules.runs(schedule.id);
  expect(runs.map((r) => r.status)).toEqual(['WRITTEN', 'WRITTEN', 'WRITTEN']);

  // Deleted: it writes nothing more; its files stay.
  expect(await a.exportSchedules.delete(schedule.id)).toBe(true);
  expect(await a.exportSchedules.runOnce(new Date(dayEnd + hours(96)))).toEqual({ written: 0, failed: 0 });
  expect(fs.readdirSync(folder).filter((f) => f.endsWith('.csv'))).toHaveLength(3);
});

test('a monthly Parquet schedule; a failed attempt leaves no file and is retried', async () => {
  const s = await services();
  const schedule = await s.exportSchedules.create({
    format: 'FOCUS_PARQUET',
    period: 'MONTHLY',
    destination: 'monthly',
  });
  const created = schedule.createdAt;
  const nextMonth = Date.UTC(created.getUTCFullYear(), created.getUTCMonth() + 1, 1);
  const folder = path.join(dir, 'monthly');
  // The folder goes away and a file stands in its place: the attempt fails, nothing is recorded.
  fs.rmSync(folder, { recursive: true, force: true });
  fs.writeFileSync(folder, 'in the way');
  const due = new Date(nextMonth + hours(1));
  const failed = await s.exportSchedules.runOnce(due);
  expect(failed).toEqual({ written: 0, failed: 1 });
  const [run] = await s.exportSchedules.runs(schedule.id);
  expect(run.status).toBe('FAILED');
  expect(run.error).toBeTruthy();

  fs.rmSync(folder);
  // Retried only after a pause, then written.
  expect(await s.exportSchedules.runOnce(due)).toEqual({ written: 0, failed: 0 });
  expect(await s.exportSchedules.runOnce(new Date(due.getTime() + hours(1)))).toEqual({
    written: 1,
    failed: 0,
  });
  const files = fs.readdirSync(folder).sort();
  const month = new Date(created).toISOString().slice(0, 7);
  expect(files).toEqual([`focus-${month}.parquet`, 'manifest.jsonl']);
  expect(fs.readFileSync(path.join(folder, files[0])).subarray(0, 4).toString()).toBe('PAR1');
  const [line] = fs.readFileSync(path.join(folder, 'manifest.jsonl'), 'utf8').trim().split('\n');
  expect(JSON.parse(line)).toMatchObject({ file: files[0], sha256: sha256(path.join(folder, files[0])) });
});

test('creating a schedule checks its input and needs LLMRING_EXPORT_DIR', async () => {
  const s = await services();
  const bad = async (input: Record<string, unknown>) => {
    try {
      await s.exportSchedules.create({
        format: 'FOCUS_CSV',
        period: 'DAILY',
        destination: 'x',
        ...input,
      } as never);
      return undefined;
    } catch (err) {
      return (err as { field?: string }).field;
    }
  };
  expect(await bad({ destination: '../etc' })).toBe('input.destination');
  expect(await bad({ destination: '/abs' })).toBe('input.destination');
  expect(await bad({ destination: 'monthly' })).toBe('input.destination'); // taken
  expect(await bad({ timeZone: 'Mars/Olympus' })).toBe('input.timeZone');
  expect(await bad({ period: 'HOURLY' })).toBe('input.period');
  expect(await bad({ format: 'XLSX' })).toBe('input.format');
  expect(await bad({ projectId: 'nope', destination: 'y' })).toBe('input.projectId');

  const off = await createServices({
    db,
    config: loadConfig({ LLMRING_ENV: 'test' }),
    logger: createLogger({ level: 'silent' }),
  });
  await expect(
    off.exportSchedules.create({ format: 'FOCUS_CSV', period: 'DAILY', destination: 'z' }),
  ).rejects.toThrow(/LLMRING_EXPORT_DIR/);
});

test('over GraphQL: an admin creates, lists and deletes schedules; a project key may not', async () => {
  const server = await startTestServer({ LLMRING_EXPORT_DIR: dir });
  try {
    const create = `mutation($input: CreateExportScheduleInput!) {
      createExportSchedule(input: $input) { id format period timeZone destination projectId runs { status } } }`;
    const input = {
      format: 'FOCUS_CSV',
      period: 'WEEKLY',
      timeZone: 'america/new_york',
      destination: 'gql/weekly',
    };
    const created = dataOf(await server.gql(create, { input }, asAdmin)).createExportSchedule;
    expect(created).toMatchObject({
      format: 'FOCUS_CSV',
      period: 'WEEKLY',
      timeZone: 'America/New_York',
      destination: 'gql/weekly',
      projectId: null,
      runs: [],
    });
    expect(fs.statSync(path.join(dir, 'gql', 'weekly')).isDirectory()).toBe(true);

    const bad = await server.gql(create, { input: { ...input, destination: '../../etc' } }, asAdmin);
    expect(errorCodes(bad)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors?.[0].extensions?.field).toBe('input.destination');
    const denied = await server.gql(
      create,
      { input: { ...input, destination: 'mine' } },
      withKey(server.firstKey),
    );
    expect(errorCodes(denied)).toEqual(['FORBIDDEN']);

    const list = dataOf(
      await server.gql(`{ exportSchedules { id destination } }`, {}, asAdmin),
    ).exportSchedules;
    expect(list.map((s: { destination: string }) => s.destination)).toContain('gql/weekly');
    const del = `mutation($id: UUID!) { deleteExportSchedule(id: $id) }`;
    expect(dataOf(await server.gql(del, { id: created.id }, asAdmin)).deleteExportSchedule).toBe(true);
    expect(dataOf(await server.gql(del, { id: created.id }, asAdmin)).deleteExportSchedule).toBe(false);
    // The audit log has the creation and the one deletion that deleted something.
    const { auditLog } = dataOf(await server.gql('{ auditLog(first: 50) { action targetId } }', {}, asAdmin));
    expect(
      auditLog
        .filter((e: { targetId: string }) => e.targetId === created.id)
        .map((e: { action: string }) => e.action),
    ).toEqual(['deleteExportSchedule', 'createExportSchedule']);
  } finally {
    await server.close();
  }
});

test('the CLI creates, lists and deletes schedules, naming bad options', async () => {
  const run = async (...args: string[]) => {
    const out = { code: -1, out: '', err: '' };
    const sink = (key: 'out' | 'err') => ({
      write: (t: string) => {
        out[key] += t;
        return true;
      },
      once: () => undefined,
    });
    out.code = await runCli(args, {
      stdout: sink('out'),
      stderr: sink('err'),
      env: { LLMRING_ENV: 'test', LLMRING_EXPORT_DIR: dir },
      db,
      confirm: async () => false,
    });
    return out;
  };
  let r = await run(
    'export-schedule',
    'create',
    '--format',
    'focus-parquet',
    '--period',
    'weekly',
    '--destination',
    'cli/weekly',
    '--project',
    'sched',
    '--json',
  );
  expect(r.code).toBe(0);
  const created = JSON.parse(r.out);
  expect(created).toMatchObject({ format: 'FOCUS_PARQUET', period: 'WEEKLY', projectId: caller.project.id });

  r = await run(
    'export-schedule',
    'create',
    '--format',
    'focus-csv',
    '--period',
    'daily',
    '--destination',
    '../x',
  );
  expect(r.code).toBe(2);
  expect(r.err).toContain('--destination: must be a folder relative to LLMRING_EXPORT_DIR');
  r = await run('export-schedule', 'create', '--format', 'xlsx', '--period', 'daily', '--destination', 'x');
  expect(r.code).toBe(2);

  r = await run('export-schedule', 'list');
  expect(r.code).toBe(0);
  expect(r.out).toContain('cli/weekly');
  r = await run('export-schedule', 'delete', created.id);
  expect(r.code).toBe(0);
  expect((await run('export-schedule', 'delete', created.id)).code).toBe(1);
});

test('a claim held by a crashed attempt is taken over once its lease expires, and written once', async () => {
  const s = await services();
  const schedule = await s.exportSchedules.create({
    format: 'FOCUS_CSV',
    period: 'DAILY',
    destination: 'crash',
  });
  const { rows } = await db.raw(
    `SELECT date_trunc('day', ?::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS t`,
    [schedule.createdAt],
  );
  const start = new Date(rows[0].t);
  const end = new Date(start.getTime() + hours(24));
  const due = new Date(end.getTime() + hours(1));
  // Another instance claimed the day and died while writing (its temporary file is left too).
  await db('export_runs').insert({
    schedule_id: schedule.id,
    period_start: start,
    period_end: end,
    status: 'RUNNING',
    attempt: 1,
    lease_until: new Date(due.getTime() + 60_000),
    started_at: due,
  });
  const folder = path.join(dir, 'crash');
  fs.writeFileSync(
    path.join(folder, `.focus-${start.toISOString().slice(0, 10)}.csv.1.partial`),
    'half a fi',
  );

  expect(await s.exportSchedules.runOnce(due)).toEqual({ written: 0, failed: 0 }); // still held
  const later = new Date(due.getTime() + 120_000);
  expect(await s.exportSchedules.runOnce(later)).toEqual({ written: 1, failed: 0 });
  expect(await s.exportSchedules.runOnce(later)).toEqual({ written: 0, failed: 0 });
  const [run] = await s.exportSchedules.runs(schedule.id);
  expect(run).toMatchObject({ status: 'WRITTEN', attempt: 2, rows: 0, cost: '0.00000000' });
  const manifest = fs.readFileSync(path.join(folder, 'manifest.jsonl'), 'utf8').trim().split('\n');
  expect(manifest).toHaveLength(1);
  expect(fs.readdirSync(folder).sort()).toEqual([
    `focus-${start.toISOString().slice(0, 10)}.csv`,
    'manifest.jsonl',
  ]);
  expect(await s.exportSchedules.delete(schedule.id)).toBe(true);
});

test('onWritten is called once per file, inside the transaction that records it; if it fails, so does the run', async () => {
  const s = await services();
  const calls: Array<{ inTransaction: boolean; file: string; rows: number }> = [];
  let fail = true;
  const worker = new ExportScheduleService({
    db,
    logger: createLogger({ level: 'silent' }),
    exports: s.exports,
    timeZones: s.timeZones,
    dir,
    graceSeconds: 0,
    intervalMs: 60_000,
    onWritten: async (trx, schedule, line) => {
      if (fail) throw new Error('the webhook queue is down');
      calls.push({ inTransaction: trx.isTransaction === true, file: line.file, rows: line.rows });
      expect(schedule.destination).toBe('hooked');
    },
  });
  const schedule = await worker.create({ format: 'FOCUS_CSV', period: 'DAILY', destination: 'hooked' });
  const due = new Date(schedule.createdAt.getTime() + hours(24));
  expect(await worker.runOnce(due)).toEqual({ written: 0, failed: 1 });
  expect((await worker.runs(schedule.id))[0].status).toBe('FAILED');
  fail = false;
  const later = new Date(due.getTime() + hours(1));
  expect(await worker.runOnce(later)).toEqual({ written: 1, failed: 0 });
  expect(await worker.runOnce(later)).toEqual({ written: 0, failed: 0 });
  expect(calls).toEqual([{ inTransaction: true, file: expect.stringMatching(/^focus-.*\.csv$/), rows: 0 }]);
  await worker.delete(schedule.id);
});

test("each file written queues one export.written event, carrying its manifest line, to the project's webhooks", async () => {
  const s = await services();
  const project = await s.projects.create({ key: 'sched-hooked', name: 'Hooked' });
  const { webhook } = await s.webhooks.create({
    projectId: project.id,
    url: 'https://hooks.example.com/exports',
    events: ['export.written'],
  });
  const other = await s.webhooks.create({
    projectId: project.id,
    url: 'https://hooks.example.com/budgets',
    events: ['budget.threshold_crossed'],
  });
  const schedule = await s.exportSchedules.create({
    projectId: project.id,
    format: 'FOCUS_CSV',
    period: 'DAILY',
    destination: 'hooked',
  });
  const dayEnd = Date.UTC(
    schedule.createdAt.getUTCFullYear(),
    schedule.createdAt.getUTCMonth(),
    schedule.createdAt.getUTCDate() + 1,
  );
  expect(await s.exportSchedules.runOnce(new Date(dayEnd + hours(1)))).toMatchObject({ written: 1 });
  expect(await s.exportSchedules.runOnce(new Date(dayEnd + hours(2)))).toMatchObject({ written: 0 });
  const [line] = fs
    .readFileSync(path.join(dir, 'hooked', 'manifest.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const deliveries = await s.webhooks.deliveries(webhook.id);
  expect(deliveries.map((d) => d.eventType)).toEqual(['export.written']);
  expect(JSON.parse(deliveries[0].body)).toMatchObject({ type: 'export.written', data: line });
  expect(await s.webhooks.deliveries(other.webhook.id)).toEqual([]);
});
