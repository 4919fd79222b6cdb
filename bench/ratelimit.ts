/**
 * What enforcing rate limits costs (issue 21), printed as figures; run it on a quiet machine.
 *
 *   npx tsx bench/ratelimit.ts [--clients 64] [--seconds 10]
 *
 * 1. The limiter alone, on a fresh Postgres database (BENCH_PG_URL): RateLimitService.admitRequest
 *    and admitLogs at 1 and `--clients` concurrent callers, once all on one key (one hot counter
 *    row) and once each on its own key; checks per second and p50/p99 latency per check.
 * 2. logUsage over HTTP at `--clients` clients against the real server, twice on fresh
 *    databases: without limits, and with every limit enabled but far from reached
 *    (LLMRING_RATE_LIMIT_* at their maximum: 10^6 per second, 10^9 per minute). The target: the second within 10% of the first.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import knex from 'knex';
import { RateLimitService } from '../src/services/rateLimits';
import { Cleanup } from './lib/cleanup';
import { GraphQLClient } from './lib/http';
import { closedLoop, type LoadResult } from './lib/load';
import { benchDatabaseName, createDatabase, databaseUrl, dropDatabase } from './lib/pg';
import { ServerProcess } from './lib/server';
import { logInput, rng } from './lib/workload';

const { values } = parseArgs({
  options: { clients: { type: 'string', default: '64' }, seconds: { type: 'string', default: '10' } },
});
const CLIENTS = Number(values.clients);
const MS = Number(values.seconds) * 1000;
const HIGH = '1000000000';

const line = (label: string, r: LoadResult) =>
  `${label.padEnd(58)} ${r.perSecond.toFixed(0).padStart(7)} /s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   errors ${r.errors}`;

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
  const keys = Array.from({ length: CLIENTS }, () => randomUUID());
  for (const concurrency of [1, CLIENTS]) {
    for (const spread of ['one key', 'a key each'] as const) {
      const key = (w: number) => (spread === 'one key' ? keys[0] : keys[w % keys.length]);
      const requests = await closedLoop({
        concurrency,
        durationMs: MS / 2,
        send: (w) => limits.admitRequest(projectId, key(w)),
      });
      console.log(line(`admitRequest (2 counters), ${concurrency} callers, ${spread}`, requests));
      const logs = await closedLoop({
        concurrency,
        durationMs: MS / 2,
        send: (w) => limits.admitLogs(projectId, key(w), 1),
      });
      console.log(line(`admitLogs (2 counters), ${concurrency} callers, ${spread}`, logs));
    }
  }
}

async function logUsage(cleanup: Cleanup, limited: boolean): Promise<LoadResult> {
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
  await closedLoop({ concurrency: 16, durationMs: 2000, send }); // warm-up
  const result = await closedLoop({ concurrency: CLIENTS, durationMs: MS, send, serverPid: server.pid });
  await client.close();
  await server.stop();
  return result;
}

async function main() {
  const cleanup = new Cleanup();
  try {
    console.log('1. The limiter alone (checks per second; each check bumps a key and a project counter)');
    await limiterAlone(cleanup);
    console.log(`\n2. logUsage over HTTP at ${CLIENTS} clients`);
    const off = await logUsage(cleanup, false);
    console.log(line('without rate limits', off));
    const on = await logUsage(cleanup, true);
    console.log(line('with every limit enabled, not reached', on));
    console.log(
      `with limits / without: ${((on.perSecond / off.perSecond) * 100).toFixed(1)}% of the throughput (target: at least 90%)`,
    );
  } finally {
    await cleanup.run();
  }
}
void main();
