/**
 * The lease statement of the rate limits (src/services/rateLimits.ts): one upsert reserves
 * tokens from the fixed-window counters of several buckets (rate_counters, UNLOGGED), with the
 * database's clock deciding each window so that every instance agrees.
 *
 * A bucket asks for `want` tokens and accepts no fewer than `need`. With `left` = limit − count
 * in the current window, it is granted
 *
 *   left < need  →  0 (nothing is taken: a call that cannot fit leaves the count alone)
 *   otherwise    →  least(want, greatest(need, ⌈left / 4⌉))
 *
 * so the count never exceeds the limit, and as a window's tokens get scarce the leases shrink
 * (an instance holds at most a quarter of what was left), which bounds what leased-but-unused
 * tokens can withhold from other instances. A window's count only grows: tokens are never
 * given back, so a count an instance read is a lower bound of the count until the window ends.
 *
 * The rows are locked in bucket order, the same in every statement, so two statements never
 * wait for each other's rows in a cycle. The row's `leased` column carries the grant back
 * (RETURNING sees the new row only, and the grant depends on the old count).
 */
import type { Knex } from 'knex';

export interface LeaseAsk {
  bucket: string;
  windowMs: number;
  limit: number;
  want: number;
  need: number;
}

export interface LeaseAnswer {
  bucket: string;
  /** The window the tokens belong to, in the database's epoch milliseconds. */
  windowStart: number;
  /** The window's count after this grant (the bucket's true count can only be higher). */
  count: number;
  granted: number;
  /** The database's clock when the statement ran (epoch milliseconds). */
  nowMs: number;
}

/** The grant for a bucket whose window has counted `used` so far (SQL over the `a` row). */
const grant = (used: string) =>
  `CASE WHEN a.lim - ${used} >= a.need THEN LEAST(a.want, GREATEST(a.need, (a.lim - ${used} + 3) / 4)) ELSE 0 END`;

export async function leaseTokens(db: Knex | Knex.Transaction, asks: LeaseAsk[]): Promise<LeaseAnswer[]> {
  if (asks.length === 0) return [];
  const values = asks.map(() => '(?::text, ?::bigint, ?::bigint, ?::bigint, ?::bigint)').join(', ');
  const { rows } = (await db.raw(
    `WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms),
     a AS (
       SELECT v.*, now.ms - now.ms % v.window_ms AS window_start
       FROM (VALUES ${values}) AS v(bucket, window_ms, lim, want, need), now)
     INSERT INTO rate_counters AS c (bucket, window_start, count, leased)
     SELECT a.bucket, a.window_start, ${grant('0')}, ${grant('0')} FROM a ORDER BY a.bucket
     ON CONFLICT (bucket) DO UPDATE SET (window_start, count, leased) = (
       SELECT GREATEST(c.window_start, a.window_start),
         CASE WHEN c.window_start < a.window_start THEN EXCLUDED.count ELSE c.count + ${grant('c.count')} END,
         CASE WHEN c.window_start < a.window_start THEN EXCLUDED.leased ELSE ${grant('c.count')} END
       FROM a WHERE a.bucket = c.bucket)
     RETURNING c.bucket, c.window_start, c.count, c.leased, (SELECT ms FROM now) AS now_ms`,
    asks.flatMap((a) => [a.bucket, a.windowMs, a.limit, a.want, a.need]),
  )) as { rows: CounterRow[] };
  return rows.map((r) => ({
    bucket: r.bucket,
    windowStart: Number(r.window_start),
    count: Number(r.count),
    granted: Number(r.leased),
    nowMs: Number(r.now_ms),
  }));
}

interface CounterRow {
  bucket: string;
  window_start: string | number;
  count: string | number;
  leased: string | number;
  now_ms: string | number;
}
