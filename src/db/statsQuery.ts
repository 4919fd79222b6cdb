/**
 * The statistics statement: every part of a stats request (summary, breakdowns, time buckets)
 * in ONE statement, so one snapshot, read from rollups where they answer exactly and from raw
 * logs for the rest.
 *
 * Where rows come from, for [start, end):
 * - daily rollups for the whole UTC days inside the range ('d' rows), hourly rollups for the
 *   other whole UTC hours ('h'), raw logs for the partial hours at either edge ('r');
 * - raw logs stored after the last rollup round (transaction id at or past the watermark),
 *   inside the whole hours. The watermark is read in the statement's own snapshot, with the
 *   rollups, so every log counts exactly once.
 * Two grains of rollups (migrations/20261201000001_metadata_dimensions.ts): full ones, by every
 * dimension, and narrow ones, by provider and model only (a few rows a day). A part reads the
 * narrow ones when it needs nothing else: a breakdown by model or by a promoted metadata key,
 * time buckets; summaries count distinct alias names and origins, so they read the full ones.
 * Raw logs only (`rollups: false`: the reference every fast answer must equal, and requests
 * naming more than one metadata key, which the rollups do not combine) read [start, end).
 *
 * Statements whose speed matters must not depend on the planner's statistics (autovacuum may
 * not have analysed a table since a bulk load): every read here has one reasonable plan.
 * - Per project, through (project_id, …) indexes: a LATERAL subquery per project id (and per
 *   day or hour where the period part reads those), kept a subquery by OFFSET 0, so a range on
 *   occurred_at or bucket_start is always an index range of that project; flattened, the
 *   planner could join it to the outer rows any way it estimates to be cheap.
 * - Logs past the watermark through the tx index only: `tx` between the watermark and the
 *   snapshot's xmax, both unknown when planning, which the planner estimates as a narrow range
 *   (0.5% of the table) whatever it knows; OFFSET 0 keeps the project and time conditions out
 *   of that scan, where they would make another index look better.
 * - No join between CTEs (which carry no row estimates): a time key's bucket is computed from
 *   the key itself.
 *
 * Time buckets (`period`) in any IANA zone, exactly, with Postgres's own zone data: a UTC day
 * or hour of the rollups belongs to one local bucket when its first and last microsecond do.
 * A day that does not (a local midnight inside it) is read as its hours, an hour that does not
 * (a zone with a :30 or :45 offset, at a bucket boundary) as its raw logs, each bucketed by its
 * own time. So UTC reads daily rollups, Europe/Berlin hourly ones, and Asia/Kolkata one hour
 * of raw logs per day, and nothing depends on sampling a zone's offsets.
 *
 * Grouping: each grain's rows are aggregated once into groups of every column its parts need,
 * and each part (a GROUPING SET of those groups) from them: sums of sums and distinct values
 * of groups equal those over the rows.
 */
import type { Knex } from 'knex';
import type { TimeBucket, UsageQuery } from '../domain/types';
import { join, raw, rows, sql, type Sql } from './sql';

/** Columns a group set can name; m0, m1, … are the metadata keys in play (StatsSpec.keys). */
export type GroupColumn =
  'alias_name' | 'provider' | 'model' | 'origin' | 'profile' | 'project_id' | `m${number}`;

/** One breakdown (or overview part): the columns it groups by, and how many groups it keeps. */
export interface GroupSet {
  columns: GroupColumn[];
  /** The most expensive groups kept; null keeps all. */
  limit: number | null;
  /** Its groups need distinct counts of alias names and origins (summaries): full rollups. */
  counts?: boolean;
}

export interface StatsSpec {
  query: UsageQuery;
  /** Metadata keys the filter or the sets use, in order: m0 is keys[0]. */
  keys: string[];
  /** Read rollups where they answer; false reads raw logs only. Rollups hold one key at most. */
  rollups: boolean;
  /** The group sets to aggregate. */
  sets: GroupSet[];
  /** Time buckets in a zone (a name Postgres knows: see TimeZoneService). */
  period?: { bucket: TimeBucket; timeZone: string };
}

/** Token and cost totals every source row carries and every part sums. */
export const TOTAL_COLUMNS = [
  'requests',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cost',
] as const;

