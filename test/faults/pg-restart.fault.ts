/**
 * Postgres restarted (`pg_ctlcluster --skip-systemctl-redirect <version> main restart`) while a
 * child-process server takes sustained ingest:
 * - failures while the database is away surface as errors (never a success without a row);
 * - the same server process recovers by itself: calls succeed again, with no restart;
 * - /ready answers 503 while the database is unreachable (and always within its timeout),
 *   then 200 again;
 * - afterwards every call a client was told succeeded is in the database exactly once, with the
 *   ids it was told, and every call retried with its idempotency key ended stored once.
 *
 * Restarting the cluster ends every connection to it, from any process on this machine: this
 * file runs only through `npm run test:faults`, alone, after the main suite. The cluster is
 * found in /etc/postgresql (the first version, cluster `main`); PG_CLUSTER_VERSION and
 * PG_CLUSTER_NAME override. Skipped without TEST_DATABASE_URL.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import {
  adminDatabaseUrl,
  ChildServer,
  createDatabase,
  freePort,
  Ingest,
  reconcile,
  sleep,
  withClient,
  type FaultDatabase,
} from './harness';

const run = promisify(execFile);
const suite = adminDatabaseUrl ? describe : describe.skip;
if (!adminDatabaseUrl) {
  // stderr, not console: Jest shows no console output of a file whose tests all skip.
  process.stderr.write(
    `pg-restart.fault.ts skipped: set TEST_DATABASE_URL to a Postgres server (PGlite has no server to restart)\n`,
  );
}

const version =
  process.env.PG_CLUSTER_VERSION ??
  (fs.existsSync('/etc/postgresql') ? fs.readdirSync('/etc/postgresql').sort()[0] : '');
const cluster = process.env.PG_CLUSTER_NAME ?? 'main';

async function postgresUp(): Promise<boolean> {
  try {
    await withClient(adminDatabaseUrl!, (c) => c.query('SELECT 1'));
    return true;
  } catch {
    return false;
  }
}

let db: FaultDatabase | undefined;
let server: ChildServer | undefined;

afterAll(async () => {
  await server?.kill();
  // Whatever happened, leave the cluster running for whatever comes next.
  if (adminDatabaseUrl && !(await postgresUp())) {
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, cluster, 'start']).catch(
      () => undefined,
    );
  }
  for (let i = 0; i < 60 && adminDatabaseUrl && !(await postgresUp()); i++) await sleep(500);
  await db?.drop();
});

suite('Postgres restarted during sustained ingest', () => {
  test('errors while it is away, recovery by itself, /ready 503 then 200, and every acknowledged call stored once', async () => {
    expect(version).toMatch(/^\d+$/);
    db = await createDatabase();
    server = await ChildServer.start({ DATABASE_URL: db.url }, await freePort());
    const pid = server.pid;
    const secret = server.firstKey!;

    const probes: Array<{ at: number; status: number }> = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const at = Date.now();
        probes.push({ at, status: await server!.ready() });
        await sleep(50);
      }
    })();

    const ingest = new Ingest(server.baseUrl, secret, { workers: 4 });
    await ingest.waitForSuccesses(100, 0, 30_000);

    const restartAt = Date.now();
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, cluster, 'restart'], {
      timeout: 120_000,
    });
    const restartedAt = Date.now();

    // The same process serves again, by itself.
    await ingest.waitForSuccesses(100, restartedAt, 60_000);
    const deadline = Date.now() + 30_000;
    while (probes.at(-1)?.status !== 200 && Date.now() < deadline) await sleep(50);
    await ingest.stop();
    probing = false;
    await prober;

    expect(server.alive).toBe(true);
    expect(server.pid).toBe(pid);

    // Failures while it was away were errors or refused requests, never a success.
    const failed = ingest.attempts.filter((a) => a.outcome !== 'success');
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) {
      if (f.outcome === 'error') expect(f.status === 200 ? f.codes : [f.status]).not.toEqual([]);
    }

    // /ready: 200 before, 503 while the database was away, 200 after; always an answer within 3 s.
    expect(probes.filter((p) => p.at < restartAt).every((p) => p.status === 200)).toBe(true);
    expect(probes.filter((p) => p.at >= restartAt).map((p) => p.status)).toContain(503);
    expect(probes.at(-1)?.status).toBe(200);
    expect(probes.filter((p) => p.status === 0)).toEqual([]);

    const result = await reconcile(db.url, ingest.attempts);
    expect(result.rows).toBe(result.keys);
    console.log(
      `Postgres restart took ${restartedAt - restartAt} ms; ${result.keys} calls, ${result.failures} failed attempts, ` +
        `/ready 503 for ${probes.filter((p) => p.status === 503).length} probes`,
    );

    server.signal('SIGTERM');
    await server.waitExit(15_000);
    expect(server.exit?.code).toBe(0);
  }, 180_000);
});
