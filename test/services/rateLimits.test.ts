/**
 * The rate limits' leases (src/services/rateLeases.ts) on a real database, with two
 * RateLimitService objects on one database standing for two instances (the HTTP tests with two
 * server processes, test/instances-ratelimit.test.ts, need Postgres; these run on PGlite too).
 * Lease statements are counted with knex's query event. Logs-per-minute buckets (60 s windows)
 * are used where a test needs its calls in one window: each such test starts early in a minute.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { RateLimitedError } from '../../src/services/errors';
import { RateLimitService, type RateLimits } from '../../src/services/rateLimits';
import { createMigratedDatabase, type TestDatabase } from '../helpers/db';

let t: TestDatabase;

beforeAll(async () => {
  t = await createMigratedDatabase();
});
afterAll(() => t?.destroy());

const NONE: RateLimits = {
  keyRequestsPerSecond: 0,
  projectRequestsPerSecond: 0,
  keyLogsPerMinute: 0,
  projectLogsPerMinute: 0,
};
const limiter = (limits: Partial<RateLimits>) =>
  new RateLimitService({ db: t.db, defaults: { ...NONE, ...limits } });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits for the next minute when this one has less than 20 s left, so a test's calls share a window. */
async function freshMinute(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 20_000) await sleep(left + 200);
}
/** Waits for the start of the next second, so a burst of requests shares a one-second window. */
async function freshSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 20);
}

/** The statements on rate_counters sent while `fn` runs. */
async function statements<T>(db: Knex, fn: () => Promise<T>): Promise<{ n: number; value: T }> {
  let n = 0;
  const onQuery = (q: { sql: string }) => {
    if (q.sql.includes('rate_counters')) n++;
  };
  db.on('query', onQuery);
  try {
    const value = await fn();
    return { n, value };
  } finally {
    db.off('query', onQuery);
  }
}

/** Whether the call was admitted; a refusal must be RATE_LIMITED. */
async function admitted(call: Promise<void>): Promise<boolean> {
  try {
    await call;
    return true;
  } catch (err) {
    if (!(err instanceof RateLimitedError)) throw err;
    return false;
  }
}

const counted = async (bucket: string) =>
  Number((await t.db('rate_counters').where({ bucket }).first('count'))?.count ?? 0);

