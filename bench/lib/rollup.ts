/**
 * Waiting for the server's rollup worker (src/services/rollups.ts) to fold freshly seeded logs
 * in: its watermark (usage_rollup_state) must pass every log's transaction id. The worker runs
 * in the background every ~2 s; a round folds everything committed before it started.
 */
import type { Client } from 'pg';
import { progress, sleep } from './log';

export interface CatchUp {
  status: 'caught-up' | 'no-rollups' | 'not-running' | 'timeout';
  seconds: number;
  /** Logs still past the watermark when the wait ended. */
  remaining: number;
  detail: string;
}

async function pending(db: Client): Promise<{ remaining: number; watermark: string }> {
  const { rows } = await db.query<{ n: string; w: string }>(
    `SELECT (SELECT count(*) FROM usage_logs l WHERE l.tx >= s.watermark) AS n, s.watermark::text AS w
     FROM usage_rollup_state s`,
  );
  if (rows.length === 0) return { remaining: NaN, watermark: 'none' };
  return { remaining: Number(rows[0].n), watermark: rows[0].w };
}

/** True while some session is running a statement that writes the rollups (a worker round). */
async function roundInProgress(db: Client): Promise<boolean> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
       AND query ILIKE '%usage_rollups_hourly%'`,
  );
  return Number(rows[0].n) > 0;
}

export async function hasRollups(db: Client): Promise<boolean> {
  const { rows } = await db.query<{ t: string | null }>(
    `SELECT to_regclass('usage_rollup_state')::text AS t`,
  );
  return rows[0].t !== null;
}

/**
 * Polls until no log is past the watermark. Gives up after `timeoutMs`, or after `stallMs`
 * when the watermark has not moved once and no rollup round is running (no worker started).
 */
export async function waitForRollups(
  db: Client,
  opts: { timeoutMs: number; stallMs: number; pollMs?: number; label: string },
): Promise<CatchUp> {
  const start = performance.now();
  const seconds = () => (performance.now() - start) / 1000;
  if (!(await hasRollups(db))) {
    return { status: 'no-rollups', seconds: 0, remaining: NaN, detail: 'usage_rollup_state does not exist' };
  }
  const first = await pending(db);
  let last = first;
  let lastPrint = 0;
  let moved = false;
  while (last.remaining > 0) {
    if (seconds() * 1000 > opts.timeoutMs) {
      return {
        status: 'timeout',
        seconds: seconds(),
        remaining: last.remaining,
        detail: `${last.remaining.toLocaleString('en-US')} logs still past the watermark after ${Math.round(opts.timeoutMs / 1000)} s`,
      };
    }
    if (!moved && seconds() * 1000 > opts.stallMs && !(await roundInProgress(db))) {
      return {
        status: 'not-running',
        seconds: seconds(),
        remaining: last.remaining,
        detail: `watermark stayed at ${first.watermark} for ${Math.round(opts.stallMs / 1000)} s with no rollup round running: is the RollupService started?`,
      };
    }
    if (seconds() - lastPrint >= 5) {
      lastPrint = seconds();
      progress(
        `${opts.label}: rollup catch-up ${seconds().toFixed(0)} s, ${last.remaining.toLocaleString('en-US')} logs past watermark ${last.watermark}`,
      );
    }
    await sleep(opts.pollMs ?? 250);
    last = await pending(db);
    if (last.watermark !== first.watermark) moved = true;
  }
  return { status: 'caught-up', seconds: seconds(), remaining: 0, detail: `watermark ${last.watermark}` };
}
