/**
 * What enforcing rate limits costs (issue 21), printed as figures; run it on a quiet machine.
 *
 *   npx tsx bench/ratelimit.ts [--clients 64] [--seconds 10]
 *
 * 1. The limiter alone, on a fresh Postgres database (BENCH_PG_URL): RateLimitService.admitRequest
 *    and admitLogs at 1 and `--clients` concurrent callers, once all on one key (one hot counter
 *    row) and once each on its own key; checks per second, p50/p99 latency per check, and the
 *    lease statements per 1000 checks (the cost per request: src/services/rateLimits.ts).
 * 2. logUsage over HTTP at `--clients` clients against the real server, twice on fresh
 *    databases: without limits, and with every limit enabled but far from reached
 *    (LLMRING_RATE_LIMIT_* at their maximum: 10^6 per second, 10^9 per minute). The target: the
 *    second within 10% of the first. Also printed: the server's and the Postgres cluster's CPU
 *    time per request, and the rate_counters rows written per 1000 requests (pg_stat_user_tables,
 *    read once the server has stopped and its backends have reported their counts).
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import knex from 'knex';
import { RateLimitService } from '../src/services/rateLimits';
import { Cleanup } from './lib/cleanup';
import { GraphQLClient } from './lib/http';
import { closedLoop, type LoadResult } from './lib/load';
import { benchDatabaseName, connect, createDatabase, databaseUrl, dropDatabase } from './lib/pg';
import { postmasterPid, ServerProcess } from './lib/server';
import { logInput, rng } from './lib/workload';

const { values } = parseArgs({
  options: { clients: { type: 'string', default: '64' }, seconds: { type: 'string', default: '10' } },
});
const CLIENTS = Number(values.clients);
const MS = Number(values.seconds) * 1000;
const HIGH = '1000000000';

const line = (label: string, r: LoadResult, extra = '') =>
  `${label.padEnd(58)} ${r.perSecond.toFixed(0).padStart(7)} /s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   errors ${r.errors}${extra}`;
const perThousand = (n: number, of: number) => (of > 0 ? ((n * 1000) / of).toFixed(2) : '-');
const cpu = (r: LoadResult) =>
  `   server CPU ${r.serverCpuMs?.toFixed(3) ?? '-'} ms/req   Postgres CPU ${r.postgresCpuMs?.toFixed(3) ?? '-'} ms/req`;

async function limiterAlone(cleanup: Cleanup): Promise<void> {
  const name = benchDatabaseName();
  await createDatabase(name);
  cleanup.add('drop limiter database', () => dropDatabase(name));
  const db = knex({ client: 'pg', connection: databaseUrl(name), pool: { min: 0, max: 20 } });
  cleanup.add('close limiter pool', () => db.destroy());
  await db.migrate.latest({ directory: 'migrations', loadExtensions: ['.ts'] });
  const [project] = await db('projects').insert({ key: 'bench', name: 'bench' }).returning('id');
  const projectId = String(project.id);
  const limits = new RateLimitService({
    db,
    defaults: {
      keyRequestsPerSecond: 1e9,
      projectRequestsPerSecond: 1e9,
      keyLogsPerMinute: 1e9,
      projectLogsPerMinute: 1e9,
    },
  });
  let statements = 0;
  db.on('query', (q: { sql: string }) => {
    if (q.sql.includes('rate_counters')) statements++;
  });
  /** Runs the load and prints it with the lease statements it cost per 1000 checks. */
  const measured = async (label: string, send: (w: number) => Promise<void>, concurrency: number) => {
    const before = statements;
    const r = await closedLoop({ concurrency, durationMs: MS / 2, send });
    console.log(line(label, r, `   statements/1000 checks ${perThousand(statements - before, r.completed)}`));
  };
  const keys = Array.from({ length: CLIENTS }, () => randomUUID());
  for (const concurrency of [1, CLIENTS]) {
    for (const spread of ['one key', 'a key each'] as const) {
      const key = (w: number) => (spread === 'one key' ? keys[0] : keys[w % keys.length]);
      await measured(
        `admitRequest (2 counters), ${concurrency} callers, ${spread}`,
        (w) => limits.admitRequest(projectId, key(w)),
        concurrency,
      );
      await measured(
        `admitLogs (2 counters), ${concurrency} callers, ${spread}`,
        (w) => limits.admitLogs(projectId, key(w), 1),
        concurrency,
      );
    }
  }
}

