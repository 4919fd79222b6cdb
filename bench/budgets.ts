/**
 * The alert worker at scale (issue 19's target: evaluating 1,000 budgets takes under 1 s of
 * database time per round at 10M logs).
 *
 *   npx tsx bench/budgets.ts [--logs 10000000] [--budgets 1000] [--spike-alerts 10] [--rounds 3]
 *                            [--ingest-per-round 10000] [--database NAME]
 *
 * Creates a fresh Postgres database, runs the app in this process on it (its rollup worker
 * folding the seeded logs; its own alert rounds off), seeds one project's logs over 30 days in
 * SQL (bench/lib/seed.ts), defines the budgets on that project (every period, a dozen time
 * zones, a third narrowed by alias name or promoted metadata value) and times alert rounds (a
 * cold one that builds every budget's baseline, then rounds after new logs were stored):
 * wall time, and database time as the sum of every statement's time from send to answer (knex
 * query events). First as after a bulk load (usage_logs never analysed: autovacuum is off on
 * this machine), then after ANALYZE.
 *
 * --database NAME keeps the database after the run, and reuses it when it exists (seeded with
 * the project's logs by an earlier run: seeding 10M logs takes ~11 min here), so figures before
 * and after a change come from the same data; it is analysed again only by the run's second
 * half, and its budgets, alerts and spending rows are made anew each run.
 */
import { parseArgs } from 'node:util';
import type { Knex } from 'knex';
import { loadConfig } from '../src/config';
import { createApp } from '../src/app';
import { createLogger } from '../src/logger';
import { benchDatabaseName, connect, createDatabase, databaseUrl, dropDatabase, endQuietly } from './lib/pg';
import { seedLogs } from './lib/seed';
import { waitForRollups } from './lib/rollup';
import { ALIASES, DIMENSION, FEATURES } from './lib/workload';
import { progress } from './lib/log';

const { values } = parseArgs({
  options: {
    logs: { type: 'string', default: '1000000' },
    budgets: { type: 'string', default: '1000' },
    'spike-alerts': { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'ingest-per-round': { type: 'string', default: '10000' },
    database: { type: 'string' },
  },
});
const LOGS = Number(values.logs);
const BUDGETS = Number(values.budgets);
const SPIKES = Number(values['spike-alerts']);
const ROUNDS = Number(values.rounds);
const INGEST_PER_ROUND = Number(values['ingest-per-round']);
const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/Los_Angeles',
  'America/New_York',
  'Asia/Kolkata',
  'Asia/Tokyo',
  'Australia/Sydney',
  'America/Sao_Paulo',
  'Europe/London',
  'Asia/Kathmandu',
  'Pacific/Auckland',
  'America/Caracas',
];
const PERIODS = ['DAY', 'WEEK', 'MONTH', 'TOTAL'] as const;

/** Statement time from send to answer, summed, while `on` is set. */
function statementClock(db: Knex) {
  const started = new Map<string, number>();
  let total = 0;
  let statements = 0;
  let slowest = { ms: 0, sql: '' };
  /** Time and count per statement, by its first words (which part of the round sent it). */
  let kinds = new Map<string, { ms: number; n: number }>();
  db.on('query', (q: { __knexQueryUid: string }) => started.set(q.__knexQueryUid, performance.now()));
  const end = (_r: unknown, q: { __knexQueryUid: string; sql: string }) => {
    const t = started.get(q.__knexQueryUid);
    if (t === undefined) return;
    started.delete(q.__knexQueryUid);
    const ms = performance.now() - t;
    total += ms;
    statements++;
    const sql = q.sql.replace(/\s+/g, ' ').trim();
    if (ms > slowest.ms) slowest = { ms, sql: sql.slice(0, 70) };
    const kind = kinds.get(sql.slice(0, 48)) ?? { ms: 0, n: 0 };
    kinds.set(sql.slice(0, 48), { ms: kind.ms + ms, n: kind.n + 1 });
  };
  db.on('query-response', end);
  db.on('query-error', (_e: unknown, q: { __knexQueryUid: string; sql: string }) => end(null, q));
  return {
    reset() {
      total = 0;
      statements = 0;
      slowest = { ms: 0, sql: '' };
      kinds = new Map();
    },
    read: () => ({
      ms: total,
      statements,
      slowest,
      top: [...kinds].sort((a, b) => b[1].ms - a[1].ms).slice(0, 4),
    }),
  };
}

