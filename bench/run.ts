/**
 * The issue-5 benchmark: one run, one table, server and raw Postgres side by side.
 *
 *   npx tsx bench/run.ts [--quick | --full]      (npm run bench / npm run bench:full)
 *
 * 1. Creates a fresh database llmring_bench_<timestamp>_<pid> on the loopback Postgres
 *    (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres), starts the real
 *    server against it as a child process and takes the API key it prints on first start.
 * 2. Ingest: logUsage over HTTP by a closed-loop load generator at 1, 16 and 64 clients,
 *    logUsageBatch of 100 at 4 clients, then pgbench inserting one usage_logs-shaped row per
 *    transaction at 1, 16 and 64 clients; the server's RSS is sampled every 100 ms meanwhile.
 * 3. Stats: seeds one project with 1M logs (and 10M in full mode) over 30 days in SQL, waits
 *    for the rollup worker's watermark to pass them, then times usageStats over HTTP and the
 *    same aggregation as raw scans, compares both answers, and checks that 1,000 logs sent
 *    just before a call are counted by it.
 * 4. The embedded PGlite server: logUsage at 8 clients.
 * The database, the servers and temp folders go at the end, on failure and on Ctrl-C.
 * Progress goes to stderr; the table to stdout and to bench/results/latest.md.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from 'pg';
import { Cleanup } from './lib/cleanup';
import { GraphQLClient } from './lib/http';
import { closedLoop, type LoadResult } from './lib/load';
import { elapsedSeconds, errorMessage, progress } from './lib/log';
import {
  benchDatabaseName,
  endQuietly,
  connect,
  createDatabase,
  databaseUrl,
  dropDatabase,
  serverVersion,
} from './lib/pg';
import {
  createRawTable,
  dropRawTable,
  pgbenchScript,
  RAW_TABLE,
  runPgbench,
  writeScript,
} from './lib/pgbench';
import { render, type Results, type ScaleResult } from './lib/report';
import { waitForRollups } from './lib/rollup';
import { postmasterPid, readMemory, REPO_ROOT, RssSampler, ServerProcess } from './lib/server';
import { seedLogs } from './lib/seed';
import { startJanitor } from './lib/janitor';
import {
  apiBreakdown,
  apiStats,
  compareGroups,
  compareStats,
  rawMetadataGroups,
  rawStats,
  timeRuns,
  type Group,
  type StatsAnswer,
  type Window,
} from './lib/stats';
import { DIMENSION, logInput, rng } from './lib/workload';

const MODES = {
  quick: {
    warmupMs: 1_500,
    ingestMs: 4_000,
    batchMs: 4_000,
    pgbenchSeconds: 4,
    pgliteMs: 6_000,
    scales: [1_000_000],
    apiRuns: { runs: 50, minRuns: 3, budgetMs: 10_000 },
    rawRuns: { runs: 5, minRuns: 2, budgetMs: 5_000 },
    catchUpTimeoutMs: 60_000,
    stallMs: 15_000,
    freshRounds: 1,
    requestTimeoutMs: 60_000,
  },
  full: {
    warmupMs: 3_000,
    ingestMs: 20_000,
    batchMs: 20_000,
    pgbenchSeconds: 20,
    pgliteMs: 10_000,
    scales: [1_000_000, 10_000_000],
    apiRuns: { runs: 50, minRuns: 10, budgetMs: 300_000 },
    rawRuns: { runs: 5, minRuns: 3, budgetMs: 180_000 },
    catchUpTimeoutMs: 900_000,
    stallMs: 60_000,
    freshRounds: 3,
    // While usageStats still scans raw logs, one call at 10M can take tens of seconds.
    requestTimeoutMs: 180_000,
  },
} as const;

const INGEST_LEVELS = [1, 16, 64];
/** A zone whose days are not UTC days, for the byPeriod row. */
const ZONE = 'Europe/Berlin';
const BATCH_SIZE = 100;
const BATCH_CLIENTS = 4;
const PGLITE_CLIENTS = 8;

