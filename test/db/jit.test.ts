/**
 * The statements planned with bounds unknown until they run (the statistics statement, the
 * rollup round, the budgets' spending statement) are never JIT-compiled: on a large table
 * their estimated cost passes jit_above_cost, and compiling took longer than running them
 * (src/db/sql.ts, withoutJit). Seen here in the plans themselves: on a connection that would
 * JIT every statement (jit_above_cost = 0) and sends each plan back as a NOTICE
 * (auto_explain), their plans carry no "JIT:" section, while a control statement's does.
 * Postgres only (PGlite has no JIT).
 */
import { knex, type Knex } from 'knex';
import { advanceSpend } from '../../src/db/budgetSpend';
import { readStats } from '../../src/db/stats';
import { createLogger } from '../../src/logger';
import { RollupService } from '../../src/services/rollups';
import { createMigratedDatabase, onPostgres, type TestDatabase } from '../helpers/db';

const onPg = onPostgres ? describe : describe.skip;

onPg('statements planned with unknown bounds run without JIT', () => {
  let t: TestDatabase;
  let db: Knex;
  let jitAvailable = false;
  const plans: string[] = [];

  beforeAll(async () => {
    t = await createMigratedDatabase();
    db = knex({
      client: 'pg',
      connection: t.settings.url,
      pool: {
        min: 1,
        max: 1,
        afterCreate: (
          conn: {
            on: (e: string, f: (n: { message: string }) => void) => void;
            query: (sql: string, cb: (err: Error | null) => void) => void;
          },
          done: (err: Error | null, conn: unknown) => void,
        ) => {
          conn.on('notice', (n) => plans.push(n.message));
          conn.query(
            `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_level = notice;
             SET jit_above_cost = 0; SET jit_inline_above_cost = 0; SET jit_optimize_above_cost = 0`,
            (err) => done(err, conn),
          );
        },
      },
    });
    jitAvailable = (await db.raw('SELECT pg_jit_available() AS a')).rows[0].a === true;
  });
  afterAll(async () => {
    await db?.destroy();
    await t?.destroy();
  });

  /** The plans of the statements `work` ran that read `table`. */
  async function plansOf(table: string, work: () => Promise<unknown>): Promise<string[]> {
    plans.length = 0;
    await work();
    return plans.filter((p) => p.includes(table));
  }

  test('a control statement is JIT-compiled on this connection, the three are not', async () => {
    if (!jitAvailable) {
      console.warn('this Postgres has no JIT (pg_jit_available() is false): nothing to check');
      return;
    }
    const control = await plansOf('usage_logs', () => db.raw('SELECT count(*) FROM usage_logs'));
    expect(control.length).toBeGreaterThan(0);
    expect(control.every((p) => p.includes('JIT:'))).toBe(true);

    const stats = await plansOf('usage_rollups_daily', () =>
      readStats(db, {
        query: {
          projectIds: null,
          start: new Date('2025-01-01T00:00:00Z'),
          end: new Date('2025-02-01T00:00:00Z'),
        },
        keys: [],
        rollups: true,
        sets: [{ columns: ['alias_name', 'provider', 'model', 'origin'], limit: null, counts: true }],
        period: { bucket: 'day', timeZone: 'Europe/Berlin' },
      }),
    );
    const round = await plansOf('usage_rollup_state', () =>
      new RollupService({ db, logger: createLogger({ level: 'silent' }) }).runOnce(),
    );
    const spend = await plansOf('budget_spend', () => advanceSpend(db));
    for (const [name, found] of Object.entries({ stats, round, spend })) {
      expect({ name, planned: found.length > 0 }).toEqual({ name, planned: true });
      expect({ name, jit: found.filter((p) => p.includes('JIT:')).length }).toEqual({ name, jit: 0 });
    }
  });
});
