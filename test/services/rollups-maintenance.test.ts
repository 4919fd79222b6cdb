/**
 * After a round that folded many logs, the rollup worker vacuums and analyses the tables it
 * writes (autovacuum may be off or lagging after a bulk load), and only then: a round of a
 * few logs leaves them to autovacuum. The threshold is lowered here from its 100,000.
 */
import { createLogger } from '../../src/logger';
import { RollupService } from '../../src/services/rollups';
import {
  createServiceHarness,
  recordAll,
  seedProject,
  usageInput,
  type ServiceHarness,
} from '../helpers/fixtures';

const TABLES = [
  'usage_rollups_hourly',
  'usage_rollups_daily',
  'usage_rollups_hourly_models',
  'usage_rollups_daily_models',
];
let h: ServiceHarness;

beforeAll(async () => {
  h = await createServiceHarness();
  for (const worker of [h.services.rollups, h.services.alerts, h.services.ledger]) await worker.stop();
});
afterAll(() => h?.close());

/** How many times each rollup table was vacuumed and analysed by hand (not autovacuum). */
async function maintenance(): Promise<Record<string, string>> {
  const { rows } = await h.db.raw(
    `SELECT relname, vacuum_count::text || '/' || analyze_count::text AS counts
     FROM pg_stat_user_tables WHERE relname = ANY (?) ORDER BY relname`,
    [TABLES],
  );
  return Object.fromEntries(
    (rows as Array<{ relname: string; counts: string }>).map((r) => [r.relname, r.counts]),
  );
}

test('a round of at least maintainAfterLogs logs vacuums and analyses the rollup tables; a smaller one does not', async () => {
  const worker = new RollupService({
    db: h.db,
    logger: createLogger({ level: 'silent' }),
    maintainAfterLogs: 5,
  });
  const { caller } = await seedProject(h.services);
  const before = await maintenance();
  expect(Object.keys(before).sort()).toEqual([...TABLES].sort());

  await recordAll(h.services, caller, [usageInput(), usageInput()]);
  expect(await worker.runOnce()).toEqual({ ran: true, logs: 2 });
  expect(await maintenance()).toEqual(before);

  await recordAll(
    h.services,
    caller,
    Array.from({ length: 5 }, () => usageInput()),
  );
  expect(await worker.runOnce()).toEqual({ ran: true, logs: 5, maintained: true });
  const after = await maintenance();
  for (const table of TABLES) {
    const [vacuums, analyses] = before[table].split('/').map(Number);
    expect({ table, counts: after[table] }).toEqual({ table, counts: `${vacuums + 1}/${analyses + 1}` });
  }
});
