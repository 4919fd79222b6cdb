/**
 * The ledger's targets (issue 18), printed as figures, never asserted:
 *
 * 1. Integrator capacity: logs stored with the integrator stopped, then appended from a
 *    standing start: leaves per second.
 * 2. Under load: `recordBatch` (100 calls a batch, the fastest ingest path) from several
 *    concurrent loops with the integrator running as a server runs it: logs/s stored, and
 *    the integration delay (receipt stored → leaf appended) p50/p99/max, against
 *    LLMRING_LEDGER_MAX_DELAY_MS.
 * 3. Proofs at size: a project's log seeded directly in SQL with `--leaves` leaves (default
 *    1M; the target is 10M) and its subtree hashes, then inclusion and consistency proofs by
 *    the service at random positions: p50/p99, a sample of them verified against the root.
 *
 *   npx tsx bench/ledger.ts [--leaves 10000000] [--seconds 20] [--loops 4]
 *
 * Needs a loopback Postgres with a superuser (BENCH_PG_URL, as bench/run.ts); creates and
 * drops its own database. The logUsage and logUsageBatch figures before and after this issue
 * come from `npm run bench`, whose server now runs the integrator too.
 */
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config';
import { createDb } from '../src/db/connection';
import { migrationConfig } from '../src/db/migrations';
import { ADMIN } from '../src/domain/principal';
import { createLogger } from '../src/logger';
import { createServices } from '../src/services';
import { rangeHashes } from '../src/db/ledgerTrees';
import { Frontier, leafHash, NODE_STRIDE, verifyConsistency, verifyInclusion } from '../src/ledger/merkle';
import { benchDatabaseName, createDatabase, databaseUrl, dropDatabase } from './lib/pg';
import { percentile } from './lib/stats-math';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const LEAVES = arg('leaves', 1_000_000);
const SECONDS = arg('seconds', 20);
const LOOPS = arg('loops', 4);
const CAPACITY_LOGS = arg('capacity-logs', 50_000);
const PROOFS = arg('proofs', 300);
const MAX_DELAY_MS = 5_000;

