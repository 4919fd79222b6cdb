/**
 * What each budget has spent in its current period, kept up to date by the alert worker in
 * one statement per round, whatever the number of budgets (docs/budgets.md).
 *
 * A budget's row in budget_spend holds its period, what it had spent as seen by one database
 * snapshot, and that snapshot (pg_snapshot as text). A round adds, for every budget at once,
 * the cost of the logs visible now and not visible in its row's snapshot (see advanceSpend),
 * and moves every row to the round's snapshot. So each log counts exactly once: the baseline (a
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
import { arrayLiteral, withoutJit } from './sql';

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
  SELECT bs.budget_id, b.project_id, sn.sid, bs.period_end,
    CASE WHEN b.period = 'total' THEN '-infinity' ELSE bs.period_start END AS window_start,
    CASE WHEN b.period = 'total' THEN bs.period_start END AS counts_from,
    ${texts(`b.filter -> 'aliasNames'`)} AS aliases, ${hasNull(`b.filter -> 'aliasNames'`)} AS unaliased,
    b.filter -> 'aliasNames' IS NOT NULL AS by_alias, b.filter -> 'models' IS NOT NULL AS by_model,
    b.filter -> 'origins' IS NOT NULL AS by_origin,
    ${texts(`b.filter -> 'models'`)} AS models, ${texts(`b.filter -> 'origins'`)} AS origins,
    b.filter -> 'metadata' AS metadata
  FROM budget_spend bs JOIN budgets b ON b.id = bs.budget_id JOIN snaps sn ON sn.snapshot = bs.snapshot`;

/**
 * Calls `g` (a group of one alias, model, origin and promoted values, or a log) match filter
 * `bf`: the statistics' filter on raw logs. Never NULL, so no NOT or OR can turn an unknown
 * into a match.
 */
const matches = (g: string) => `
  (NOT bf.by_alias OR COALESCE(${g}.alias_name = ANY(bf.aliases), false) OR (${g}.alias_name IS NULL AND bf.unaliased))
  AND (NOT bf.by_model OR COALESCE(${g}.model = ANY(bf.models), false))
  AND (NOT bf.by_origin OR COALESCE(${g}.origin = ANY(bf.origins), false))
  AND (bf.metadata IS NULL OR NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements(bf.metadata) m
    WHERE NOT EXISTS (
      SELECT 1 FROM jsonb_array_elements_text(m -> 'values') v
      WHERE v IS NOT DISTINCT FROM (${g}.dimensions ->> (m ->> 'key')))))`;

/**
 * One round's additions to every budget's spending, and the move to this statement's
 * snapshot. Returns the rows as they are after it.
 *
 * What became visible since a snapshot is what it did not see: logs from transactions at or
 * past its xmax, and those it saw in progress (its xip list), found through the tx index in
 * two ranges that grow with the new logs only, whatever long transaction holds the oldest
 * xmin back. Rows share a snapshot after every round (only budgets whose baseline was just
 * taken differ), so this runs once or a few times. Those logs are summed first into pieces: per
 * snapshot, project, stretch of time between two window bounds (every log of a piece is inside
 * the same windows) and alias, model, origin and promoted values (only those some budget
 * filters on); then the pieces per window (project, snapshot and period: budgets of one zone
 * and period length share one; total budgets share one without a start, less the few new logs
 * stamped before theirs); then each budget adds the groups of its window its filter matches.
 * The work grows with the new logs, plus the pieces times the windows, plus the budgets times
 * the groups, never with the budgets times the logs.
 */
