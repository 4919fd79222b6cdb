/**
 * The rollup worker: folds committed usage logs into hourly and daily rollups and advances the
 * watermark (see migrations/20251126000007_usage_rollups.ts). Every server instance runs
 * one; a transaction-scoped advisory lock lets one at a time do the work, and the others
 * skip that round. Readers never wait for it: past the watermark they read raw logs.
 */
import type { Knex } from 'knex';
import type { Logger } from '../logger';
import { toInt } from '../db/normalize';
import { withoutJit } from '../db/sql';
import { Periodic } from './periodic';

/**
 * The pg advisory lock of the rollup worker: one round at a time across instances, and
 * nothing else writes the rollup tables without it (re-pricing takes it too).
 */
export const ROLLUP_LOCK = 7_345_022;

/** The sums every rollup row keeps. */
export const ROLLUP_TOTALS = [
  'requests',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'cache_write_1h_tokens',
  'reasoning_tokens',
  'cost',
] as const;
const TOTALS = ROLLUP_TOTALS.join(', ');
const SUMS = ROLLUP_TOTALS.map((c) => `sum(${c})`).join(', ');
/** Adds a conflicting row's sums to the stored rollup row `r`. */
const ADD = ROLLUP_TOTALS.map((c) => `${c} = r.${c} + EXCLUDED.${c}`).join(', ');

const ROLLUP_COLUMNS = `project_id, bucket_start, dim_key, dim_value, alias_name, provider, model, origin, profile, ${TOTALS}`;
const ROLLUP_KEY =
  '(project_id, dim_key, bucket_start, dim_value, alias_name, provider, model, origin, profile)';
