/**
 * Where statistics read from: a subquery of usage rows with the columns below, where a row
 * is either one raw log (requests = 1) or an hourly rollup (requests = its count). Stats
 * aggregate it with sum(requests) and never care which.
 *
 * The fast path reads hourly rollups for the whole hours inside [start, end), raw logs for
 * the partial hours at either edge, and raw logs at or past the rollup watermark (stored
 * after the last rollup round) inside the whole hours. It is one statement, so the
 * watermark and the rollups it covers are read from the same snapshot: every log counts
 * exactly once. A time zone whose UTC offset is not a whole number of hours cannot be
 * bucketed from UTC hours exactly, so those queries read raw logs only; for the same
 * reason the raw logs of the fast path carry the start of their UTC hour as `t`, which
 * buckets them exactly like rollup rows and lets a caller group by `t` first.
 *
 * Text columns are cast to text: the planner then estimates their width from the data
 * instead of from varchar(255), which made it sort 23k rollup rows where hashing them is
 * several times faster.
 */
import type { Knex } from 'knex';
import type { UsageQuery } from '../domain/types';

export const SOURCE_COLUMNS = [
  'project_id',
  't',
  'alias_name',
  'provider',
  'model',
  'origin',
  'profile',
  'requests',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cost',
] as const;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The filters of a UsageQuery other than time, on `table`'s columns. */
export function applyDimensions<T extends Knex.QueryBuilder>(qb: T, q: UsageQuery, table: string): T {
  const col = (c: string) => `${table}.${c}`;
  if (q.projectIds) qb.whereIn(col('project_id'), q.projectIds);
  if (q.aliasNames) {
    const names = q.aliasNames.filter((n): n is string => n !== null);
    const withNull = names.length < q.aliasNames.length;
    qb.where((w) => {
      if (names.length) w.orWhereIn(col('alias_name'), names);
      if (withNull) w.orWhereNull(col('alias_name'));
      if (!names.length && !withNull) w.whereRaw('false');
    });
  }
  if (q.models) qb.whereIn(col('model'), q.models);
  if (q.providers) qb.whereIn(col('provider'), q.providers);
  if (q.origins) qb.whereIn(col('origin'), q.origins);
  if (q.profiles) qb.whereIn(col('profile'), q.profiles);
  return qb;
}

/**
 * Rows of `table` (raw logs or a rollup table) in [from, to) of `timeColumn`, as source
 * rows: a raw log counts one request, a rollup row its own count. `hourly` gives raw logs
 * the start of their UTC hour as `t`.
 */
function sourceRows(
  db: Knex,
  q: UsageQuery,
  table: string,
  timeColumn: 'occurred_at' | 'bucket_start',
  from: Date,
  to: Date,
  hourly = false,
): Knex.QueryBuilder {
  const t = hourly
    ? db.raw(`date_trunc('hour', s.occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS t`)
    : `s.${timeColumn} as t`;
  const qb = db(`${table} as s`)
    .select(
      's.project_id',
      t,
      db.raw('s.alias_name::text AS alias_name'),
      db.raw('s.provider::text AS provider'),
      db.raw('s.model::text AS model'),
      db.raw('s.origin::text AS origin'),
      db.raw('s.profile::text AS profile'),
      timeColumn === 'occurred_at' ? db.raw('1::bigint AS requests') : 's.requests',
      's.input_tokens',
      's.output_tokens',
      's.cached_input_tokens',
      's.cost',
    )
    .where(`s.${timeColumn}`, '>=', from)
    .andWhere(`s.${timeColumn}`, '<', to);
  return applyDimensions(qb, q, 's');
}

const rawLogs = (db: Knex, q: UsageQuery, from: Date, to: Date, hourly = false) =>
  sourceRows(db, q, 'usage_logs', 'occurred_at', from, to, hourly);
const rollups = (db: Knex, q: UsageQuery, table: string, from: Date, to: Date) =>
  sourceRows(db, q, table, 'bucket_start', from, to);

/** Raw logs only: the reference every fast answer must equal. */
export function rawSource(db: Knex, q: UsageQuery): Knex.QueryBuilder {
  return rawLogs(db, q, q.start, q.end);
}