const LOG_USAGE = `mutation BenchLogUsage($input: LogUsageInput!) {
  logUsage(input: $input) { usageLog { id cost costSource } receipt { receiptId signature } }
}`;
const LOG_USAGE_BATCH = `mutation BenchLogUsageBatch($inputs: [LogUsageInput!]!) {
  logUsageBatch(inputs: $inputs) { results { usageLog { id } receipt { receiptId } } }
}`;

type Mode = keyof typeof MODES;
type Settings = (typeof MODES)[Mode];

function parseArgs(argv: string[]): Mode {
  let mode: Mode = 'quick';
  for (const a of argv) {
    if (a === '--quick') mode = 'quick';
    else if (a === '--full') mode = 'full';
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: tsx bench/run.ts [--quick | --full]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (use --quick or --full)`);
  }
  return mode;
}

const label = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n.toLocaleString('en-US'));

/** Throws unless the response is a GraphQL success; cheap enough for the load loop. */
function expectOk(status: number, text: string): void {
  if (status !== 200 || !text.startsWith('{"data"') || text.includes('"errors"')) {
    throw new Error(`HTTP ${status}: ${text.slice(0, 200)}`);
  }
}

function ingestLoad(client: GraphQLClient, key: string, seed: number) {
  const r = rng(seed);
  const headers = { 'x-api-key': key };
  return async () => {
    const { status, text } = await client.post(
      JSON.stringify({ query: LOG_USAGE, variables: { input: logInput(r) } }),
      headers,
    );
    expectOk(status, text);
  };
}

function batchLoad(client: GraphQLClient, key: string, seed: number, size: number) {
  const r = rng(seed);
  const headers = { 'x-api-key': key };
  return async () => {
    const inputs = Array.from({ length: size }, () => logInput(r));
    const { status, text } = await client.post(
      JSON.stringify({ query: LOG_USAGE_BATCH, variables: { inputs } }),
      headers,
    );
    expectOk(status, text);
  };
}

/** The bench database's tables that have planner statistics (ANALYZE or autovacuum ran on them). */
async function analyzedTables(db: Client): Promise<string[]> {
  const { rows } = await db.query<{ relname: string }>(
    `SELECT relname FROM pg_stat_user_tables
     WHERE (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)
       AND relname IN ('usage_logs', 'usage_rollups_hourly', 'usage_rollups_daily', 'usage_rollups_hourly_models')
     ORDER BY relname`,
  );
  return rows.map((r) => r.relname);
}

async function checkpoint(db: Client): Promise<void> {
  await db.query('CHECKPOINT').catch(() => undefined); // needs superuser; only evens out the phases
}

/** Share of CPU time idle over the next `ms`, all cores (os.cpus() counters). */
async function cpuIdle(ms: number): Promise<number> {
  const sample = () =>
    os.cpus().reduce(
      (acc, c) => {
        const t = c.times;
        return { idle: acc.idle + t.idle, total: acc.total + t.idle + t.user + t.nice + t.sys + t.irq };
      },
      { idle: 0, total: 0 },
    );
  const a = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = sample();
  return b.total > a.total ? (b.idle - a.idle) / (b.total - a.total) : 1;
}

function environment(pgVersion: string, idle: number): string[] {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    if (dirty) commit += ' with uncommitted changes';
  } catch {
    // not a git checkout
  }
  const cpus = os.cpus();
  const busy = idle < 0.85;
  return [
    `Machine: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}`,
    `Node ${process.version}; PostgreSQL ${pgVersion} on the same machine (loopback); server commit ${commit}`,
    `CPU idle in the 3 s before the bench started: ${(idle * 100).toFixed(0)}%${busy ? ' (**other processes were busy: every figure is worse than on an idle machine**)' : ''}`,
  ];
}

/** Aligns the table's columns as `npm run format` would, so the results file passes format:check. */
async function formatMarkdown(markdown: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const options =
      (await prettier.resolveConfig(path.join(REPO_ROOT, 'bench', 'results', 'latest.md'))) ?? {};
    return await prettier.format(markdown, { ...options, parser: 'markdown' });
  } catch {
    return markdown;
  }
}

async function main(): Promise<void> {
  const mode = parseArgs(process.argv.slice(2));
  const S: Settings = MODES[mode];
  const cleanup = new Cleanup();
  let interrupted = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // npm and tsx relay the terminal's Ctrl-C as a second signal: only a later one forces the exit.
    if (interrupted) {
      if (performance.now() - interrupted < 3_000) return;
      process.stderr.write('signal again: exiting now; the janitor finishes the cleanup\n');
      process.exit(130);
    }
    interrupted = performance.now();
    progress(`${signal}: stopping servers and dropping the bench database`);
    void cleanup.run().finally(() => {
      janitor.dismiss();
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', (err) => {
    progress(`uncaught: ${errorMessage(err)}`);
    void cleanup.run().finally(() => {
      janitor.dismiss();
      process.exit(1);
    });
  });

  const res: Results = {
    mode,
    command: process.env.npm_lifecycle_event?.startsWith('bench')
      ? `npm run ${process.env.npm_lifecycle_event}`
      : `tsx bench/run.ts ${process.argv.slice(2).join(' ') || '--quick'}`.trim(),
    startedAt: new Date(),
    environment: [],
    settings: [],
    logUsage: [],
    raw: [],
    scales: [],
    skipped10M: mode === 'quick',
    serverLog: [],
    failures: [],
  };
  const fail = (what: string, err: unknown) => {
    const msg = `${what}: ${errorMessage(err)}`;
    res.failures.push(msg);
    progress(`FAILED ${msg}`);
  };

  const idleBefore = await cpuIdle(3_000); // before anything of the bench's own runs
  const dbName = benchDatabaseName();
  const dbUrl = databaseUrl(dbName); // throws before anything exists unless Postgres is on loopback
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-bench-'));
  // Should this process die without cleaning up, the janitor does it (see lib/janitor.ts).
  const janitor = startJanitor(path.join(os.tmpdir(), `llmring-bench-janitor-${process.pid}.json`), {
    database: dbName,
    processes: [],
    dirs: [tmp],
  });
  const track = (mark: string) => (pid: number) => janitor.update((j) => j.processes.push({ pid, mark }));
  cleanup.add('remove temp folder', () => fs.rmSync(tmp, { recursive: true, force: true }));
  /** Throws once interrupted, so that no phase starts while cleaning up. */
  const guard = () => {
    if (interrupted) throw new Error('interrupted');
  };
  const adminToken = randomBytes(24).toString('hex');
  const receiptSeed = String(generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }).d);
  const serverEnv = {
    LLMRING_ADMIN_TOKEN: adminToken,
    LLMRING_RECEIPTS_PRIVATE_KEY: receiptSeed,
    LLMRING_RECEIPTS_KEY_ID: 'k-bench',
    LLMRING_METADATA_DIMENSIONS: DIMENSION,
  };

  let completed = false;
  let syncCommit = 'unknown';
  let autovacuum = 'unknown';
  try {
    progress(`${mode} mode; creating database ${dbName}`);
    await createDatabase(dbName);
    cleanup.add(`drop database ${dbName}`, async () => {
      await dropDatabase(dbName);
      progress(`dropped database ${dbName}`);
    });
    const db = await connect(dbUrl, 'llmring-bench');
    cleanup.add('close bench connection', () => endQuietly(db));
    const pgVersion = await serverVersion(db);
    res.environment = environment(pgVersion, idleBefore);

    // ---- The server on Postgres ------------------------------------------------------------
    progress('starting the server on Postgres (node --import tsx src/main.ts)');
    const server = await ServerProcess.start({
      label: 'Postgres',
      env: { ...serverEnv, DATABASE_URL: dbUrl },
      cleanup,
      onSpawn: track('src/main.ts'),
    });
    progress(`server pid ${server.pid} listening on ${server.url}`);
    const client = new GraphQLClient(server.url, { maxSockets: 128, timeoutMs: S.requestTimeoutMs });
    cleanup.add('close HTTP client', () => client.close());
    const admin = { authorization: `Bearer ${adminToken}` };

    let ingestKey = server.firstKey;
    if (!ingestKey) {
      progress('no first key printed; creating a project and key as admin');
      const p = await client.request<{ createProject: { id: string } }>(
        `mutation { createProject(input: {key: "bench-ingest", name: "Bench ingest"}) { id } }`,
        undefined,
        admin,
      );
      ingestKey = (
        await client.request<{ createApiKey: { secret: string } }>(
          `mutation($p: UUID!) { createApiKey(projectId: $p, name: "bench") { secret } }`,
          { p: p.createProject.id },
          admin,
        )
      ).createApiKey.secret;
    }
    const key: string = ingestKey;
    const ingestIds = (
      await db.query<{ project_id: string; id: string }>(
        `SELECT project_id, id FROM api_keys WHERE key_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')`,
        [key],
      )
    ).rows[0];
    if (!ingestIds) throw new Error('the ingest API key is not in api_keys (stored as a SHA-256 hex hash?)');
    autovacuum = (await db.query<{ s: string }>(`SELECT current_setting('autovacuum') AS s`)).rows[0].s;
    const postmaster = await postmasterPid(db);
    syncCommit = (await db.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`)).rows[0]
      .s;

    // ---- Ingest -----------------------------------------------------------------------------
    const rss = new RssSampler(server.pid, 100).start();
    try {
      progress(`warm-up: logUsage at 16 clients for ${S.warmupMs / 1000} s`);
      await closedLoop({ concurrency: 16, durationMs: S.warmupMs, send: ingestLoad(client, key, 99) });
      for (const c of INGEST_LEVELS) {
        guard();
        await checkpoint(db);
        server.assertAlive();
        progress(`logUsage at ${c} client(s) for ${S.ingestMs / 1000} s`);
        const r = await closedLoop({
          concurrency: c,
          durationMs: S.ingestMs,
          send: ingestLoad(client, key, c),
          serverPid: server.pid,
          postmasterPid: postmaster,
        });
        res.logUsage.push(r);
        progress(
          `  ${Math.round(r.perSecond)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.errors} errors`,
        );
      }
      guard();
      await checkpoint(db);
      server.assertAlive();
      progress(`logUsageBatch of ${BATCH_SIZE} at ${BATCH_CLIENTS} clients for ${S.batchMs / 1000} s`);
      const b = await closedLoop({
        concurrency: BATCH_CLIENTS,
        durationMs: S.batchMs,
        send: batchLoad(client, key, 7, BATCH_SIZE),
        serverPid: server.pid,
        postmasterPid: postmaster,
      });
      res.batch = { ...b, batchSize: BATCH_SIZE, logsPerSecond: b.perSecond * BATCH_SIZE };
      progress(
        `  ${Math.round(res.batch.logsPerSecond)} logs/s, p50 ${b.p50.toFixed(1)} ms per batch, ${b.errors} errors`,
      );
    } catch (err) {
      fail('ingest', err);
    } finally {
      rss.stop();
      const m = readMemory(server.pid);
      if (res.logUsage.length)
        res.rss = { peakMb: rss.peakMb, hwmMb: (m?.hwmKb ?? NaN) / 1024, samples: rss.samples };
    }

    // ---- Raw reference: pgbench ---------------------------------------------------------------
    try {
      guard();
      server.assertAlive();
      await createRawTable(db);
      const script = writeScript(tmp, pgbenchScript(ingestIds.project_id, ingestIds.id));
      for (const c of INGEST_LEVELS) {
        await checkpoint(db);
        progress(`pgbench: one-row INSERT transactions at ${c} client(s) for ${S.pgbenchSeconds} s`);
        guard();
        const r = await runPgbench({
          database: dbName,
          scriptPath: script,
          clients: c,
          seconds: S.pgbenchSeconds,
          cleanup,
          onSpawn: track('pgbench'),
          postmasterPid: postmaster,
        });
        res.raw.push(r);
        progress(`  ${Math.round(r.rowsPerSecond)} rows/s`);
      }
    } catch (err) {
      fail('pgbench', err);
    } finally {
      await dropRawTable(db).catch(() => undefined);
    }

    // ---- Stats ------------------------------------------------------------------------------
    try {
      guard();
      server.assertAlive();
      const project = await client.request<{ createProject: { id: string } }>(
        `mutation { createProject(input: {key: "bench-stats", name: "Bench stats"}) { id } }`,
        undefined,
        admin,
      );
      const projectId = project.createProject.id;
      const created = await client.request<{ createApiKey: { secret: string; apiKey: { id: string } } }>(
        `mutation($p: UUID!) { createApiKey(projectId: $p, name: "bench") { secret apiKey { id } } }`,
        { p: projectId },
        admin,
      );
      const statsClient = new GraphQLClient(server.url, {
        headers: { 'x-api-key': created.createApiKey.secret },
        maxSockets: 4,
        timeoutMs: S.requestTimeoutMs,
      });
      cleanup.add('close stats client', () => statsClient.close());
      const dayMs = 86_400_000;
      const todayUtc = Math.floor(Date.now() / dayMs) * dayMs;
      const w: Window = {
        projectId,
        start: new Date(todayUtc - 30 * dayMs),
        end: new Date(todayUtc + dayMs),
      };
      const seeders = [db, await connect(dbUrl, 'llmring-bench-seed')];
      cleanup.add('close seed connection', () => endQuietly(seeders[1]));
      let seeded = 0;
      const fresh = rng(1234);

      for (const target of S.scales) {
        guard();
        const s: ScaleResult = { label: label(target), target };
        res.scales.push(s);
        try {
          const rows = target - seeded;
          progress(`seeding ${rows.toLocaleString('en-US')} logs into project bench-stats (to ${s.label})`);
          let lastPrint = performance.now();
          const seconds = await seedLogs(seeders, {
            projectId,
            apiKeyId: created.createApiKey.apiKey.id,
            rows,
            from: w.start,
            to: new Date(Math.min(Date.now(), w.end.getTime() - 1)), // inside the window, even past midnight
            onProgress: (done) => {
              if (performance.now() - lastPrint > 5_000) {
                lastPrint = performance.now();
                progress(`  ${done.toLocaleString('en-US')} of ${rows.toLocaleString('en-US')}`);
              }
            },
          });
          seeded = target;
          s.seed = { rows, seconds };
          progress(`  seeded in ${seconds.toFixed(1)} s; waiting for the rollup worker`);
          s.catchUp = await waitForRollups(db, {
            timeoutMs: S.catchUpTimeoutMs,
            stallMs: S.stallMs,
            label: s.label,
          });
          progress(
            `  rollups: ${s.catchUp.status} after ${s.catchUp.seconds.toFixed(1)} s (${s.catchUp.detail})`,
          );
          // First as the data is right after a bulk load: usage_logs never analysed (autovacuum
          // is off here; in production it lags after a load or migration), the rollup tables
          // as the worker left them (it vacuums and analyses them itself after folding many logs).
          s.analyzed = await analyzedTables(db);
          progress(
            `usageStats at ${s.label} with no manual ANALYZE (tables with planner statistics: ${s.analyzed.join(', ') || 'none'})`,
          );
          s.apiCold = await timeRuns(() => apiStats(statsClient, w), { ...S.apiRuns, warmup: true });
          progress(
            `  p50 ${s.apiCold.p50.toFixed(1)} ms, p99 ${s.apiCold.p99.toFixed(1)} ms over ${s.apiCold.n} calls`,
          );
          s.byAliasCold = await timeRuns(() => apiBreakdown(statsClient, w, 'alias'), {
            ...S.apiRuns,
            warmup: true,
          });
          let byFeature: Group[] = [];
          s.byFeatureCold = await timeRuns(
            async () => {
              byFeature = await apiBreakdown(statsClient, w, { metadata: DIMENSION });
            },
            { ...S.apiRuns, warmup: true },
          );
          progress(
            `  breakdown by alias p50 ${s.byAliasCold.p50.toFixed(1)} ms, by metadata ${DIMENSION} p50 ${s.byFeatureCold.p50.toFixed(1)} ms`,
          );
          s.featureMismatches = compareGroups(
            DIMENSION,
            byFeature,
            await rawMetadataGroups(db, w, DIMENSION),
          );

          // Then as autovacuum soon would leave them: fair plans for the raw scans, and the
          // rollup rows the worker rewrote each round during seeding reclaimed.
          await db.query('ANALYZE usage_logs');
          await db.query(
            'VACUUM ANALYZE usage_rollups_hourly, usage_rollups_daily, usage_rollups_hourly_models',
          );
          server.assertAlive();

          progress(
            `usageStats over HTTP at ${s.label} after ANALYZE (up to ${S.apiRuns.runs} calls, budget ${S.apiRuns.budgetMs / 1000} s)`,
          );
          let last: StatsAnswer | undefined;
          s.api = await timeRuns(
            async () => {
              last = await apiStats(statsClient, w);
            },
            { ...S.apiRuns, warmup: true },
          );
          progress(`  p50 ${s.api.p50.toFixed(1)} ms, p99 ${s.api.p99.toFixed(1)} ms over ${s.api.n} calls`);
          s.byZone = await timeRuns(() => apiStats(statsClient, w, ZONE), { ...S.apiRuns, warmup: true });
          progress(`  in ${ZONE}: p50 ${s.byZone.p50.toFixed(1)} ms`);

          progress(`raw scans at ${s.label} (up to ${S.rawRuns.runs} runs)`);
          let raw: StatsAnswer | undefined;
          s.raw = await timeRuns(async () => {
            raw = await rawStats(db, w);
          }, S.rawRuns);
          progress(`  p50 ${s.raw.p50.toFixed(0)} ms, p99 ${s.raw.p99.toFixed(0)} ms over ${s.raw.n} runs`);
          if (!last || !raw) throw new Error('no usageStats answer to compare');
          s.mismatches = compareStats(last, raw);
          s.logs = raw.summary.requests;
          if (s.mismatches.length)
            progress(`  API and raw answers differ: ${s.mismatches.slice(0, 5).join('; ')}`);

          const ms: number[] = [];
          const problems: string[] = [];
          // The new logs are stamped now, which is past the window's end once the run has
          // crossed UTC midnight: this check reads a window that reaches past now.
          const nextMidnight = Math.floor(Date.now() / dayMs) * dayMs + dayMs;
          const toNow: Window = { ...w, end: new Date(Math.max(w.end.getTime(), nextMidnight)) };
          let before = (await apiStats(statsClient, toNow)).summary.requests;
          for (let round = 0; round < S.freshRounds; round++) {
            const inputs = Array.from({ length: 1000 }, () => logInput(fresh));
            await statsClient.request(LOG_USAGE_BATCH, { inputs });
            const t = performance.now();
            const after = await apiStats(statsClient, toNow);
            ms.push(performance.now() - t);
            const counted = after.summary.requests - before;
            if (counted !== 1000) problems.push(`round ${round + 1} counted ${counted} of 1,000`);
            before = after.summary.requests;
          }
          seeded += 1000 * S.freshRounds;
          s.fresh = {
            ms,
            pass: problems.length === 0,
            detail: problems.length
              ? problems.join('; ')
              : `${S.freshRounds > 1 ? 'each ' : ''}counted +1,000`,
          };
          progress(
            `  fresh-log check: ${s.fresh.pass ? 'PASS' : 'FAIL'} (${s.fresh.detail}), ${ms.map((m) => m.toFixed(0)).join(', ')} ms`,
          );
        } catch (err) {
          s.error = errorMessage(err);
          fail(`stats at ${s.label}`, err);
          if (!server.alive) break;
        }
      }
    } catch (err) {
      fail('stats', err);
    }
    res.serverLog.push({ server: 'Postgres', lines: server.logged() });
    if (!interrupted) progress('stopping the Postgres server');
    await server.stop();

    // ---- Embedded PGlite --------------------------------------------------------------------
    try {
      guard();
      const dataDir = path.join(tmp, 'pglite');
      progress('starting the server on embedded PGlite');
      const lite = await ServerProcess.start({
        label: 'PGlite',
        env: { ...serverEnv, LLMRING_DATA_DIR: dataDir },
        cleanup,
        onSpawn: track('src/main.ts'),
      });
      try {
        if (!lite.firstKey) throw new Error('the PGlite server printed no first API key');
        const liteClient = new GraphQLClient(lite.url, { maxSockets: 16, timeoutMs: S.requestTimeoutMs });
        const liteRss = new RssSampler(lite.pid, 100).start();
        try {
          await closedLoop({
            concurrency: PGLITE_CLIENTS,
            durationMs: 1_000,
            send: ingestLoad(liteClient, lite.firstKey, 5),
          });
          progress(`PGlite: logUsage at ${PGLITE_CLIENTS} clients for ${S.pgliteMs / 1000} s`);
          const r: LoadResult = await closedLoop({
            concurrency: PGLITE_CLIENTS,
            durationMs: S.pgliteMs,
            send: ingestLoad(liteClient, lite.firstKey, 8),
            serverPid: lite.pid,
          });
          res.pglite = { ...r, rssPeakMb: liteRss.peakMb };
          progress(
            `  ${Math.round(r.perSecond)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms`,
          );
        } finally {
          liteRss.stop();
          await liteClient.close();
        }
      } finally {
        res.serverLog.push({ server: 'PGlite', lines: lite.logged() });
        await lite.stop();
      }
    } catch (err) {
      fail('PGlite', err);
    }
    completed = true;
  } catch (err) {
    fail('bench', err);
  } finally {
    if (!interrupted) {
      await cleanup.run();
      janitor.dismiss();
    }
  }
  if (interrupted) return;

  res.seconds = elapsedSeconds();
  res.settings = [
    `Durations: logUsage ${S.ingestMs / 1000} s per level after a ${S.warmupMs / 1000} s warm-up; logUsageBatch ${S.batchMs / 1000} s; pgbench -T ${S.pgbenchSeconds}; PGlite ${S.pgliteMs / 1000} s. Closed loop: each client sends its next request when the previous one completes; HTTP/1.1 keep-alive; request timeout ${S.requestTimeoutMs / 1000} s.`,
    `Inputs: 20 alias names (and ~8% none), 10 priced models of openai/anthropic/google, 30% with a client cost, ~210 bytes of metadata; the server signs a receipt per log.`,
    `Raw reference: pgbench -M prepared -j 2, one INSERT of one usage_logs-shaped row (~220-byte jsonb metadata) per transaction, into ${RAW_TABLE} = usage_logs LIKE ... INCLUDING ALL plus its foreign keys (same indexes, defaults and CHECKs), synchronous_commit ${syncCommit} (as the server's own transactions), CHECKPOINT before each level.`,
    `Stats: one project; seeded with INSERT ... SELECT generate_series over the last 30 days (20 alias names and none, 10 models, 4 origins and none, 3 profiles, metadata ${DIMENSION} of 5 values promoted with LLMRING_METADATA_DIMENSIONS); window [UTC midnight 30 days ago, next UTC midnight); usageStats as a project caller; raw = the five GROUP BY scans the original server ran, one after another, timed with pg; runs stop early at the time budget shown. Postgres autovacuum is ${autovacuum}: the "no manual ANALYZE" rows are measured once the rollup worker has caught up, with usage_logs never analysed; then the bench runs ANALYZE usage_logs and VACUUM ANALYZE on the rollup tables, as autovacuum would, and measures again.`,
  ];
  if (!completed && res.logUsage.length === 0) {
    process.stderr.write(`bench failed before measuring anything:\n${res.failures.join('\n')}\n`);
    process.exitCode = 1;
    return;
  }
  const table = await formatMarkdown(render(res));
  process.stdout.write(`\n${table}`);
  if (completed && res.failures.length === 0) {
    const file = path.join(REPO_ROOT, 'bench', 'results', 'latest.md');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, table);
    progress(`table written to ${path.relative(process.cwd(), file)}`);
  } else {
    progress('bench/results/latest.md left as it was: this run had failures');
  }
  if (!completed || res.failures.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${errorMessage(err)}\n`);
  process.exitCode = 1;
});
