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
 * - No JIT (`withoutJit`): the watermark part is priced as a share of usage_logs, so past a few
 *   million logs the statement's estimated cost passes jit_above_cost, and compiling it took
 *   1.45 s of a 1.55 s answer at 10M logs, the same before and after ANALYZE.
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
import { join, raw, rows, sql, withoutJit, type Sql } from '../sql';
import { periodParts } from './period';
import { list, scope, sourceRows } from './source';
import {
  BASE_COLUMNS,
  inGroupOrder,
  plan,
  setId,
  TOTAL_COLUMNS,
  type Grouping,
  type GroupColumn,
  type StatsRow,
  type StatsSpec,
  type TotalColumn,
} from './spec';
import { nullColumn, sums } from './sums';

export * from './spec';

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

export async function readStats(db: Knex, spec: StatsSpec): Promise<StatsRow[]> {
  return withoutJit(db, (trx) => rows<StatsRow>(trx, statsStatement(spec)));
}

/** A range of the filter's totals (rangeTotalsStatement): [start, end). */
export interface TimeRange {
  start: Date;
  end: Date;
}

/**
 * The totals of one filter (spec.query's, its own range ignored) over several ranges, in ONE
 * statement, so from one snapshot and one round trip: row `i` holds range i's totals, each read
 * from the rows a statistics statement of that range alone would read (./source.ts). Spike
 * alerts compare a day with the same hours of the days before; budgets that share a filter
 * share their baselines' statement.
 */
export function rangeTotalsStatement(spec: Omit<StatsSpec, 'sets' | 'period'>, ranges: TimeRange[]): Sql {
  const parts = ranges.map(({ start, end }, i) => {
    const one: StatsSpec = {
      ...spec,
      query: { ...spec.query, start, end },
      sets: [{ columns: [], limit: null }],
    };
    const { grain } = plan(one).groupings[0];
    return sql`SELECT ${i}::int AS i, ${sums()} FROM (${sourceRows(one, grain)}) src`;
  });
  return sql`WITH scope AS MATERIALIZED (${scope(spec.query)})
    ${join(parts, '\nUNION ALL\n')}`;
}

export async function readRangeTotals(
  db: Knex,
  spec: Omit<StatsSpec, 'sets' | 'period'>,
  ranges: TimeRange[],
): Promise<Array<Record<TotalColumn, unknown> & { i: number }>> {
  if (ranges.length === 0) return [];
  return withoutJit(db, (trx) =>
    rows<Record<TotalColumn, unknown> & { i: number }>(trx, rangeTotalsStatement(spec, ranges)),
  );
}