const MODEL_COLUMNS = `project_id, bucket_start, dim_key, dim_value, provider, model, ${TOTALS}`;
const MODEL_KEY = '(project_id, dim_key, bucket_start, dim_value, provider, model)';
/** The tables the worker writes. */
const ROLLUP_TABLES = [
  'usage_rollups_hourly',
  'usage_rollups_daily',
  'usage_rollups_hourly_models',
  'usage_rollups_daily_models',
];
const DAY = `date_trunc('day', bucket_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;

/**
 * CTEs that add rows to every rollup table: `agg` (from `rows`: one row per log, or per
 * change of a log, with its project, occurred_at, dimensions, alias name, provider, model,
 * origin, profile and the sums) grouped by hour, once in the core rows (dim_key '') and once
 * per registered metadata key (its value, or NULL), except in the full hourly rollups, which
 * keep the core rows only (see migrations/20261201000001_metadata_dimensions.ts); then the
 * upserts `hourly`, `daily`, `hourly_models` and `daily_models`.
 */
export function rollupUpserts(rows: string): string {
  return `keys AS (
    SELECT COALESCE(array_agg(key ORDER BY key), '{}') AS ks FROM usage_rollup_dimensions
  ), agg AS (
    SELECT l.project_id, date_trunc('hour', l.occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket_start,
           d.dim_key, d.dim_value, l.alias_name, l.provider, l.model, l.origin, l.profile,
           ${ROLLUP_TOTALS.map((c) => `sum(l.${c}) AS ${c}`).join(', ')}
    FROM (${rows}) l CROSS JOIN LATERAL (
      SELECT ''::text AS dim_key, NULL::text AS dim_value
      UNION ALL
      SELECT k, l.dimensions ->> k FROM unnest((SELECT ks FROM keys)) AS k
    ) d
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
  ), hourly AS (
    INSERT INTO usage_rollups_hourly AS r (${ROLLUP_COLUMNS})
    SELECT * FROM agg WHERE dim_key = ''
    ON CONFLICT ${ROLLUP_KEY} DO UPDATE SET ${ADD}
    RETURNING 1
  ), daily AS (
    INSERT INTO usage_rollups_daily AS r (${ROLLUP_COLUMNS})
    SELECT project_id, ${DAY}, dim_key, dim_value, alias_name, provider, model, origin, profile, ${SUMS}
    FROM agg GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    ON CONFLICT ${ROLLUP_KEY} DO UPDATE SET ${ADD}
    RETURNING 1
  ), hourly_models AS (
    INSERT INTO usage_rollups_hourly_models AS r (${MODEL_COLUMNS})
    SELECT project_id, bucket_start, dim_key, dim_value, provider, model, ${SUMS}
    FROM agg GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ${MODEL_KEY} DO UPDATE SET ${ADD}
    RETURNING 1
  ), daily_models AS (
    INSERT INTO usage_rollups_daily_models AS r (${MODEL_COLUMNS})
    SELECT project_id, ${DAY}, dim_key, dim_value, provider, model, ${SUMS}
    FROM agg GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ${MODEL_KEY} DO UPDATE SET ${ADD}
    RETURNING 1
  )`;
}

/** Each log as a row of rollupUpserts: one request and its sums. */
const LOG_ROWS = `SELECT project_id, occurred_at, dimensions, alias_name, provider, model, origin, profile,
    1::bigint AS requests, ${ROLLUP_TOTALS.slice(1).join(', ')}
  FROM usage_logs`;

/**
 * One round, in one statement. The logs to fold are those with a transaction id in
 * [watermark, snapshot xmin): both bounds are unknown when the statement is planned, which
 * the planner takes for a narrow range of the tx index whatever its statistics say, so a
 * never-analysed usage_logs never turns this into a scan of the table.
 */
const FOLD = /* sql */ `
  WITH bounds AS (
    SELECT s.watermark AS low, pg_snapshot_xmin(pg_current_snapshot()) AS high
    FROM usage_rollup_state s WHERE s.id = 1 FOR UPDATE
  ), ${rollupUpserts(`${LOG_ROWS} WHERE tx >= (SELECT low FROM bounds) AND tx < (SELECT high FROM bounds)`)},
  moved AS (
    UPDATE usage_rollup_state s SET watermark = b.high, updated_at = now()
    FROM bounds b WHERE s.id = 1 AND b.high > b.low
    RETURNING 1
  )
  SELECT (SELECT COALESCE(sum(requests), 0) FROM agg WHERE dim_key = '') AS logs,
         (SELECT count(*) FROM hourly) + (SELECT count(*) FROM daily) + (SELECT count(*) FROM hourly_models)
           + (SELECT count(*) FROM daily_models) AS groups,
         (SELECT count(*) FROM moved) AS moved`;

/**
 * After a round that folded this many logs (a bulk load, a migration, a worker catching up),
 * the worker vacuums and analyses the rollup tables it writes: autovacuum may be off or lag,
 * and the rollups change most in exactly such rounds. A catch-up round over logs spread
 * across a month rewrites every rollup row of that month, so without the VACUUM the tables
 * keep several dead rows per live one (7:1 for the daily rollups after a 10M-log load here),
 * which every statistics read then steps over. usage_logs is not the worker's to analyse
 * (ANALYZE of a large table costs seconds), and no statement on it depends on its statistics.
 */
const MAINTAIN_AFTER_LOGS = 100_000;

export interface RollupRound {
  /** False when another instance held the lock. */
  ran: boolean;
  /** Logs folded in this round. */
  logs: number;
  /** True when the round then vacuumed the rollup tables and refreshed their planner statistics. */
  maintained?: boolean;
}

export class RollupService {
  private readonly periodic: Periodic;
  /** Metadata keys known to be registered (a key, once registered, stays so). */
  private readonly registered = new Set<string>();

  constructor(
    private readonly deps: { db: Knex; logger: Logger; intervalMs?: number; maintainAfterLogs?: number },
  ) {
    this.periodic = new Periodic('rollup', deps.intervalMs ?? 2_000, deps.logger, () => this.runOnce());
  }

  /** One round: fold every log of finished transactions past the watermark, then move it. */
  async runOnce(): Promise<RollupRound> {
    const round = await withoutJit(this.deps.db, async (trx): Promise<RollupRound> => {
      const [{ locked }] = (await trx.raw('SELECT pg_try_advisory_xact_lock(?) AS locked', [ROLLUP_LOCK]))
        .rows;
      if (!locked) return { ran: false, logs: 0 };
      const { rows } = await trx.raw(FOLD);
      return { ran: true, logs: toInt(rows[0].logs) };
    });
    if (round.logs < (this.deps.maintainAfterLogs ?? MAINTAIN_AFTER_LOGS)) return round;
    // VACUUM runs outside a transaction; it blocks neither readers nor the next round's writes.
    await this.deps.db.raw(`VACUUM (ANALYZE) ${ROLLUP_TABLES.join(', ')}`);
    return { ...round, maintained: true };
  }

  /**
   * Makes the worker keep rollup rows per value of these metadata keys (once per key, ever):
   * a new key gets one row per existing core rollup row, with no value (the logs folded so
   * far were stored before the key was promoted, so none has a value for it). Runs under the
   * worker's lock, so no round folds logs meanwhile; a server registers its keys before it
   * serves, so a key a server filters on always has complete rows.
   */
  async registerDimensions(keys: readonly string[]): Promise<string[]> {
    if (keys.every((k) => this.registered.has(k))) return [];
    const added = await this.deps.db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [ROLLUP_LOCK]);
      const inserted: Array<{ key: string }> = await trx('usage_rollup_dimensions')
        .insert(keys.map((key) => ({ key })))
        .onConflict('key')
        .ignore()
        .returning('key');
      for (const { key } of inserted) {
        await trx.raw(
          `INSERT INTO usage_rollups_daily (${ROLLUP_COLUMNS})
           SELECT project_id, bucket_start, ?, NULL, alias_name, provider, model, origin, profile, ${TOTALS}
           FROM usage_rollups_daily WHERE dim_key = ''`,
          [key],
        );
        for (const table of ['usage_rollups_hourly_models', 'usage_rollups_daily_models']) {
          await trx.raw(
            `INSERT INTO ${table} (${MODEL_COLUMNS})
             SELECT project_id, bucket_start, ?, NULL, provider, model, ${TOTALS}
             FROM ${table} WHERE dim_key = ''`,
            [key],
          );
        }
      }
      return inserted.map((r) => r.key);
    });
    for (const k of keys) this.registered.add(k);
    if (added.length)
      this.deps.logger.info({ keys: added }, 'metadata dimensions registered with the rollups');
    return added;
  }

  /** Whether the rollups keep rows for this metadata key (so statistics may read them). */
  async isRegistered(key: string): Promise<boolean> {
    if (this.registered.has(key)) return true;
    const row = await this.deps.db('usage_rollup_dimensions').where({ key }).first('key');
    if (row) this.registered.add(key); // only a positive answer is kept: it never turns false
    return Boolean(row);
  }

  /** Seconds between the newest stored log and the watermark's reach (for metrics), or 0. */
  async lagSeconds(): Promise<number> {
    // The logs past the watermark through the tx index, as statistics find them (src/db/statsQuery.ts).
    const { rows } = await this.deps.db.raw(`
      SELECT COALESCE(EXTRACT(epoch FROM now() - min(l.created_at)), 0) AS lag
      FROM (
        SELECT created_at FROM usage_logs
        WHERE tx >= (SELECT w.watermark FROM usage_rollup_state w WHERE w.id = 1)
          AND tx < pg_snapshot_xmax(pg_current_snapshot())
        OFFSET 0
      ) l`);
    return Number(rows[0].lag);
  }

  start(): void {
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }
}
