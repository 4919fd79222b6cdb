/**
 * The rows a statistics statement reads, of one grain, for [start, end): rollups for whole
 * UTC days and hours, raw logs for the rest (see ./index.ts).
 */
import type { UsageQuery } from '../../domain/types';
import { join, raw, sql, type Sql } from '../sql';
import { NARROW_COLUMNS, TOTAL_COLUMNS, type Grain, type GroupColumn, type StatsSpec } from './spec';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const floorTo = (d: Date, unit: number) => new Date(Math.floor(d.getTime() / unit) * unit);
const ceilTo = (d: Date, unit: number) => new Date(Math.ceil(d.getTime() / unit) * unit);
const before = (a: Date, b: Date) => a.getTime() < b.getTime();

export const inList = (values: readonly unknown[]) =>
  join(
    values.map((v) => sql`${v}`),
    ', ',
  );

/** `column IN (…)`, where a null in the list also selects NULL. */
function matchAny(column: Sql, values: ReadonlyArray<string | null>): Sql {
  const named = values.filter((v): v is string => v !== null);
  const withNull = named.length < values.length;
  const parts = [
    ...(named.length ? [sql`${column} IN (${inList(named)})`] : []),
    ...(withNull ? [sql`${column} IS NULL`] : []),
  ];
  return parts.length ? sql`(${join(parts, ' OR ')})` : raw('false');
}

/**
 * The filters of a query other than projects and time, on table alias `t`: a rollup row (`r`,
 * its metadata value in dim_value) or a raw log (`l`, its promoted values in `dimensions`).
 */
export function conditions(spec: StatsSpec, t: 'r' | 'l'): Sql[] {
  const q = spec.query;
  const col = (c: string) => raw(`${t}.${c}`);
  const out: Sql[] = [];
  if (q.aliasNames) out.push(matchAny(col('alias_name'), q.aliasNames));
  if (q.models) out.push(matchAny(col('model'), q.models));
  if (q.providers) out.push(matchAny(col('provider'), q.providers));
  if (q.origins) out.push(matchAny(col('origin'), q.origins));
  if (q.profiles) out.push(matchAny(col('profile'), q.profiles));
  for (const f of q.metadata ?? []) out.push(matchAny(metadataValue(spec, t, f.key), f.values));
  return out;
}

function metadataValue(spec: StatsSpec, t: 'r' | 'l', key: string): Sql {
  if (t === 'r') return raw('r.dim_value');
  if (!spec.keys.includes(key)) throw new Error(`metadata key ${key} is not in the spec's keys`);
  return sql`(l.dimensions ->> ${key})`;
}

export const where = (parts: Sql[]) => join(parts, ' AND ');
export const list = (names: readonly string[], prefix = '') =>
  raw(names.map((c) => `${prefix}${c}`).join(', '));

/** The rollup tables of a grain; the full grain keeps hourly rows for the core only (no key). */
export function tables(grain: Grain, dimKey: string): { daily: string; hourly: string | null } {
  return grain === 'narrow'
    ? { daily: 'usage_rollups_daily_models', hourly: 'usage_rollups_hourly_models' }
    : { daily: 'usage_rollups_daily', hourly: dimKey === '' ? 'usage_rollups_hourly' : null };
}

/**
 * Source-row columns of table alias `t`, after `unit` and `t`: the dimensions (those a narrow
 * row lacks as NULL), the metadata values, the totals.
 */
function rowColumns(spec: StatsSpec, grain: Grain, t: 'r' | 'l'): Sql {
  const text = (c: string) =>
    grain === 'narrow' && t === 'r' && !NARROW_COLUMNS.includes(c as GroupColumn)
      ? raw(`NULL::text AS ${c}`)
      : raw(`${t}.${c}::text AS ${c}`); // text: width estimated from the data, not varchar(255)
  const metadata = spec.keys.map((key, i) =>
    t === 'r' ? raw(`r.dim_value AS m${i}`) : sql`(l.dimensions ->> ${key}) AS ${raw(`m${i}`)}`,
  );
  const totals =
    t === 'r'
      ? TOTAL_COLUMNS.map((c) => raw(`r.${c}`))
      : TOTAL_COLUMNS.map((c) => raw(c === 'requests' ? '1::bigint AS requests' : `l.${c}`));
  return join(
    [
      raw(`${t}.project_id`),
      ...['alias_name', 'provider', 'model', 'origin', 'profile'].map(text),
      ...metadata,
      ...totals,
    ],
    ', ',
  );
}