/** True when `name` exists (a database an earlier run kept). */
async function databaseExists(name: string): Promise<boolean> {
  const admin = await connect(databaseUrl('postgres'));
  try {
    return (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rows.length > 0;
  } finally {
    await admin.end();
  }
}

async function main() {
  const kept = values.database;
  const name = kept ?? benchDatabaseName();
  const reuse = kept !== undefined && (await databaseExists(kept));
  if (!reuse) await createDatabase(name);
  const url = databaseUrl(name);
  const config = loadConfig({
    LLMRING_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: url,
    LLMRING_ALERT_INTERVAL_MS: '3600000',
    LLMRING_METADATA_DIMENSIONS: DIMENSION,
  });
  const app = await createApp(config, createLogger({ level: 'warn' }));
  await app.services.alerts.stop();
  const seeders = [await connect(url, 'bench-seed-1'), await connect(url, 'bench-seed-2')];
  try {
    const { services } = app;
    const known = await services.db('projects').where({ key: 'bench-budgets' }).first();
    if (reuse && !known) throw new Error(`database ${name} exists but holds no bench-budgets project`);
    const project =
      known ?? (await services.projects.create({ key: 'bench-budgets', name: 'Budgets bench' }));
    const { apiKey } = await services.apiKeys.create(project.id, 'bench');
    const now = Date.now();
    if (reuse) {
      const [{ n }] = await services.db('usage_logs').where({ project_id: project.id }).count({ n: '*' });
      progress(`reusing ${name}: ${Number(n).toLocaleString('en-US')} logs`);
      await services.db('budgets').where({ project_id: project.id }).delete();
      await services.db('spike_alerts').where({ project_id: project.id }).delete();
    } else {
      progress(`seeding ${LOGS.toLocaleString('en-US')} logs`);
      const seeded = await seedLogs(seeders, {
        projectId: project.id,
        apiKeyId: apiKey.id,
        rows: LOGS,
        from: new Date(now - 30 * 86_400_000),
        to: new Date(now - 1_000),
      });
      progress(`  seeded in ${seeded.toFixed(1)} s; waiting for the rollup worker`);
    }
    const caught = await waitForRollups(seeders[0], {
      timeoutMs: 900_000,
      stallMs: 120_000,
      label: 'budgets',
    });
    progress(`  rollups ${caught.status} after ${caught.seconds.toFixed(1)} s`);

    for (let i = 0; i < BUDGETS; i++) {
      const narrowed = i % 3;
      await services.budgets.create(project.id, {
        name: `budget ${i}`,
        amount: String(1_000 + i),
        period: PERIODS[i % PERIODS.length].toLowerCase() as 'day',
        timeZone: ZONES[i % ZONES.length],
        thresholds: [50, 80, 100],
        filter:
          narrowed === 1
            ? { aliasNames: [ALIASES[i % ALIASES.length]] }
            : narrowed === 2
              ? { metadata: [{ key: DIMENSION, values: [FEATURES[i % FEATURES.length]] }] }
              : {},
      });
    }
    for (let i = 0; i < SPIKES; i++) {
      await services.spikeAlerts.create(project.id, {
        aliasName: i % 2 ? ALIASES[i % ALIASES.length] : null,
        timeZone: ZONES[i % ZONES.length],
      });
    }
    const defined = Date.now();
    progress(`${BUDGETS} budgets and ${SPIKES} spike alerts defined`);

    // The rollup worker folds new logs every ~2 s in a server; here it is held, and folds
    // before each round (timed apart), so the round's figure is the alert worker's alone.
    await services.rollups.stop();
    const fold = async () => {
      const t = performance.now();
      const { logs } = await services.rollups.runOnce();
      return `rollups folded ${logs} logs in ${(performance.now() - t).toFixed(0)} ms before it`;
    };
    const clock = statementClock(services.db);
    const round = async (label: string) => {
      const folded = await fold();
      clock.reset();
      const t = performance.now();
      const done = await services.alerts.runOnce();
      const wall = performance.now() - t;
      const { ms, statements, slowest, top } = clock.read();
      console.log(
        `${label}: ${done.budgets} budgets, ${done.spikeAlerts} spike alerts, ${done.events} events; ` +
          `wall ${wall.toFixed(0)} ms, database ${ms.toFixed(0)} ms over ${statements} statements ` +
          `(slowest ${slowest.ms.toFixed(0)} ms: ${slowest.sql}; ${folded})`,
      );
      for (const [sql, { ms, n }] of top) console.log(`    ${ms.toFixed(0).padStart(6)} ms ×${n}  ${sql}`);
    };
    // A cold round builds every budget's baseline from the statistics; the rounds after it
    // add only what was stored since (INGEST_PER_ROUND logs, as a busy minute would).
    const rounds = async (label: string) => {
      await services.db('budget_spend').delete();
      await round(`${label}, cold round (every baseline)`);
      for (let r = 1; r <= ROUNDS; r++) {
        const at = Date.now();
        await seedLogs(seeders, {
          projectId: project.id,
          apiKeyId: apiKey.id,
          rows: INGEST_PER_ROUND,
          // Stamped after the budgets were defined, as calls arriving now are (a total budget
          // counts from its creation; stamps before it are a backfill's, rare).
          from: new Date(Math.max(at - 60_000, defined)),
          to: new Date(at - 1_000),
        });
        await round(`${label}, round ${r} after ${INGEST_PER_ROUND.toLocaleString('en-US')} new logs`);
      }
    };
    console.log(`logs ${LOGS.toLocaleString('en-US')}, rollups ${caught.status}`);
    // A kept database was analysed by the run that made it.
    await rounds(reuse ? 'reused database (analysed by an earlier run)' : 'never analysed');
    await seeders[0].query('ANALYZE');
    await rounds('after ANALYZE');
  } finally {
    for (const c of seeders) await endQuietly(c);
    await app.close();
    if (kept === undefined) await dropDatabase(name);
    else progress(`kept database ${name} (--database)`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
