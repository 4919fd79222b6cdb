/**
 * The period part of a statistics statement: (bucket, model) totals in any zone, exactly,
 * with Postgres's own zone data (see ./index.ts).
 */
import { join, raw, sql, type Sql } from '../sql';
import { TOTAL_COLUMNS, type Grain, type StatsSpec } from './spec';
import { conditions, list, tables, WATERMARK, where } from './source';
import { sums } from './sums';

/**
 * The period part: (bucket, model) totals from a grouping's (unit, time, model) groups,
 * replacing split days by their hours and split hours by their raw logs (see the header).
 */
export function periodParts(spec: StatsSpec, grain: Grain): Sql {
  const { bucket, timeZone: tz } = spec.period!;
  const dimKey = spec.keys[0] ?? '';
  const hourly = tables(grain, dimKey).hourly;
  const trunc = (t: Sql) => sql`date_trunc(${bucket}::text, ${t}, ${tz}::text)`;
  const length = raw("CASE unit WHEN 'd' THEN interval '1 day' ELSE interval '1 hour' END");
  const wholeIn = (t: Sql, len: Sql) =>
    sql`${trunc(t)} = ${trunc(sql`${t} + ${len} - interval '1 microsecond'`)}`;
  const totals = (prefix = '') => list(TOTAL_COLUMNS, prefix);
  const g = raw(`g_${grain}`);
  // Split days from the hourly rollups of the grain; without such rollups, from raw logs.
  const splitHours = hourly
    ? sql`SELECT r.bucket_start AS tkey, r.model::text AS model, ${sums('r.')},
          ${trunc(raw('r.bucket_start'))} AS b0, ${wholeIn(raw('r.bucket_start'), raw("interval '1 hour'"))} AS whole
        FROM (SELECT DISTINCT tkey FROM pg WHERE unit = 'd' AND NOT whole) d, scope s CROSS JOIN LATERAL (
          SELECT * FROM ${raw(hourly)} r
          WHERE ${where([sql`r.project_id = s.id`, sql`r.dim_key = ${dimKey}`, raw('r.bucket_start >= d.tkey'), raw("r.bucket_start < d.tkey + interval '1 day'"), ...conditions(spec, 'r')])}
          OFFSET 0
        ) r
        GROUP BY r.bucket_start, r.model`
    : sql`SELECT NULL::timestamptz AS tkey, NULL::text AS model, ${join(
        TOTAL_COLUMNS.map((c) => raw(`NULL::numeric AS ${c}`)),
        ', ',
      )},
          NULL::timestamptz AS b0, NULL::boolean AS whole WHERE false`;
  const rawDays = hourly
    ? raw('')
    : raw(`UNION SELECT h FROM pg, generate_series(pg.tkey, pg.tkey + interval '23 hours', interval '1 hour') h
         WHERE pg.unit = 'd' AND NOT pg.whole`);
  return sql`
  pg AS (
    SELECT g.*, ${trunc(raw('tkey'))} AS b0, ${wholeIn(raw('tkey'), length)} AS whole
    FROM ${g} g WHERE gp = 0 AND unit <> 'r'
  ),
  split_hours AS (${splitHours}),
  raw_hours AS (
    SELECT tkey FROM pg WHERE unit = 'h' AND NOT whole
    UNION SELECT tkey FROM split_hours WHERE NOT whole
    ${rawDays}
  ),
  split_logs AS (
    SELECT ${trunc(raw('l.occurred_at'))} AS bucket, l.model::text AS model, ${sums('l.')}
    FROM raw_hours h, scope s CROSS JOIN LATERAL (
      SELECT 1::bigint AS requests, ${list(TOTAL_COLUMNS.slice(1), 'l.')}, l.model, l.occurred_at
      FROM usage_logs l
      WHERE ${where([sql`l.project_id = s.id`, raw('l.occurred_at >= h.tkey'), raw("l.occurred_at < h.tkey + interval '1 hour'"), sql`l.tx < ${WATERMARK}`, ...conditions(spec, 'l')])}
      OFFSET 0
    ) l
    GROUP BY 1, 2
  ),
  contributions AS (
    SELECT b0 AS bucket, model, ${totals()} FROM pg WHERE whole
    UNION ALL SELECT tkey, model, ${totals()} FROM ${g} WHERE gp = 0 AND unit = 'r'
    UNION ALL SELECT b0, model, ${totals()} FROM split_hours WHERE whole
    UNION ALL SELECT bucket, model, ${totals()} FROM split_logs
  ),
  by_model AS (SELECT bucket, model, ${sums()} FROM contributions GROUP BY bucket, model),
  periods AS (
    SELECT bucket, ${sums()}, (array_agg(model ORDER BY cost DESC, requests DESC, model))[1] AS top_model
    FROM by_model GROUP BY bucket
  )`;
}