async function logUsage(
  cleanup: Cleanup,
  limited: boolean,
): Promise<{ result: LoadResult; rowWrites: number }> {
  const name = benchDatabaseName();
  await createDatabase(name);
  cleanup.add(`drop ${name}`, () => dropDatabase(name));
  const server = await ServerProcess.start({
    label: limited ? 'limited' : 'unlimited',
    env: {
      DATABASE_URL: databaseUrl(name),
      LLMRING_ADMIN_TOKEN: randomBytes(24).toString('hex'),
      LLMRING_RECEIPTS_PRIVATE_KEY: String(
        generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }).d,
      ),
      LLMRING_RECEIPTS_KEY_ID: 'k-ratelimit',
      ...(limited
        ? {
            LLMRING_RATE_LIMIT_KEY_RPS: '1000000',
            LLMRING_RATE_LIMIT_PROJECT_RPS: '1000000',
            LLMRING_RATE_LIMIT_KEY_LOGS_PER_MINUTE: HIGH,
            LLMRING_RATE_LIMIT_PROJECT_LOGS_PER_MINUTE: HIGH,
          }
        : {}),
    },
    cleanup,
  });
  const client = new GraphQLClient(server.url, { maxSockets: 256 });
  const r = rng(1);
  const send = async () => {
    const body = JSON.stringify({
      query: `mutation($input: LogUsageInput!) { logUsage(input: $input) { usageLog { id } receipt { receiptId } } }`,
      variables: { input: logInput(r) },
    });
    const { status, text } = await client.post(body, { 'x-api-key': server.firstKey! });
    if (status !== 200 || text.includes('"errors"')) throw new Error(text.slice(0, 300));
  };
  const pg = await connect(databaseUrl(name));
  const forget = cleanup.add(`disconnect from ${name}`, () => pg.end());
  const postmaster = await postmasterPid(pg);
  const writes = async () =>
    Number(
      (
        await pg.query<{ n: string | null }>(
          `SELECT n_tup_ins + n_tup_upd AS n FROM pg_stat_user_tables WHERE relname = 'rate_counters'`,
        )
      ).rows[0]?.n ?? 0,
    );
  await closedLoop({ concurrency: 16, durationMs: 2000, send }); // warm-up
  // The warm-up's counts reach the statistics when its backends report (within a second or so).
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const before = await writes();
  const result = await closedLoop({
    concurrency: CLIENTS,
    durationMs: MS,
    send,
    serverPid: server.pid,
    postmasterPid: postmaster,
  });
  await client.close();
  await server.stop();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const rowWrites = (await writes()) - before;
  await pg.end();
  forget();
  return { result, rowWrites };
}

async function main() {
  const cleanup = new Cleanup();
  try {
    console.log(
      '1. The limiter alone (checks per second; each check takes a token of a key and one of its project, from leases of their counters)',
    );
    await limiterAlone(cleanup);
    console.log(`\n2. logUsage over HTTP at ${CLIENTS} clients`);
    const { result: off } = await logUsage(cleanup, false);
    console.log(line('without rate limits', off, cpu(off)));
    const { result: on, rowWrites } = await logUsage(cleanup, true);
    console.log(line('with every limit enabled, not reached', on, cpu(on)));
    console.log(
      `rate_counters rows written per 1000 requests with limits: ${perThousand(rowWrites, on.completed)} (4 limits; one upsert per check was 4000)`,
    );
    console.log(
      `with limits / without: ${((on.perSecond / off.perSecond) * 100).toFixed(1)}% of the throughput (target: at least 90%)`,
    );
  } finally {
    await cleanup.run();
  }
}
void main();