export async function advanceSpend(db: Knex): Promise<SpendRow[]> {
  return withoutJit(db, async (trx) => {
    const { rows } = await trx.raw(
      `
    WITH snaps AS MATERIALIZED (
      SELECT row_number() OVER () AS sid, snapshot, snapshot::pg_snapshot AS snap
      FROM (SELECT DISTINCT snapshot FROM budget_spend) d
    ), fresh AS MATERIALIZED (
      SELECT s.sid, l.project_id, l.occurred_at, l.cost, l.alias_name, l.model, l.origin, l.dimensions
      FROM snaps s CROSS JOIN LATERAL (
        SELECT * FROM usage_logs l
        WHERE l.tx >= pg_snapshot_xmax(s.snap) AND l.tx < pg_snapshot_xmax(pg_current_snapshot())
        UNION ALL
        SELECT * FROM usage_logs l WHERE l.tx = ANY (ARRAY(SELECT pg_snapshot_xip(s.snap)))
      ) l
    ), filters AS MATERIALIZED (${FILTERS}
    ), used AS MATERIALIZED (
      SELECT bool_or(by_alias) AS alias, bool_or(by_model) AS model, bool_or(by_origin) AS origin,
        bool_or(metadata IS NOT NULL) AS metadata
      FROM filters
    ), windows AS (
      SELECT DISTINCT project_id, sid, window_start, period_end FROM filters
    ), bounds AS MATERIALIZED (
      SELECT COALESCE(array_agg(b ORDER BY b), '{}') AS b FROM (
        SELECT window_start AS b FROM filters UNION SELECT period_end FROM filters
      ) x WHERE isfinite(b)
    ), pieces AS MATERIALIZED (
      SELECT f.sid, f.project_id, width_bucket(f.occurred_at, bd.b) AS piece, min(f.occurred_at) AS t,
        sum(f.cost) AS cost,
        CASE WHEN u.alias THEN f.alias_name END AS alias_name, CASE WHEN u.model THEN f.model END AS model,
        CASE WHEN u.origin THEN f.origin END AS origin, CASE WHEN u.metadata THEN f.dimensions END AS dimensions
      FROM used u, bounds bd, fresh f
      GROUP BY 1, 2, 3, 6, 7, 8, 9
    ), groups AS MATERIALIZED (
      SELECT w.project_id, w.sid, w.window_start, w.period_end, sum(p.cost) AS cost,
        p.alias_name, p.model, p.origin, p.dimensions
      FROM windows w JOIN pieces p ON p.sid = w.sid AND p.project_id = w.project_id
        AND p.t >= w.window_start AND p.t < w.period_end
      GROUP BY 1, 2, 3, 4, 6, 7, 8, 9
    ), early AS MATERIALIZED (
      SELECT * FROM fresh WHERE occurred_at < (SELECT max(counts_from) FROM filters)
    ), added AS (
      SELECT bf.budget_id, sum(g.cost) AS cost
      FROM filters bf JOIN groups g ON g.project_id = bf.project_id AND g.sid = bf.sid
        AND g.window_start = bf.window_start AND g.period_end = bf.period_end
      WHERE ${matches('g')}
      GROUP BY bf.budget_id
    ), before_start AS (
      SELECT bf.budget_id, sum(e.cost) AS cost
      FROM filters bf JOIN early e ON e.project_id = bf.project_id AND e.sid = bf.sid
        AND e.occurred_at < bf.counts_from
      WHERE ${matches('e')}
      GROUP BY bf.budget_id
    )
    UPDATE budget_spend bs
    SET spent = bs.spent + COALESCE(a.cost, 0) - COALESCE(e.cost, 0), snapshot = pg_current_snapshot()::text,
      updated_at = now()
    FROM budget_spend s LEFT JOIN added a ON a.budget_id = s.budget_id LEFT JOIN before_start e ON e.budget_id = s.budget_id
    WHERE bs.budget_id = s.budget_id
    RETURNING bs.budget_id, bs.period_start, bs.spent`,
    );
    return rows as SpendRow[];
  });
}

/**
 * Budgets' rows from scratch, in one statement: each row's `spent` is a statistics total of
 * its period (a total budget's has no end: 'infinity'), read in `trx`, which must be
 * REPEATABLE READ (see setSnapshotIsolation), and the row keeps `trx`'s snapshot.
 */
export async function resetSpend(
  trx: Knex.Transaction,
  rows: ReadonlyArray<{ budgetId: string; periodStart: Date; periodEnd: Date | null; spent: string }>,
): Promise<void> {
  if (rows.length === 0) return;
  await trx.raw(
    `INSERT INTO budget_spend (budget_id, period_start, period_end, spent, snapshot, updated_at)
     SELECT r.budget_id, r.period_start, COALESCE(r.period_end, 'infinity'), r.spent,
       pg_current_snapshot()::text, now()
     FROM unnest(?::uuid[], ?::timestamptz[], ?::timestamptz[], ?::numeric[])
       AS r(budget_id, period_start, period_end, spent)
     ON CONFLICT (budget_id) DO UPDATE SET period_start = EXCLUDED.period_start,
       period_end = EXCLUDED.period_end, spent = EXCLUDED.spent, snapshot = EXCLUDED.snapshot,
       updated_at = EXCLUDED.updated_at`,
    [
      arrayLiteral(rows.map((r) => r.budgetId)),
      arrayLiteral(rows.map((r) => r.periodStart)),
      arrayLiteral(rows.map((r) => r.periodEnd)),
      arrayLiteral(rows.map((r) => r.spent)),
    ],
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
