/**
 * DATABASE_READ_URL against a real streaming replica set up on this machine (see
 * test/helpers/replica.ts): statistics come from the replica and say so, with how fresh they
 * are (asOf); a log acknowledged on the primary is counted once the replica has replayed it,
 * and not before. Runs in the Postgres pass of the suite (TEST_DATABASE_URL); skipped, saying
 * why, where the clusters cannot be started.
 */
import { createApp, type App } from '../src/app';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { onPostgres } from './helpers/db';
import { replicaUnavailable, startReplicaPair, type ReplicaPair } from './helpers/replica';
import { ADMIN_TOKEN, dataOf } from './helpers/server';

const unavailable = onPostgres ? replicaUnavailable() : 'it runs in the Postgres pass (TEST_DATABASE_URL)';

const STATS = `{ usageStats { summary { requests } asOf fromReplica } }`;

(unavailable ? describe.skip : describe)('statistics from a read replica', () => {
  let pair: ReplicaPair;
  let app: App;
  let url: string;
  let key: string;

  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ query, variables }),
    });
    return {
      status: res.status,
      body: (await res.json()) as { data?: Record<string, never>; errors?: unknown[] },
    };
  };
  const log = (n: number) =>
    gql(
      'mutation($i: [LogUsageInput!]!) { logUsageBatch(inputs: $i) { results { usageLog { receivedAt } } } }',
      {
        i: Array.from({ length: n }, () => ({
          provider: 'openai',
          model: 'gpt-4o',
          inputTokens: 10,
          outputTokens: 1,
        })),
      },
    );
  /** Waits until the replica has replayed everything the primary has written so far. */
  const replayed = async () => {
    const lsn = pair.sql('primary', 'SELECT pg_current_wal_lsn()');
    for (let i = 0; i < 200; i++) {
      if (pair.sql('replica', `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`) === 't') return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('the replica did not replay within 10 s');
  };
  const stats = async () => {
    const res = await gql(STATS);
    return (
      dataOf(res as never) as {
        usageStats: { summary: { requests: number }; asOf: string; fromReplica: boolean };
      }
    ).usageStats;
  };

  beforeAll(async () => {
    pair = await startReplicaPair();
    const config = loadConfig({
      LLMRING_ENV: 'test',
      LLMRING_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: pair.primaryUrl,
      DATABASE_READ_URL: pair.replicaUrl,
      LLMRING_ROLLUP_INTERVAL_MS: '200',
    });
    app = await createApp(config, createLogger({ level: 'silent' }));
    url = `${await app.server.listen({ port: 0, host: '127.0.0.1' })}/graphql`;
    key = app.firstProject!.secret;
    await replayed();
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await pair?.stop();
  });

  it('answers from the replica, counting what it has replayed', async () => {
    await log(3);
    await replayed();
    const s = await stats();
    expect(s.fromReplica).toBe(true);
    expect(s.summary.requests).toBe(3);
    expect(new Date(s.asOf).getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('counts a log acknowledged on the primary only once the replica has replayed it', async () => {
    pair.sql('replica', 'SELECT pg_wal_replay_pause()');
    try {
      const res = await log(2);
      expect(res.status).toBe(200); // acknowledged: committed on the primary
      const acknowledged = new Date(
        (
          res.body.data as unknown as {
            logUsageBatch: { results: Array<{ usageLog: { receivedAt: string } }> };
          }
        ).logUsageBatch.results[0].usageLog.receivedAt,
      );
      const paused = await stats();
      expect(paused.summary.requests).toBe(3);
      // asOf says how far the replica is: before the acknowledged logs.
      expect(new Date(paused.asOf).getTime()).toBeLessThan(acknowledged.getTime());
    } finally {
      pair.sql('replica', 'SELECT pg_wal_replay_resume()');
    }
    await replayed();
    const caughtUp = await stats();
    expect(caughtUp.summary.requests).toBe(5);
  });

  it('reads time zones from the replica too', async () => {
    const res = await gql('{ usageStats(timeZone: "asia/kolkata", groupBy: DAY) { byPeriod { requests } } }');
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
  });
});

if (unavailable) {
  test.skip(`statistics from a read replica: skipped, ${unavailable}`, () => undefined);
}
