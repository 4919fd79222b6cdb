/**
 * The rollup worker: folds committed usage logs into hourly and daily rollups and advances the
 * watermark (see migrations/20251126000007_usage_rollups.ts). Every server instance runs
 * one; a transaction-scoped advisory lock lets one at a time do the work, and the others
 * skip that round. Readers never wait for it: past the watermark they read raw logs.
 */
import type { Knex } from 'knex';
import type { Logger } from '../logger';
import { toInt } from '../db/normalize';

const ROLLUP_LOCK = 7_345_022;

/** Adds a conflicting row's sums to the stored rollup row `r`. */
const ADD = `requests = r.requests + EXCLUDED.requests,
             input_tokens = r.input_tokens + EXCLUDED.input_tokens,
             output_tokens = r.output_tokens + EXCLUDED.output_tokens,
             cached_input_tokens = r.cached_input_tokens + EXCLUDED.cached_input_tokens,
             cost = r.cost + EXCLUDED.cost`;

export interface RollupRound {
  /** False when another instance held the lock. */
  ran: boolean;
  /** Logs folded in this round. */
  logs: number;
}

export class RollupService {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(private readonly deps: { db: Knex; logger: Logger; intervalMs?: number }) {}

  /** One round: fold every log of finished transactions past the watermark, then move it. */
  async runOnce(): Promise<RollupRound> {
    return this.deps.db.transaction(async (trx) => {
      const [{ locked }] = (await trx.raw('SELECT pg_try_advisory_xact_lock(?) AS locked', [ROLLUP_LOCK]))
        .rows;
      if (!locked) return { ran: false, logs: 0 };
      const { rows } = await trx.raw(/* sql */ `
        WITH bounds AS (
          SELECT s.watermark AS low, pg_snapshot_xmin(pg_current_snapshot()) AS high
          FROM usage_rollup_state s WHERE s.id = 1 FOR UPDATE
        ), agg AS (
          SELECT l.project_id, date_trunc('hour', l.occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket_start,
                 l.alias_name, l.provider, l.model, l.origin, l.profile,
                 count(*) AS requests, sum(l.input_tokens) AS input_tokens, sum(l.output_tokens) AS output_tokens,
                 sum(l.cached_input_tokens) AS cached_input_tokens, sum(l.cost) AS cost
          FROM usage_logs l, bounds b
          WHERE l.tx >= b.low AND l.tx < b.high
          GROUP BY 1, 2, 3, 4, 5, 6, 7
        ), hourly AS (
          INSERT INTO usage_rollups_hourly AS r
            (project_id, bucket_start, alias_name, provider, model, origin, profile,
             requests, input_tokens, output_tokens, cached_input_tokens, cost)
          SELECT * FROM agg
          ON CONFLICT (project_id, bucket_start, alias_name, provider, model, origin, profile)
          DO UPDATE SET ${ADD}
          RETURNING 1
        ), daily AS (
          INSERT INTO usage_rollups_daily AS r
            (project_id, bucket_start, alias_name, provider, model, origin, profile,
             requests, input_tokens, output_tokens, cached_input_tokens, cost)
          SELECT project_id, date_trunc('day', bucket_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                 alias_name, provider, model, origin, profile,
                 sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cost)
          FROM agg GROUP BY 1, 2, 3, 4, 5, 6, 7
          ON CONFLICT (project_id, bucket_start, alias_name, provider, model, origin, profile)
          DO UPDATE SET ${ADD}
          RETURNING 1
        ), moved AS (
          UPDATE usage_rollup_state s SET watermark = b.high, updated_at = now()
          FROM bounds b WHERE s.id = 1 AND b.high > b.low
          RETURNING 1
        )
        SELECT (SELECT COALESCE(sum(requests), 0) FROM agg) AS logs,
               (SELECT count(*) FROM hourly) + (SELECT count(*) FROM daily) AS groups,
               (SELECT count(*) FROM moved) AS moved`);
      return { ran: true, logs: toInt(rows[0].logs) };
    });
  }

  /** Seconds between the newest stored log and the watermark's reach (for metrics), or 0. */
  async lagSeconds(): Promise<number> {
    const { rows } = await this.deps.db.raw(`
      SELECT COALESCE(EXTRACT(epoch FROM now() - min(l.created_at)), 0) AS lag
      FROM usage_logs l, usage_rollup_state s WHERE s.id = 1 AND l.tx >= s.watermark`);
    return Number(rows[0].lag);
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.running = this.runOnce()
        .catch((err) => this.deps.logger.warn({ err }, 'rollup round failed; retrying next round'))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.deps.intervalMs ?? 2_000).unref();
        });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    const timer = this.timer;
    this.timer = undefined;
    if (timer) clearTimeout(timer);
    await this.running;
  }
}
