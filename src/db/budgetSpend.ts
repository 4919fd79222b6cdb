/**
 * What each budget has spent in its current period, kept up to date by the alert worker in
 * one statement per round, whatever the number of budgets (docs/budgets.md).
 *
 * A budget's row in budget_spend holds its period, what it had spent as seen by one database
 * snapshot, and that snapshot (pg_snapshot as text). A round adds, for every budget at once,
 * the cost of the logs visible now and not visible in its row's snapshot
 * (pg_visible_in_snapshot), found through the tx index from the oldest snapshot's xmin, and
 * moves every row to the round's snapshot. So each log counts exactly once: the baseline (a
 * statistics total over the period, read with its snapshot in one REPEATABLE READ
 * transaction) counts what its snapshot sees, and each round what became visible since.
 *
 * A row is (re)built from the statistics when it is missing, when its period is over, and
 * when something changed stored costs or the budget (a re-pricing, a budget update delete the
 * rows concerned). A log counts when its project is the budget's, its occurred_at is in the
 * period and it matches the budget's filter: the same conditions as the statistics' filters
 * on raw logs (test/alerts/spend.test.ts compares the two).
 */
import type { Knex } from 'knex';

export interface SpendRow {
  budget_id: string;
  period_start: Date;
  spent: string;
}

/** A jsonb array of strings as text[], its JSON nulls left out. */
const texts = (values: string) => `array_remove(ARRAY(SELECT jsonb_array_elements_text(${values})), NULL)`;
/** A jsonb array holds a JSON null. */
const hasNull = (values: string) => `COALESCE(${values} @> '[null]', false)`;

/**
 * Each budget's filter as arrays (budgets.filter: aliasNames, models, origins, metadata), read
 * once per budget rather than once per log.
 */
const FILTERS = `
  SELECT bs.budget_id, b.project_id, bs.snapshot, bs.period_start, bs.period_end,
    ${texts(`b.filter -> 'aliasNames'`)} AS aliases, ${hasNull(`b.filter -> 'aliasNames'`)} AS unaliased,
    b.filter -> 'aliasNames' IS NOT NULL AS by_alias, b.filter -> 'models' IS NOT NULL AS by_model,
    b.filter -> 'origins' IS NOT NULL AS by_origin,
    ${texts(`b.filter -> 'models'`)} AS models, ${texts(`b.filter -> 'origins'`)} AS origins,
    b.filter -> 'metadata' AS metadata
  FROM budget_spend bs JOIN budgets b ON b.id = bs.budget_id`;

/**
 * Group `g` (calls of one alias, model, origin and promoted values) matches filter `bf`: the
 * statistics' filter on raw logs. Never NULL, so no NOT or OR can turn an unknown into a match.
 */
const MATCHES = `
  (NOT bf.by_alias OR COALESCE(g.alias_name = ANY(bf.aliases), false) OR (g.alias_name IS NULL AND bf.unaliased))
  AND (NOT bf.by_model OR COALESCE(g.model = ANY(bf.models), false))
  AND (NOT bf.by_origin OR COALESCE(g.origin = ANY(bf.origins), false))
  AND (bf.metadata IS NULL OR NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements(bf.metadata) m
    WHERE NOT EXISTS (
      SELECT 1 FROM jsonb_array_elements_text(m -> 'values') v
      WHERE v IS NOT DISTINCT FROM (g.dimensions ->> (m ->> 'key')))))`;

/**
 * One round's additions to every budget's spending, and the move to this statement's
 * snapshot. Returns the rows as they are after it.
 *
 * The logs that became visible are summed first per window (project, snapshot and period:
 * budgets of one zone and period length share one) and per alias, model, origin and promoted
 * values; then each budget adds the groups of its window its filter matches. So the work
 * grows with the new logs times the windows, plus the budgets times the groups, not with the
 * budgets times the logs.
 */
export async function advanceSpend(db: Knex | Knex.Transaction): Promise<SpendRow[]> {
  const { rows } = await db.raw(
    `
    WITH low AS (
      SELECT min(pg_snapshot_xmin(bs.snapshot::pg_snapshot)) AS xmin FROM budget_spend bs
    ), fresh AS MATERIALIZED (
      SELECT l.project_id, l.tx, l.occurred_at, l.cost, l.alias_name, l.model, l.origin, l.dimensions
      FROM usage_logs l
      WHERE l.tx >= (SELECT xmin FROM low) AND l.tx < pg_snapshot_xmax(pg_current_snapshot())
      OFFSET 0
    ), filters AS MATERIALIZED (${FILTERS}
    ), windows AS (
      SELECT DISTINCT project_id, snapshot, period_start, period_end FROM filters
    ), groups AS MATERIALIZED (
      SELECT w.project_id, w.snapshot, w.period_start, w.period_end,
        f.alias_name, f.model, f.origin, f.dimensions, sum(f.cost) AS cost
      FROM windows w JOIN fresh f ON f.project_id = w.project_id
        AND f.occurred_at >= w.period_start AND f.occurred_at < w.period_end
        AND NOT pg_visible_in_snapshot(f.tx, w.snapshot::pg_snapshot)
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ), added AS (
      SELECT bf.budget_id, sum(g.cost) AS cost
      FROM filters bf JOIN groups g ON g.project_id = bf.project_id AND g.snapshot = bf.snapshot
        AND g.period_start = bf.period_start AND g.period_end = bf.period_end
      WHERE ${MATCHES}
      GROUP BY bf.budget_id
    )
    UPDATE budget_spend bs
    SET spent = bs.spent + COALESCE(a.cost, 0), snapshot = pg_current_snapshot()::text, updated_at = now()
    FROM budget_spend s LEFT JOIN added a ON a.budget_id = s.budget_id
    WHERE bs.budget_id = s.budget_id
    RETURNING bs.budget_id, bs.period_start, bs.spent`,
  );
  return rows as SpendRow[];
}

/**
 * A budget's row from scratch (a total budget's period has no end: 'infinity'): `total` (a statistics total of [start, end), read in `trx`,
 * which must be REPEATABLE READ, see setSnapshotIsolation) with `trx`'s snapshot.
 */
export async function resetSpend(
  trx: Knex.Transaction,
  row: { budgetId: string; periodStart: Date; periodEnd: Date | null; spent: string },
): Promise<void> {
  await trx.raw(
    `INSERT INTO budget_spend (budget_id, period_start, period_end, spent, snapshot, updated_at)
     VALUES (?, ?, COALESCE(?::timestamptz, 'infinity'), ?, pg_current_snapshot()::text, now())
     ON CONFLICT (budget_id) DO UPDATE SET period_start = EXCLUDED.period_start,
       period_end = EXCLUDED.period_end, spent = EXCLUDED.spent, snapshot = EXCLUDED.snapshot,
       updated_at = EXCLUDED.updated_at`,
    [row.budgetId, row.periodStart, row.periodEnd, row.spent],
  );
}

/** Makes `trx` one snapshot for all its statements (the first statement of the transaction). */
export async function setSnapshotIsolation(trx: Knex.Transaction): Promise<void> {
  await trx.raw('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
}

/** Forgets the rows of some projects' budgets (after their stored costs changed). */
export async function forgetSpend(db: Knex | Knex.Transaction, projectIds: string[]): Promise<void> {
  if (projectIds.length === 0) return;
  await db.raw(
    `DELETE FROM budget_spend WHERE budget_id IN (SELECT id FROM budgets WHERE project_id = ANY(?::uuid[]))`,
    [projectIds],
  );
}