const log = (m: string) =>
  process.stderr.write(`[ledger bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const ms = (x: number) => `${x.toFixed(2)} ms`;

async function main(): Promise<void> {
  const name = benchDatabaseName();
  await createDatabase(name);
  const config = loadConfig({
    DATABASE_URL: databaseUrl(name),
    DATABASE_POOL_MAX: '12',
    LLMRING_LEDGER_MAX_DELAY_MS: String(MAX_DELAY_MS),
    LOG_LEVEL: 'warn',
  });
  const db = createDb(config.database);
  const rows: Array<[string, string, string]> = [];
  try {
    await db.migrate.latest(migrationConfig);
    const services = await createServices({
      db,
      config,
      logger: createLogger({ level: 'warn', destination: 2 }),
    });
    const { ledger, usage, projects } = services;
    await ledger.stop(); // not started: the bench runs it as each part needs
    const project = await projects.create({ key: 'bench-ledger', name: 'ledger bench' });
    const caller = { project, apiKeyId: null };
    const input = (i: number) => ({
      provider: 'openai',
      model: 'gpt-4o-mini',
      aliasName: `alias-${i % 7}`,
      inputTokens: 1000 + (i % 500),
      outputTokens: 100 + (i % 50),
      cost: 0.0012,
    });
    const ingest = async (loops: number, until: () => boolean) => {
      let stored = 0;
      await Promise.all(
        Array.from({ length: loops }, async (_, l) => {
          while (!until()) {
            await usage.recordBatch(
              caller,
              Array.from({ length: 100 }, (_, i) => input(l * 1000 + i)),
            );
            stored += 100;
          }
        }),
      );
      return stored;
    };

    // 1. Capacity from a standing start.
    log(`storing ${CAPACITY_LOGS} logs with the integrator stopped`);
    let n = 0;
    await ingest(LOOPS, () => (n += 100) > CAPACITY_LOGS + 100 * LOOPS);
    const backlog = Number((await db('receipts').count({ n: '*' }))[0].n);
    // Transaction ids are the whole cluster's: another database's open transaction holds the
    // snapshot xmin back. Time the integrator only once every receipt is below it.
    for (;;) {
      const [{ waiting }] = (
        await db.raw(
          `SELECT count(*)::int AS waiting FROM receipts WHERE tx >= pg_snapshot_xmin(pg_current_snapshot())`,
        )
      ).rows;
      if (waiting === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    let t0 = performance.now();
    let appended = 0;
    while (appended < backlog) appended += (await ledger.runOnce()).appended;
    const capacity = appended / ((performance.now() - t0) / 1000);
    rows.push([
      'integrator capacity (standing start)',
      `${Math.round(capacity)} leaves/s`,
      `${appended} of ${backlog} receipts`,
    ]);

    // 2. Under load, the integrator running as in a server.
    log(`ingesting for ${SECONDS} s from ${LOOPS} loops of recordBatch(100), integrator running`);
    const since = new Date();
    ledger.start();
    const end = Date.now() + SECONDS * 1000;
    t0 = performance.now();
    const stored = await ingest(LOOPS, () => Date.now() >= end);
    const ingestRate = stored / ((performance.now() - t0) / 1000);
    const drainStart = performance.now();
    for (;;) {
      const [{ behind }] = (
        await db.raw(
          `SELECT count(*)::int AS behind FROM receipts r
           WHERE r.created_at >= ? AND NOT EXISTS (SELECT 1 FROM ledger_leaves l WHERE l.entry_id = r.receipt_id)`,
          [since],
        )
      ).rows;
      if (behind === 0) break;
      if (performance.now() - drainStart > 120_000)
        throw new Error(`${behind} receipts still not appended after 2 minutes`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await ledger.stop();
    const { rows: delays } = await db.raw(
      `SELECT EXTRACT(epoch FROM l.integrated_at - r.created_at) * 1000 AS ms
       FROM receipts r JOIN ledger_leaves l ON l.entry_id = r.receipt_id WHERE r.created_at >= ?`,
      [since],
    );
    const d = (delays as Array<{ ms: string }>).map((r) => Number(r.ms));
    rows.push([
      'ingest under load (recordBatch 100)',
      `${Math.round(ingestRate)} logs/s`,
      `${stored} logs, ${LOOPS} loops`,
    ]);
    rows.push([
      'integration delay p50 / p99 / max',
      `${ms(percentile(d, 50))} / ${ms(percentile(d, 99))} / ${ms(d.reduce((a, b) => Math.max(a, b), 0))}`,
      `target p99 < ${MAX_DELAY_MS} ms: ${percentile(d, 99) < MAX_DELAY_MS ? 'met' : 'NOT met'}`,
    ]);

    // 3. Proofs at size, on a log seeded in SQL.
    log(`seeding a log of ${LEAVES} leaves and its subtree hashes in SQL`);
    const big = await projects.create({ key: 'bench-ledger-big', name: 'ledger bench, seeded' });
    t0 = performance.now();
    await db.raw(
      `INSERT INTO ledger_leaves (project_id, leaf_index, entry_kind, entry_id, leaf_hash, integrated_at)
       SELECT ?::uuid, i, 'receipt', 'seed_' || i, sha256('\\x00'::bytea || int8send(i)), now()
       FROM generate_series(0, ? - 1) i`,
      [big.id, LEAVES],
    );
    // Each level from the one below, pairs grouped by index (no self-join, whose plan on tables
    // without statistics can be a nested loop over the whole level).
    await db.raw(
      `INSERT INTO ledger_nodes (project_id, level, idx, hash)
       SELECT project_id, 1, leaf_index / 2, sha256('\\x01'::bytea || string_agg(leaf_hash, ''::bytea ORDER BY leaf_index))
       FROM ledger_leaves WHERE project_id = ? GROUP BY project_id, leaf_index / 2 HAVING count(*) = 2`,
      [big.id],
    );
    for (let level = 2; 2 ** level <= LEAVES; level++) {
      await db.raw(
        `INSERT INTO ledger_nodes (project_id, level, idx, hash)
         SELECT project_id, ?, idx / 2, sha256('\\x01'::bytea || string_agg(hash, ''::bytea ORDER BY idx))
         FROM ledger_nodes WHERE project_id = ? AND level = ? GROUP BY project_id, idx / 2 HAVING count(*) = 2`,
        [level, big.id, level - 1],
      );
    }
    const edge = Frontier.edge(LEAVES);
    const edgeRows = await Promise.all(
      edge.map(async (r) =>
        r.level === 0
          ? db('ledger_leaves').where({ project_id: big.id, leaf_index: r.index }).first('leaf_hash as hash')
          : db('ledger_nodes').where({ project_id: big.id, level: r.level, idx: r.index }).first('hash'),
      ),
    );
    const root = new Frontier(
      LEAVES,
      edge.map((r, i) => ({ level: r.level, hash: Buffer.from(edgeRows[i].hash) })),
    ).root();
    await db('ledger_trees').insert({ project_id: big.id, tree_size: LEAVES, root_hash: root });
    // As the integrator stores it: the subtree hashes of every NODE_STRIDE-th level only.
    await db.raw('DELETE FROM ledger_nodes WHERE project_id = ? AND level % ? <> 0', [big.id, NODE_STRIDE]);
    rows.push(['seeding', `${((performance.now() - t0) / 1000).toFixed(1)} s`, `${LEAVES} leaves`]);

    const rand = (max: number) => Math.floor(Math.random() * max);
    /** PROOFS inclusion and consistency proofs at random positions, a sample verified. */
    const timeProofs = async (when: string) => {
      const inclusion: number[] = [];
      for (let i = 0; i < PROOFS; i++) {
        const m = rand(LEAVES);
        const s = performance.now();
        const p = await ledger.inclusionProof(`seed_${m}`, null, [big.id]);
        inclusion.push(performance.now() - s);
        const hashes = p.hashes.map((h) => Buffer.from(h, 'base64'));
        if (i < 20 && !verifyInclusion(leafHash(int8(m)), m, LEAVES, hashes, root)) {
          throw new Error(`inclusion proof of leaf ${m} does not verify`);
        }
      }
      const consistency: number[] = [];
      for (let i = 0; i < PROOFS; i++) {
        const m = 1 + rand(LEAVES - 1);
        const s = performance.now();
        const proof = await ledger.consistencyProof(ADMIN, big.id, m, null);
        consistency.push(performance.now() - s);
        if (i < 10) {
          // The old root from the stored nodes, as a checkpoint of size m signed it.
          const [oldRoot] = await rangeHashes(db, big.id, [[0, m]]);
          const hashes = proof.map((h) => Buffer.from(h, 'base64'));
          if (!verifyConsistency(m, LEAVES, hashes, oldRoot, root))
            throw new Error(`consistency proof from ${m} does not verify`);
        }
      }
      for (const [name, t] of [
        ['inclusion', inclusion],
        ['consistency', consistency],
      ] as const) {
        rows.push([
          `${name} proof at ${LEAVES} leaves, ${when}, p50 / p99`,
          `${ms(percentile(t, 50))} / ${ms(percentile(t, 99))}`,
          `${PROOFS} proofs; target p50 < 10 ms at 10M: ${percentile(t, 50) < 10 ? 'met' : 'NOT met'} at this size`,
        ]);
      }
    };
    // The ledger tables as the seeding left them (autovacuum off here, or lagging), then analysed.
    await timeProofs('no manual ANALYZE');
    await db.raw('ANALYZE ledger_leaves, ledger_nodes, ledger_trees');
    await timeProofs('after ANALYZE');
    await services.receipts.close();
  } finally {
    await db.destroy();
    await dropDatabase(name).catch(() => undefined);
  }
  process.stdout.write('| measure | figure | notes |\n| --- | --- | --- |\n');
  for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
}

function int8(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