/** Rollup rows of one table in [from, to), per project in scope. */
function rollupRows(
  spec: StatsSpec,
  grain: Grain,
  table: string,
  unit: 'd' | 'h',
  from: Date,
  to: Date,
): Sql {
  const dimKey = spec.keys[0] ?? '';
  return sql`SELECT ${unit}::text AS unit, r.bucket_start AS t, ${rowColumns(spec, grain, 'r')}
    FROM scope s CROSS JOIN LATERAL (
      SELECT * FROM ${raw(table)} r
      WHERE ${where([sql`r.project_id = s.id`, sql`r.dim_key = ${dimKey}`, sql`r.bucket_start >= ${from}`, sql`r.bucket_start < ${to}`, ...conditions(spec, 'r')])}
      OFFSET 0
    ) r`;
}

/** Raw logs in [from, to), per project in scope. */
function rawRows(spec: StatsSpec, grain: Grain, from: Date, to: Date): Sql {
  return sql`SELECT 'r'::text AS unit, l.occurred_at AS t, ${rowColumns(spec, grain, 'l')}
    FROM scope s CROSS JOIN LATERAL (
      SELECT * FROM usage_logs l
      WHERE ${where([sql`l.project_id = s.id`, sql`l.occurred_at >= ${from}`, sql`l.occurred_at < ${to}`, ...conditions(spec, 'l')])}
      OFFSET 0
    ) l`;
}

export const WATERMARK = raw('(SELECT w.watermark FROM usage_rollup_state w WHERE w.id = 1)');

/** Raw logs past the watermark (not in any rollup yet) in [from, to), found through the tx index. */
function pastWatermarkRows(spec: StatsSpec, grain: Grain, from: Date, to: Date): Sql {
  return sql`SELECT 'r'::text AS unit, l.occurred_at AS t, ${rowColumns(spec, grain, 'l')}
    FROM (
      SELECT * FROM usage_logs
      WHERE tx >= ${WATERMARK} AND tx < pg_snapshot_xmax(pg_current_snapshot())
      OFFSET 0
    ) l
    WHERE ${where([sql`l.project_id IN (SELECT id FROM scope)`, sql`l.occurred_at >= ${from}`, sql`l.occurred_at < ${to}`, ...conditions(spec, 'l')])}`;
}

/** Every source row of [start, end) of one grain: see the header. */
export function sourceRows(spec: StatsSpec, grain: Grain): Sql {
  const { start, end } = spec.query;
  const { daily, hourly } = tables(grain, spec.keys[0] ?? '');
  let firstDay = ceilTo(start, DAY_MS);
  let lastDay = floorTo(end, DAY_MS);
  // Without hourly rollups of this kind, whole hours outside whole days are read raw.
  const firstHour = hourly ? ceilTo(start, HOUR_MS) : firstDay;
  const lastHour = hourly ? floorTo(end, HOUR_MS) : lastDay;
  if (!spec.rollups || !before(firstHour, lastHour)) return rawRows(spec, grain, start, end);
  if (!before(firstDay, lastDay)) firstDay = lastDay = firstHour;
  const parts: Sql[] = [];
  if (before(firstDay, lastDay)) parts.push(rollupRows(spec, grain, daily, 'd', firstDay, lastDay));
  if (hourly && before(firstHour, firstDay))
    parts.push(rollupRows(spec, grain, hourly, 'h', firstHour, firstDay));
  if (hourly && before(lastDay, lastHour))
    parts.push(rollupRows(spec, grain, hourly, 'h', lastDay, lastHour));
  parts.push(pastWatermarkRows(spec, grain, firstHour, lastHour));
  if (before(start, firstHour)) parts.push(rawRows(spec, grain, start, firstHour));
  if (before(lastHour, end)) parts.push(rawRows(spec, grain, lastHour, end));
  return join(parts, '\nUNION ALL\n');
}

export function scope(q: UsageQuery): Sql {
  return q.projectIds === null
    ? raw('SELECT p.id FROM projects p')
    : q.projectIds.length
      ? sql`SELECT p.id FROM projects p WHERE p.id IN (${inList(q.projectIds)})`
      : raw('SELECT p.id FROM projects p WHERE false');
}