describe('leases', () => {
  test('concurrent callers of one key share lease statements, and a lease serves later calls', async () => {
    const limits = limiter({ keyLogsPerMinute: 1e9, projectLogsPerMinute: 1e9 });
    const project = randomUUID();
    const key = randomUUID();
    await freshMinute();
    const burst = () =>
      statements(t.db, () =>
        Promise.all(Array.from({ length: 64 }, () => limits.admitLogs(project, key, 1))),
      );
    // No demand seen yet: the first lease is one token. The callers that come while it is in
    // flight wait for it, and the next lease is sized to all of them: 2 statements, not 64.
    expect((await burst()).n).toBeLessThanOrEqual(3);
    // The next lease is sized to the demand seen: one statement for the next 64.
    expect((await burst()).n).toBeLessThanOrEqual(1);
    const sequential = await statements(t.db, async () => {
      for (let i = 0; i < 50; i++) await limits.admitLogs(project, key, 1);
    });
    expect(sequential.n).toBeLessThanOrEqual(1);
    // What the database counted: the tokens leased, at least those taken, far below 1/16 of the limit.
    expect(await counted(`k:${key}:lpm`)).toBeGreaterThanOrEqual(178);
    expect(await counted(`k:${key}:lpm`)).toBeLessThan(1e9 / 16);
  });

  test('a burst of requests shares lease statements, each leasing the key and the project together', async () => {
    const limits = limiter({ keyRequestsPerSecond: 1e6, projectRequestsPerSecond: 1e6 });
    const project = randomUUID();
    const key = randomUUID();
    await freshSecond();
    const { n } = await statements(t.db, () =>
      Promise.all(Array.from({ length: 64 }, () => limits.admitRequest(project, key))),
    );
    expect(n).toBeLessThanOrEqual(3);
  });

  test("a logging call's request and logs checks share one statement when both leases ran out", async () => {
    const limits = limiter({
      keyRequestsPerSecond: 1e6,
      projectRequestsPerSecond: 1e6,
      keyLogsPerMinute: 1e9,
      projectLogsPerMinute: 1e9,
    });
    const project = randomUUID();
    const key = randomUUID();
    const loggingCall = () =>
      statements(t.db, async () => {
        await limits.admitRequest(project, key);
        await limits.admitLogs(project, key, 1);
      });
    await freshSecond();
    // No demand seen: each check leases one token, in its own statement.
    expect((await loggingCall()).n).toBe(2);
    // Both leases are spent: the request's statement renews the logs' lease too.
    expect((await loggingCall()).n).toBe(1);
  });

  test('a limit shared by two instances never admits more than it, and admits all of it once both are drained', async () => {
    const L = 200; // leases of up to 12 tokens
    const a = limiter({ projectLogsPerMinute: L });
    const b = limiter({ projectLogsPerMinute: L });
    const project = randomUUID();
    const keys = Array.from({ length: 4 }, () => randomUUID());
    await freshMinute();
    let total = 0;
    for (let round = 0; round < 50; round++) {
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          admitted((i % 2 ? a : b).admitLogs(project, keys[i % keys.length], 1)),
        ),
      );
      const ok = answers.filter(Boolean).length;
      total += ok;
      expect(total).toBeLessThanOrEqual(L);
      expect(await counted(`p:${project}:lpm`)).toBeLessThanOrEqual(L);
      if (ok === 0) break;
    }
    // An instance refuses a call only when it holds no token and the window is spent: once
    // both refuse, no leased token was left unused.
    expect(total).toBe(L);
  });

  test('batches on two instances never take more than the limit', async () => {
    const L = 100;
    const a = limiter({ keyLogsPerMinute: L });
    const b = limiter({ keyLogsPerMinute: L });
    const project = randomUUID();
    const key = randomUUID();
    await freshMinute();
    let total = 0;
    for (let round = 0; round < 20; round++) {
      const sizes = Array.from({ length: 12 }, (_, i) => 1 + ((i * 7 + round) % 5));
      const answers = await Promise.all(
        sizes.map((n, i) => admitted((i % 2 ? a : b).admitLogs(project, key, n))),
      );
      total += sizes.filter((_, i) => answers[i]).reduce((x, y) => x + y, 0);
      expect(total).toBeLessThanOrEqual(L);
    }
    expect(await counted(`k:${key}:lpm`)).toBeLessThanOrEqual(L);
    expect(total).toBeGreaterThan(L - 2 * 5);
  });

  test('a small limit is exact however calls spread over instances, whatever the demand seen', async () => {
    const a = limiter({ keyRequestsPerSecond: 5 });
    const b = limiter({ keyRequestsPerSecond: 5 });
    const project = randomUUID();
    const key = randomUUID();
    const all = (n: number, on: RateLimitService) =>
      Promise.all(Array.from({ length: n }, () => admitted(on.admitRequest(project, key))));
    await freshSecond();
    expect(await all(5, a)).toEqual(Array(5).fill(true));
    // The next second `a` has seen a demand of 5: had it leased for that demand (more than
    // the call needs), it would hold tokens that `b` could not use.
    await freshSecond();
    expect(await all(1, a)).toEqual([true]);
    expect(await all(4, b)).toEqual(Array(4).fill(true));
    expect(await all(1, a)).toEqual([false]);
    expect(await all(1, b)).toEqual([false]);
    expect(await counted(`k:${key}:rps`)).toBe(5);
  });

  test('a call refused by one limit keeps no tokens of the others', async () => {
    const a = limiter({ keyLogsPerMinute: 2, projectLogsPerMinute: 3 });
    const b = limiter({ keyLogsPerMinute: 2, projectLogsPerMinute: 3 });
    const project = randomUUID();
    const [keyA, keyB] = [randomUUID(), randomUUID()];
    await freshMinute();
    expect(await admitted(b.admitLogs(project, keyB, 2))).toBe(true);
    // `a` does not know that the project has 1 log left: its statement leases the key's 2
    // and none of the project's, and the batch is refused by the project's limit...
    await expect(a.admitLogs(project, keyA, 2)).rejects.toMatchObject({ limit: 'project_logs' });
    // ...without spending the key's 2 tokens: the key may still log, up to the project's limit.
    expect(await admitted(a.admitLogs(project, keyA, 1))).toBe(true);
    await expect(a.admitLogs(project, keyA, 1)).rejects.toMatchObject({ limit: 'project_logs' });
    expect(await counted(`p:${project}:lpm`)).toBe(3);
  });

  test('a batch that does not fit is refused and takes nothing: smaller calls still get the rest', async () => {
    const a = limiter({ keyLogsPerMinute: 5 });
    const b = limiter({ keyLogsPerMinute: 5 });
    const project = randomUUID();
    const key = randomUUID();
    await freshMinute();
    expect(await admitted(a.admitLogs(project, key, 3))).toBe(true);
    expect(await admitted(b.admitLogs(project, key, 3))).toBe(false);
    expect(await admitted(a.admitLogs(project, key, 3))).toBe(false);
    expect(await counted(`k:${key}:lpm`)).toBe(3);
    expect(await admitted(b.admitLogs(project, key, 2))).toBe(true);
    expect(await admitted(a.admitLogs(project, key, 1))).toBe(false);
  });

  test('a spent window is refused with no statement, with Retry-After to its end by the database clock', async () => {
    const limits = limiter({ keyLogsPerMinute: 3 });
    const project = randomUUID();
    const key = randomUUID();
    let refusedLimits: string[] = [];
    limits.onRefused((limit) => refusedLimits.push(limit));
    await freshMinute();
    for (let i = 0; i < 3; i++) await limits.admitLogs(project, key, 1);
    // The first refusal learns that the window is spent (one statement); the rest know it.
    await expect(limits.admitLogs(project, key, 1)).rejects.toBeInstanceOf(RateLimitedError);
    refusedLimits = [];
    const { n, value: errors } = await statements(t.db, () =>
      Promise.all(
        Array.from({ length: 10 }, () =>
          limits.admitLogs(project, key, 1).then(
            () => null,
            (err: unknown) => err,
          ),
        ),
      ),
    );
    expect(n).toBe(0);
    expect(refusedLimits).toEqual(Array(10).fill('key_logs'));
    const [{ ms }] = (await t.db.raw('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms'))
      .rows as Array<{ ms: string | number }>;
    const left = Math.ceil((60_000 - (Number(ms) % 60_000)) / 1000);
    for (const err of errors) {
      expect(err).toBeInstanceOf(RateLimitedError);
      const e = err as RateLimitedError;
      expect(e.limit).toBe('key_logs');
      expect(Math.abs(e.retryAfterSeconds - left)).toBeLessThanOrEqual(1);
    }
  });
});
