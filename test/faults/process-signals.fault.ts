/**
 * The server process under signals, on a real Postgres (TEST_DATABASE_URL):
 * - SIGKILL during sustained ingest, then a restart on the same database: every call a client
 *   was told succeeded is stored exactly once, with the ids it was told; retries of calls the
 *   kill cut off are stored once.
 * - SIGTERM with requests in flight (held in flight by a table lock): the server stops taking
 *   connections at once, answers every request it had, closes its pool and exits 0.
 * - SIGTERM with a request that outlives LLMRING_SHUTDOWN_TIMEOUT_MS: the process exits (code 1)
 *   at the deadline; the cut-off client gets no answer (never a false success), and retrying
 *   the call with its idempotency key stores it exactly once.
 *
 * Run by `npm run test:faults`, serially, after the main suite; skipped without TEST_DATABASE_URL.
 */
import { Client } from 'pg';
import {
  adminDatabaseUrl,
  ChildServer,
  createDatabase,
  freePort,
  Ingest,
  logOnce,
  reconcile,
  sleep,
  withClient,
  type FaultDatabase,
} from './harness';

const suite = adminDatabaseUrl ? describe : describe.skip;
if (!adminDatabaseUrl) {
  // stderr, not console: Jest shows no console output of a file whose tests all skip.
  process.stderr.write(
    `process-signals.fault.ts skipped: set TEST_DATABASE_URL to a Postgres server (PGlite has no server to fault)\n`,
  );
}

let db: FaultDatabase;
const servers: ChildServer[] = [];

beforeEach(async () => {
  db = await createDatabase();
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.kill();
  await db.drop();
});

async function start(port: number, env: Record<string, string> = {}): Promise<ChildServer> {
  const server = await ChildServer.start({ DATABASE_URL: db.url, ...env }, port);
  servers.push(server);
  return server;
}

/** Backends of the test database waiting for a lock. */
const lockWaiters = () =>
  withClient(adminDatabaseUrl!, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
      [db.name],
    );
    return Number(rows[0].n);
  });

/** The server's count of logging calls waiting for their INSERT to commit (/metrics). */
async function callsPending(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('llmring_ingest_calls_pending '));
  return line ? Number(line.split(' ')[1]) : NaN;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

suite('SIGKILL during ingest', () => {
  test('after a restart on the same database, every acknowledged call is stored once, and retries complete', async () => {
    const port = await freePort();
    const first = await start(port);
    const secret = first.firstKey!;
    const ingest = new Ingest(first.baseUrl, secret, { workers: 4 });
    await ingest.waitForSuccesses(100, 0, 30_000);

    first.signal('SIGKILL');
    await first.waitExit(5_000);
    expect(first.exit?.signal).toBe('SIGKILL');
    const killedAt = Date.now();
    await sleep(300); // calls fail meanwhile: nothing listens

    const second = await start(port);
    expect(second.firstKey).toBeUndefined(); // the database already had its project and key
    await ingest.waitForSuccesses(100, Date.now(), 30_000);
    await ingest.stop();

    const failedWhileDown = ingest.attempts.filter((a) => a.at >= killedAt && a.outcome !== 'success');
    expect(failedWhileDown.length).toBeGreaterThan(0);
    const result = await reconcile(db.url, ingest.attempts);
    expect(result.rows).toBe(result.keys);
    expect(result.rows).toBeGreaterThanOrEqual(200);

    second.signal('SIGTERM');
    await second.waitExit(15_000);
    expect(second.exit?.code).toBe(0);
  }, 120_000);
});

suite('SIGTERM', () => {
  test('stops accepting, answers the requests in flight, closes the pool and exits 0', async () => {
    const server = await start(await freePort(), { LOG_LEVEL: 'info' });
    const secret = server.firstKey!;
    // Warm up: the tables exist and the key is cached.
    expect((await logOnce(server.baseUrl, secret, 'warm-up')).outcome).toBe('success');

    // A transaction holding a lock keeps five logUsage requests waiting inside the server:
    // their INSERTs (group commit: one or two statements carry them) wait for the lock.
    const lock = new Client({ connectionString: db.url });
    await lock.connect();
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE usage_logs IN EXCLUSIVE MODE');
    const inFlight = Array.from({ length: 5 }, (_, i) =>
      logOnce(server.baseUrl, secret, `in-flight-${i}`, 30_000),
    );
    await until(
      'five requests waiting inside the server, their INSERTs blocked in the database',
      async () => (await callsPending(server.baseUrl)) === 5 && (await lockWaiters()) >= 1,
    );

    const signalledAt = Date.now();
    server.signal('SIGTERM');
    await sleep(500);
    expect(server.alive).toBe(true); // still finishing what it has

    // A new request is refused (no listener any more), never served.
    const late = await logOnce(server.baseUrl, secret, 'after-sigterm', 3_000);
    expect(late.outcome).not.toBe('success');

    await lock.query('COMMIT');
    await lock.end();
    const answered = await Promise.all(inFlight);
    expect(answered.map((a) => a.outcome)).toEqual(Array(5).fill('success'));

    await server.waitExit(15_000);
    expect(server.exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(server.output).toContain('shut down cleanly'); // logged after the pool closed

    const stored = await withClient(db.url, (c) =>
      c.query<{ key: string; id: string }>('SELECT idempotency_key AS key, id FROM usage_logs ORDER BY key'),
    );
    expect(stored.rows.map((r) => r.key)).toEqual([...answered.map((a) => a.key), 'warm-up'].sort());
    for (const a of answered) expect(stored.rows.find((r) => r.key === a.key)?.id).toBe(a.usageLogId);
    // Nothing of the server is still connected.
    await withClient(adminDatabaseUrl!, async (c) => {
      const { rows } = await c.query<{ n: string }>(
        'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1',
        [db.name],
      );
      expect(Number(rows[0].n)).toBe(0);
    });
  }, 60_000);

  test('a request that outlives LLMRING_SHUTDOWN_TIMEOUT_MS: exit 1 at the deadline, no false success, and its retry stores it once', async () => {
    const port = await freePort();
    const server = await start(port, { LLMRING_SHUTDOWN_TIMEOUT_MS: '1500', LOG_LEVEL: 'info' });
    const secret = server.firstKey!;
    expect((await logOnce(server.baseUrl, secret, 'warm-up')).outcome).toBe('success');

    const lock = new Client({ connectionString: db.url });
    await lock.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE usage_logs IN EXCLUSIVE MODE');
      const stuck = logOnce(server.baseUrl, secret, 'stuck', 30_000);
      await until('the request blocked in the database', async () => (await lockWaiters()) === 1);

      server.signal('SIGTERM');
      const tookMs = await server.waitExit(10_000);
      expect(server.exit).toEqual({ code: 1, signal: null });
      expect(tookMs).toBeGreaterThanOrEqual(1_000);
      expect(tookMs).toBeLessThan(5_000);
      expect(server.output).toContain('shutdown deadline passed');
      expect((await stuck).outcome).toBe('network'); // cut off: no answer, so no false success
    } finally {
      await lock.query('COMMIT').catch(() => undefined);
      await lock.end();
    }
    // The cut-off call is one statement: Postgres may still have committed it once the lock was
    // released (the client could not know). Retrying it with its idempotency key settles it.
    const again = await start(port);
    const retry = await logOnce(again.baseUrl, secret, 'stuck');
    expect(retry.outcome).toBe('success');
    const result = await reconcile(db.url, [await logOnce(again.baseUrl, secret, 'warm-up'), retry]);
    expect(result.rows).toBe(2);
  }, 60_000);
});