const floorTo = (d: Date, unit: number) => new Date(Math.floor(d.getTime() / unit) * unit);
const ceilTo = (d: Date, unit: number) => new Date(Math.ceil(d.getTime() / unit) * unit);
const before = (a: Date, b: Date) => a.getTime() < b.getTime();

/**
 * Rollups where they answer exactly, raw logs for the rest (see the header): daily rollups
 * for whole UTC days (unless `days` is false: a caller bucketing by local time in a zone
 * other than UTC needs hours), hourly rollups for the other whole hours, raw logs for the
 * partial hours at the edges and for logs past the watermark (`t`: their UTC hour).
 *
 * `watermark`, when given, is a value the caller read from usage_rollup_state before: the
 * watermark only moves forward, so logs past the current one are a subset of those past
 * it. The statement filters on both: the given value lets the planner see that few logs
 * lie past it (and use the tx index), the current one, read in the statement's own
 * snapshot, keeps the answer exact without a transaction around the two reads.
 */
export function fastSource(
  db: Knex,
  q: UsageQuery,
  opts: { days?: boolean; watermark?: string } = {},
): Knex.QueryBuilder {
  const firstHour = ceilTo(q.start, HOUR_MS);
  const lastHour = floorTo(q.end, HOUR_MS);
  if (!before(firstHour, lastHour)) return rawSource(db, q);

  let firstDay = ceilTo(q.start, DAY_MS);
  let lastDay = floorTo(q.end, DAY_MS);
  if (opts.days === false || !before(firstDay, lastDay)) firstDay = lastDay = firstHour;

  const parts: Knex.QueryBuilder[] = [];
  if (before(firstDay, lastDay)) parts.push(rollups(db, q, 'usage_rollups_daily', firstDay, lastDay));
  if (before(firstHour, firstDay)) parts.push(rollups(db, q, 'usage_rollups_hourly', firstHour, firstDay));
  if (before(lastDay, lastHour)) parts.push(rollups(db, q, 'usage_rollups_hourly', lastDay, lastHour));
  if (before(firstDay, lastDay) || before(firstHour, lastHour)) {
    // The watermark must come from the snapshot the rollups are read in: this statement's.
    const past = rawLogs(db, q, firstHour, lastHour, true).whereRaw(
      's.tx >= (SELECT w.watermark FROM usage_rollup_state w WHERE w.id = 1)',
    );
    if (opts.watermark) past.whereRaw('s.tx >= ?::xid8', [opts.watermark]);
    parts.push(past);
  }
  if (before(q.start, firstHour)) parts.push(rawLogs(db, q, q.start, firstHour, true));
  if (before(lastHour, q.end)) parts.push(rawLogs(db, q, lastHour, q.end, true));
  return db.unionAll(parts, true);
}

const wholeHourZones = new Map<string, boolean>();

/**
 * True when `timeZone`'s UTC offset is a whole number of hours in every year of the range
 * (checked in January and July, which covers standard and daylight time).
 */
export function hasWholeHourOffsets(timeZone: string, start: Date, end: Date): boolean {
  const years: number[] = [];
  for (let y = start.getUTCFullYear(); y <= end.getUTCFullYear(); y++) years.push(y);
  return years.every((year) => {
    const key = `${timeZone}|${year}`;
    let whole = wholeHourZones.get(key);
    if (whole === undefined) {
      const fmt = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
      whole = [0, 6].every((month) => {
        const name = fmt
          .formatToParts(new Date(Date.UTC(year, month, 1)))
          .find((p) => p.type === 'timeZoneName');
        const minutes = /GMT[+-]\d{2}:(\d{2})/.exec(name?.value ?? '')?.[1];
        return minutes === undefined || minutes === '00';
      });
      wholeHourZones.set(key, whole);
    }
    return whole;
  });
}

/** True when `timeZone` is UTC all year round in every year of the range (local days are UTC days). */
export function isUtcAllYear(timeZone: string, start: Date, end: Date): boolean {
  if (timeZone === 'UTC') return true;
  if (!hasWholeHourOffsets(timeZone, start, end)) return false;
  const fmt = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
  for (let y = start.getUTCFullYear(); y <= end.getUTCFullYear(); y++) {
    for (const month of [0, 6]) {
      const name = fmt.formatToParts(new Date(Date.UTC(y, month, 1))).find((p) => p.type === 'timeZoneName');
      if (name?.value !== 'GMT') return false;
    }
  }
  return true;
}