/** Full rollups have every dimension; narrow ones only these (and the metadata value). */
export type Grain = 'full' | 'narrow';
const NARROW_COLUMNS: GroupColumn[] = ['provider', 'model', 'project_id'];
/** Group columns always present in a full grouping: summaries count their distinct values. */
const BASE_COLUMNS: GroupColumn[] = ['alias_name', 'provider', 'model', 'origin'];
const ORDER: GroupColumn[] = ['alias_name', 'provider', 'model', 'origin', 'profile', 'project_id'];

export interface StatsRow {
  /** 0: a group of a set; 1: a time bucket; 2: the statement's metadata. */
  part: number;
  /** Which grouping a part-0 row comes from, and which set of it (see StatsPlan). */
  grain: Grain | null;
  gid: number | null;
  alias_name: string | null;
  provider: string | null;
  model: string | null;
  origin: string | null;
  profile: string | null;
  project_id: string | null;
  [metadata: `m${number}`]: string | null;
  requests: unknown;
  input_tokens: unknown;
  output_tokens: unknown;
  cached_input_tokens: unknown;
  cost: unknown;
  unique_models: unknown;
  unique_aliases: unknown;
  unique_origins: unknown;
  models: string[] | null;
  period_start: Date | string | null;
  /** The bucket's local start in the period's zone, 'YYYY-MM-DDTHH:MI'. */
  period_label: string | null;
  top_model: string | null;
  as_of: Date | string | null;
  from_replica: boolean | null;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const floorTo = (d: Date, unit: number) => new Date(Math.floor(d.getTime() / unit) * unit);
const ceilTo = (d: Date, unit: number) => new Date(Math.ceil(d.getTime() / unit) * unit);
const before = (a: Date, b: Date) => a.getTime() < b.getTime();

/** Columns in their fixed order (dimensions, then m0, m1, …), each once. */
export function inGroupOrder(columns: readonly GroupColumn[]): GroupColumn[] {
  const rank = (c: GroupColumn) => (c.startsWith('m') ? ORDER.length + Number(c.slice(1)) : ORDER.indexOf(c));
  return [...new Set(columns)].sort((a, b) => rank(a) - rank(b));
}

/**
 * The GROUPING() bitmask of a set over `all` columns: a bit is 1 for a column the set does
 * not group by (highest bit first), as Postgres computes GROUPING(a, b, …).
 */
export function setId(columns: readonly GroupColumn[], all: readonly GroupColumn[]): number {
  return all.reduce((mask, c) => (mask << 1) | (columns.includes(c) ? 0 : 1), 0);
}

/** One grouping of the statement: the rows of one grain, and the sets computed from them. */
interface Grouping {
  grain: Grain;
  /** The columns of its first aggregation. */
  columns: GroupColumn[];
  /** Its distinct sets, in the order asked for. */
  sets: GroupSet[];
  /** The columns its sets group by (the arguments of GROUPING()). */
  setColumns: GroupColumn[];
  /** Whether the period part reads it. */
  period: boolean;
}

/** Which grouping every set and the period part read: the statement and its reader share it. */
export interface StatsPlan {
  groupings: Grouping[];
  /** For each set of the spec, in order: the grouping it is in, and its id there. */
  sets: Array<{ grain: Grain; gid: number }>;
}

/** True when the filter names only what narrow rollups hold. */
function narrowFilter(q: UsageQuery): boolean {
  return !q.aliasNames && !q.origins && !q.profiles;
}

const narrowSet = (s: GroupSet) =>
  !s.counts && s.columns.every((c) => NARROW_COLUMNS.includes(c) || c.startsWith('m'));

export function plan(spec: Pick<StatsSpec, 'query' | 'sets' | 'period' | 'rollups'>): StatsPlan {
  const narrowOk = spec.rollups && narrowFilter(spec.query);
  // Sets share one grouping: the narrow one when all of them can, else the full one.
  const setGrain: Grain = narrowOk && spec.sets.every(narrowSet) ? 'narrow' : 'full';
  const periodGrain: Grain = narrowOk ? 'narrow' : 'full';
  const groupings: Grouping[] = [];
  for (const grain of ['full', 'narrow'] as const) {
    const sets = setGrain === grain ? dedupe(spec.sets) : [];
    const period = Boolean(spec.period) && periodGrain === grain;
    if (!sets.length && !period) continue;
    const base = grain === 'full' ? BASE_COLUMNS : (['provider', 'model'] as GroupColumn[]);
    groupings.push({
      grain,
      columns: inGroupOrder([...base, ...sets.flatMap((s) => s.columns)]),
      sets,
      setColumns: inGroupOrder(sets.flatMap((s) => s.columns)),
      period,
    });
  }
  const sets = spec.sets.map((s) => {
    const g = groupings.find((x) => x.grain === setGrain)!;
    return { grain: setGrain, gid: setId(s.columns, g.setColumns) };
  });
  return { groupings, sets };
}

const inList = (values: readonly unknown[]) =>
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
function conditions(spec: StatsSpec, t: 'r' | 'l'): Sql[] {
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

const where = (parts: Sql[]) => join(parts, ' AND ');
const list = (names: readonly string[], prefix = '') => raw(names.map((c) => `${prefix}${c}`).join(', '));

/** The rollup tables of a grain; the full grain keeps hourly rows for the core only (no key). */
function tables(grain: Grain, dimKey: string): { daily: string; hourly: string | null } {
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

const WATERMARK = raw('(SELECT w.watermark FROM usage_rollup_state w WHERE w.id = 1)');

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
function sourceRows(spec: StatsSpec, grain: Grain): Sql {
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

function scope(q: UsageQuery): Sql {
  return q.projectIds === null
    ? raw('SELECT p.id FROM projects p')
    : q.projectIds.length
      ? sql`SELECT p.id FROM projects p WHERE p.id IN (${inList(q.projectIds)})`
      : raw('SELECT p.id FROM projects p WHERE false');
}

const sums = (prefix = '') =>
  join(
    TOTAL_COLUMNS.map((c) => raw(`sum(${prefix}${c}) AS ${c}`)),
    ', ',
  );
const nullColumn = (c: GroupColumn) => raw(`NULL::${c === 'project_id' ? 'uuid' : 'text'} AS ${c}`);

/** The first aggregation of a grouping: its sets' groups (gp 1) and the period's (unit, time, model) groups (gp 0). */
function firstGrouping(spec: StatsSpec, g: Grouping): Sql {
  const period = g.period ? spec.period : undefined;
  const overview = g.sets.length > 0;
  const sets = [
    ...(overview ? [`(${g.columns.join(', ')})`] : []),
    ...(period ? ['(unit, tkey, model)'] : []),
  ];
  const tkey = period
    ? sql`CASE WHEN src.unit = 'r' THEN date_trunc(${period.bucket}::text, src.t, ${period.timeZone}::text) ELSE src.t END`
    : raw('src.t');
  const gp = overview && period ? raw('GROUPING(unit) AS gp') : raw(`${overview ? 1 : 0} AS gp`);
  // A column may be selected only when some grouping set has it.
  const selected = [
    ...(overview ? g.columns : []),
    ...(period ? ['unit', 'tkey', ...(overview ? [] : ['model'])] : []),
  ];
  return sql`src_${raw(g.grain)} AS (${sourceRows(spec, g.grain)}),
    g_${raw(g.grain)} AS (
      SELECT ${gp}, ${list(selected)}, ${sums()}
      FROM (SELECT src.*, ${tkey} AS tkey FROM src_${raw(g.grain)} src) u
      GROUP BY GROUPING SETS (${raw(sets.join(', '))})
    )`;
}

/**
 * The period part: (bucket, model) totals from a grouping's (unit, time, model) groups,
 * replacing split days by their hours and split hours by their raw logs (see the header).
 */
function periodParts(spec: StatsSpec, grain: Grain): Sql {
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

/** The second aggregation of a grouping: every set's groups, ranked (most expensive first). */
function setGroups(g: Grouping, all: readonly GroupColumn[]): Sql {
  const limits = g.sets.filter((s) => s.limit !== null);
  const limitOf = limits.length
    ? sql`CASE gid ${join(
        limits.map((s) => sql`WHEN ${setId(s.columns, g.setColumns)}::int THEN ${s.limit}::bigint`),
        ' ',
      )} END`
    : raw('NULL');
  // GROUPING() takes only columns of the sets, and at least one.
  const gid = g.setColumns.length ? `GROUPING(${g.setColumns.join(', ')})` : '0';
  const grouped = join(
    all.map((c) => (g.setColumns.includes(c) ? raw(c) : nullColumn(c))),
    ', ',
  );
  const counts =
    g.grain === 'full'
      ? raw(
          'count(DISTINCT model) AS unique_models, count(DISTINCT alias_name) AS unique_aliases, count(DISTINCT origin) AS unique_origins',
        )
      : raw(
          'count(DISTINCT model) AS unique_models, NULL::bigint AS unique_aliases, NULL::bigint AS unique_origins',
        );
  return sql`SELECT * FROM (
      SELECT o.*, row_number() OVER (
        PARTITION BY gid ORDER BY cost DESC, requests DESC, ${raw(all.map((c) => `${c} NULLS LAST`).join(', '))}
      ) AS rn
      FROM (
        SELECT ${g.grain}::text AS grain, ${raw(gid)} AS gid, ${grouped}, ${sums()}, ${counts},
          array_agg(DISTINCT model ORDER BY model) AS models
        FROM g_${raw(g.grain)} WHERE gp = 1
        GROUP BY GROUPING SETS (${raw(g.sets.map((s) => `(${s.columns.join(', ')})`).join(', '))})
      ) o
    ) ranked WHERE rn <= COALESCE(${limitOf}, rn)`;
}

/** The whole statement for a spec (exported for EXPLAIN in tests and benches). */
export function statsStatement(spec: StatsSpec): Sql {
  const { groupings } = plan(spec);
  const all = inGroupOrder([...BASE_COLUMNS, ...groupings.flatMap((g) => g.columns)]);
  const ctes: Sql[] = [
    sql`scope AS MATERIALIZED (${scope(spec.query)})`,
    ...groupings.map((g) => firstGrouping(spec, g)),
  ];
  const selects: Sql[] = [];
  const meta = raw('NULL::timestamptz AS as_of, NULL::boolean AS from_replica');
  const noCounts = raw(
    'NULL::bigint AS unique_models, NULL::bigint AS unique_aliases, NULL::bigint AS unique_origins',
  );
  const nulls = join(all.map(nullColumn), ', ');
  for (const g of groupings.filter((x) => x.sets.length)) {
    selects.push(sql`SELECT 0 AS part, grain, gid, ${list(all)}, NULL::timestamptz AS period_start,
        NULL::text AS period_label, ${list(TOTAL_COLUMNS)}, unique_models, unique_aliases, unique_origins,
        models, NULL::text AS top_model, ${meta}
      FROM (${setGroups(g, all)}) s${raw(g.grain)}`);
  }
  const periodGrouping = groupings.find((g) => g.period);
  if (periodGrouping) {
    ctes.push(periodParts(spec, periodGrouping.grain));
    selects.push(sql`SELECT 1 AS part, NULL::text AS grain, NULL::int AS gid, ${nulls}, bucket AS period_start,
        to_char(bucket AT TIME ZONE ${spec.period!.timeZone}::text, 'YYYY-MM-DD"T"HH24:MI') AS period_label,
        ${list(TOTAL_COLUMNS)}, ${noCounts}, NULL::text[] AS models, top_model, ${meta}
      FROM periods WHERE requests <> 0`);
  }
  selects.push(sql`SELECT 2 AS part, NULL::text AS grain, NULL::int AS gid, ${nulls}, NULL::timestamptz AS period_start,
      NULL::text AS period_label, ${raw(TOTAL_COLUMNS.map((c) => `NULL::numeric AS ${c}`).join(', '))},
      ${noCounts}, NULL::text[] AS models, NULL::text AS top_model,
      CASE WHEN pg_is_in_recovery() THEN pg_last_xact_replay_timestamp() ELSE now() END AS as_of,
      pg_is_in_recovery() AS from_replica`);
  return sql`WITH ${join(ctes, ',\n')}
    SELECT * FROM (${join(selects, '\nUNION ALL\n')}) x
    ORDER BY part, grain, gid, period_start, cost DESC, requests DESC, ${raw(all.map((c) => `${c} NULLS LAST`).join(', '))}`;
}

/** One set per distinct column list; a limited set keeps the largest limit asked for, none if any asks for all. */
function dedupe(sets: readonly GroupSet[]): GroupSet[] {
  const byColumns = new Map<string, GroupSet>();
  for (const s of sets) {
    const key = inGroupOrder(s.columns).join(',');
    const seen = byColumns.get(key);
    if (!seen) byColumns.set(key, { ...s, columns: inGroupOrder(s.columns) });
    else seen.limit = seen.limit === null || s.limit === null ? null : Math.max(seen.limit, s.limit);
  }
  return [...byColumns.values()];
}

export async function readStats(db: Knex, spec: StatsSpec): Promise<StatsRow[]> {
  return rows<StatsRow>(db, statsStatement(spec));
}
