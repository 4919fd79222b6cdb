/**
 * Aggregated usage: summary, time buckets in the caller's time zone, and breakdowns by
 * alias name, model, origin or any combination. Every breakdown adds up to the summary.
 *
 * Aggregations read a usage source (src/db/usageSource.ts): hourly rollups plus the raw
 * logs they do not cover yet, or raw logs only (`rollups: false`, the reference the fast
 * path is tested against, and what zones with half-hour offsets need for byPeriod).
 *
 * What usageStats asks for together (summary, byPeriod, byAlias, byModel, byOrigin) is one
 * statement (`parts`): it reads the source once, hashes it into the groups the parts are
 * made of (alias name x model x origin; time x model), and every part is aggregated from
 * those few hundred groups. Sums of sums and distinct values of groups are the same as
 * over the rows, so the answer is exact.
 */
import type { Knex } from 'knex';
import { fastSource, hasWholeHourOffsets, isUtcAllYear, rawSource } from '../db/usageSource';
import { toDate, toDecimalString, toInt } from '../db/normalize';
import type {
  AliasUsage,
  ModelUsage,
  OriginUsage,
  PeriodUsage,
  TimeBucket,
  UsageDimension,
  UsageGroup,
  UsageQuery,
  UsageSummary,
  UsageTotals,
} from '../domain/types';
import { badInput } from './errors';

const TOTALS = [
  'sum(requests) AS requests',
  'sum(input_tokens) AS input_tokens',
  'sum(output_tokens) AS output_tokens',
  'sum(cached_input_tokens) AS cached_input_tokens',
  'sum(cost) AS cost',
];

const DIMENSION_COLUMNS: Record<UsageDimension, string> = {
  alias: 'alias_name',
  model: 'model',
  provider: 'provider',
  origin: 'origin',
  profile: 'profile',
  project: 'project_id',
};

type TotalsRow = Record<string, unknown>;

function totals(row: TotalsRow): UsageTotals {
  return {
    requests: toInt(row.requests),
    inputTokens: toInt(row.input_tokens),
    outputTokens: toInt(row.output_tokens),
    cachedInputTokens: toInt(row.cached_input_tokens),
    cost: toDecimalString(row.cost),
  };
}

function summary(row: TotalsRow): UsageSummary {
  const t = totals(row);
  return {
    ...t,
    totalTokens: t.inputTokens + t.outputTokens,
    uniqueModels: toInt(row.unique_models),
    uniqueAliases: toInt(row.unique_aliases),
    uniqueOrigins: toInt(row.unique_origins),
  };
}

const SUMMARY_COLUMNS = [
  ...TOTALS,
  'count(DISTINCT model) AS unique_models',
  'count(DISTINCT alias_name) AS unique_aliases',
  'count(DISTINCT origin) AS unique_origins',
];

export interface UsageOverview {
  summary: UsageSummary;
  byAlias: AliasUsage[];
  byModel: ModelUsage[];
  byOrigin: OriginUsage[];
}

/** Which parts of usageStats to compute (`parts`). */
export interface UsageStatsRequest {
  overview?: boolean;
  byPeriod?: { bucket: TimeBucket; timeZone: string };
}

export interface UsageStatsParts {
  overview?: UsageOverview;
  byPeriod?: PeriodUsage[];
}

/**
 * Where a stats query runs, and a rollup watermark read before it (null: raw logs only);
 * see fastSource for why the statement stays exact when the watermark has moved since.
 */
interface Read {
  db: Knex;
  watermark: string | null;
}

/** Where rows come from: daily rollups for UTC days, hourly ones for other zones, or raw logs. */
type PeriodSource = 'days' | 'hours' | 'raw';

const BY_COST = 'sum(cost) DESC, sum(requests) DESC';

/**
 * date_trunc(field, timestamptz, zone) truncates in local time, but for HOUR it keeps the
 * instant's own UTC offset: the hour repeated when clocks fall back stays two buckets,
 * where truncating `occurred_at AT TIME ZONE zone` would merge them into one and label the
 * first with the wrong instant. DAY and up start at local midnight either way, so zones
 * that are UTC all year can use daily rollups, whole-hour zones hourly ones, others raw logs.
 */
function periodSource(q: UsageQuery, bucket: TimeBucket, timeZone: string): PeriodSource {
  if (bucket !== 'hour' && isUtcAllYear(timeZone, q.start, q.end)) return 'days';
  return hasWholeHourOffsets(timeZone, q.start, q.end) ? 'hours' : 'raw';
}

/** Throws BAD_USER_INPUT unless `timeZone` is an IANA zone name (e.g. 'Europe/Berlin') or UTC. */
export function checkTimeZone(timeZone: string, field = 'timeZone'): string {
  try {
    if (timeZone.length > 64 || /[^A-Za-z0-9_+\-/]/.test(timeZone)) throw new RangeError();
    new Intl.DateTimeFormat('en-US', { timeZone });
    return timeZone;
  } catch {
    throw badInput(
      field,
      `'${timeZone.slice(0, 64)}' is not a known IANA time zone (e.g. 'UTC', 'Europe/Berlin')`,
    );
  }
}

export class StatsService {
  constructor(private readonly deps: { db: Knex; rollups?: boolean }) {}

  /**
   * The rows to aggregate: rollups where they answer exactly, raw logs otherwise.
   * `from: 'hours'` keeps daily rollups out (local days that are not UTC days).
   */
  private base(read: Read, q: UsageQuery, from: PeriodSource = 'days'): Knex.QueryBuilder {
    const { db, watermark } = read;
    const source =
      watermark !== null && from !== 'raw'
        ? fastSource(db, q, { days: from === 'days', watermark })
        : rawSource(db, q);
    return db.from(source.as('u'));
  }

  /**
   * Runs a query with a recent rollup watermark, which lets the planner see that few logs
   * lie past it and use the tx index. The query itself bounds the raw logs by the watermark
   * of its own snapshot (fastSource), so it needs no transaction: two round trips, not five.
   */
  private async read(build: (read: Read) => Knex.QueryBuilder): Promise<TotalsRow[]> {
    const { db } = this.deps;
    if (this.deps.rollups === false) return build({ db, watermark: null });
    const { rows } = await db.raw('SELECT watermark::text AS w FROM usage_rollup_state WHERE id = 1');
    return build({ db, watermark: rows[0].w as string });
  }

  private cols(columns: string[]): Knex.Raw[] {
    return columns.map((c) => this.deps.db.raw(c));
  }

  async summary(q: UsageQuery): Promise<UsageSummary> {
    const [row] = await this.read((r) => this.base(r, q).select(this.cols(SUMMARY_COLUMNS)));
    return summary(row);
  }

  /** summary, byAlias, byModel and byOrigin at once (one statement, see `parts`). */
  async overview(q: UsageQuery): Promise<UsageOverview> {
    return (await this.parts(q, { overview: true })).overview!;
  }

  /**
   * The parts of usageStats asked for, in one statement (see the header): per source, a
   * hash aggregation into (alias_name, provider, model, origin) and (time, model) groups,
   * then the overview's GROUPING SETS and the periods over those groups. byPeriod shares
   * the overview's source when it can use daily rollups (UTC-like zones, DAY and up);
   * otherwise each reads its own, still in the same statement and snapshot.
   */
  async parts(q: UsageQuery, want: UsageStatsRequest): Promise<UsageStatsParts> {
    const period = want.byPeriod;
    if (period) checkTimeZone(period.timeZone);
    if (!want.overview && !period) return {};
    const from = period ? periodSource(q, period.bucket, period.timeZone) : 'days';
    const rows = await this.read((r) => {
      const { db } = r;
      // The time key of the (time, model) groups: rollup sources give whole UTC hours (or
      // days), few distinct values, bucketed after grouping; raw logs are bucketed first.
      const timeKey = (source: PeriodSource) =>
        source === 'raw' || r.watermark === null
          ? db.raw('date_trunc(?::text, t, ?::text)', [period!.bucket, period!.timeZone])
          : db.raw('t');
      // Columns a grouping set leaves out read NULL; GROUPING(time_key) tells the sets apart.
      const grouped = (source: PeriodSource, overview: boolean, byTime: boolean) => {
        const sets = [
          ...(overview ? ['(alias_name, provider, model, origin)'] : []),
          ...(byTime ? ['(time_key, model)'] : []),
        ];
        return db
          .from(
            db
              .from(this.base(r, q, source).as('u0'))
              .select('*', db.raw('? AS time_key', [byTime ? timeKey(source) : db.raw('NULL::timestamptz')]))
              .as('u'),
          )
          .select(
            db.raw(overview && byTime ? 'GROUPING(time_key) AS g_time' : `${overview ? 1 : 0} AS g_time`),
            byTime ? 'time_key' : db.raw('NULL::timestamptz AS time_key'),
            ...['alias_name', 'provider', 'origin'].map((c) => (overview ? c : db.raw(`NULL::text AS ${c}`))),
            'model',
            ...this.cols(TOTALS),
          )
          .groupByRaw(`GROUPING SETS (${sets.join(', ')})`);
      };
      const shared = !period || !want.overview || from === 'days' || r.watermark === null;
      const groups = shared
        ? grouped(from, Boolean(want.overview), Boolean(period))
        : db.unionAll([grouped('days', true, false), grouped(from, false, true)], true);
      const parts: Knex.QueryBuilder[] = [];
      if (want.overview) {
        parts.push(
          db
            .from('g')
            .select(
              db.raw('0 AS part'),
              db.raw('NULL::timestamptz AS period_start'),
              db.raw('GROUPING(alias_name) AS g_alias'),
              db.raw('GROUPING(provider, model) AS g_model'),
              db.raw('GROUPING(origin) AS g_origin'),
              'alias_name',
              'provider',
              'model',
              'origin',
              ...this.cols(SUMMARY_COLUMNS),
              db.raw('array_agg(DISTINCT model ORDER BY model) AS models'),
              db.raw('NULL AS top_model'),
            )
            .where('g_time', 1)
            .groupByRaw('GROUPING SETS ((), (alias_name), (provider, model), (origin))'),
        );
      }
      if (period) {
        const periods = db
          .from('g')
          .select(
            db.raw('date_trunc(?::text, time_key, ?::text) AS period_start', [
              period.bucket,
              period.timeZone,
            ]),
            'model',
            ...this.cols(TOTALS),
          )
          .where('g_time', 0)
          .groupByRaw('1, 2')
          .as('p');
        parts.push(
          db
            .from(periods)
            .select(
              db.raw('1 AS part'),
              'period_start',
              db.raw('NULL::int AS g_alias'),
              db.raw('NULL::int AS g_model'),
              db.raw('NULL::int AS g_origin'),
              db.raw('NULL AS alias_name'),
              db.raw('NULL AS provider'),
              db.raw('NULL AS model'),
              db.raw('NULL AS origin'),
              ...this.cols(TOTALS),
              db.raw('NULL::bigint AS unique_models'),
              db.raw('NULL::bigint AS unique_aliases'),
              db.raw('NULL::bigint AS unique_origins'),
              db.raw('NULL::text[] AS models'),
              db.raw('(array_agg(model ORDER BY cost DESC, requests DESC, model))[1] AS top_model'),
            )
            .groupBy('period_start'),
        );
      }
      return db
        .with('g', groups)
        .select('*')
        .from(db.unionAll(parts, true).as('x'))
        .orderByRaw(
          'part, period_start, g_alias, g_model, g_origin, cost DESC, requests DESC, alias_name NULLS LAST, provider, model, origin NULLS LAST',
        );
    });
    const result: UsageStatsParts = {};
    if (want.overview) result.overview = { summary: summary({}), byAlias: [], byModel: [], byOrigin: [] };
    if (period) result.byPeriod = [];
    for (const row of rows) {
      if (toInt(row.part) === 1) {
        result.byPeriod!.push({
          ...totals(row),
          periodStart: toDate(row.period_start),
          topModel: (row.top_model as string | null) ?? null,
        });
        continue;
      }
      const overview = result.overview!;
      if (toInt(row.g_alias) === 0) {
        overview.byAlias.push({
          ...totals(row),
          aliasName: row.alias_name as string | null,
          models: row.models as string[],
        });
      } else if (toInt(row.g_model) === 0) {
        overview.byModel.push({
          ...totals(row),
          provider: row.provider as string,
          model: row.model as string,
        });
      } else if (toInt(row.g_origin) === 0) {
        overview.byOrigin.push({ ...totals(row), origin: row.origin as string | null });
      } else {
        overview.summary = summary(row);
      }
    }
    return result;
  }

  /** One summary per project over [start, end), for every id given (zeros where no usage). */
  async summariesByProject(projectIds: readonly string[], start: Date, end: Date): Promise<UsageSummary[]> {
    const rows = await this.read((r) =>
      this.base(r, { projectIds: [...projectIds], start, end })
        .select('project_id', ...this.cols(SUMMARY_COLUMNS))
        .groupBy('project_id'),
    );
    const byId = new Map<string, UsageSummary>(
      rows.map((r: TotalsRow) => [r.project_id as string, summary(r)]),
    );
    return projectIds.map((id) => byId.get(id) ?? summary({}));
  }

  /** Buckets start at local midnight (or hour, Monday, 1st) in `timeZone`; oldest first; empty buckets omitted. */
  async byPeriod(q: UsageQuery, bucket: TimeBucket, timeZone: string): Promise<PeriodUsage[]> {
    return (await this.parts(q, { byPeriod: { bucket, timeZone } })).byPeriod!;
  }

  /** Calls logged without an alias form one group whose aliasName is null. */
  async byAlias(q: UsageQuery): Promise<AliasUsage[]> {
    const rows = await this.read((r) =>
      this.base(r, q)
        .select('alias_name', ...this.cols(TOTALS))
        .select(this.deps.db.raw('array_agg(DISTINCT model ORDER BY model) AS models'))
        .groupBy('alias_name')
        .orderByRaw(`${BY_COST}, alias_name NULLS LAST`),
    );
    return rows.map((r: TotalsRow) => ({
      ...totals(r),
      aliasName: r.alias_name as string | null,
      models: r.models as string[],
    }));
  }

  async byModel(q: UsageQuery): Promise<ModelUsage[]> {
    const rows = await this.read((r) =>
      this.base(r, q)
        .select('provider', 'model', ...this.cols(TOTALS))
        .groupBy('provider', 'model')
        .orderByRaw(`${BY_COST}, provider, model`),
    );
    return rows.map((r: TotalsRow) => ({
      ...totals(r),
      provider: r.provider as string,
      model: r.model as string,
    }));
  }

  async byOrigin(q: UsageQuery): Promise<OriginUsage[]> {
    const rows = await this.read((r) =>
      this.base(r, q)
        .select('origin', ...this.cols(TOTALS))
        .groupBy('origin')
        .orderByRaw(`${BY_COST}, origin NULLS LAST`),
    );
    return rows.map((r: TotalsRow) => ({ ...totals(r), origin: r.origin as string | null }));
  }

  /** Any combination of dimensions, most expensive first. */
  async breakdown(q: UsageQuery, by: UsageDimension[], limit = 100): Promise<UsageGroup[]> {
    if (by.length === 0) throw badInput('by', 'name at least one dimension');
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw badInput('limit', 'must be from 1 to 10000');
    const dims = [...new Set(by)];
    const columns = dims.map((d) => DIMENSION_COLUMNS[d]);
    const rows = await this.read((r) =>
      this.base(r, q)
        .select(...columns, ...this.cols(TOTALS))
        .groupBy(columns)
        .orderByRaw(`${BY_COST}, ${columns.map((c) => `${c} NULLS LAST`).join(', ')}`)
        .limit(limit),
    );
    return rows.map((r: TotalsRow) => {
      const group: UsageGroup = totals(r);
      for (const d of dims) {
        const value = r[DIMENSION_COLUMNS[d]] as string | null;
        if (d === 'alias') group.aliasName = value;
        else if (d === 'project') group.projectId = value;
        else group[d] = value;
      }
      return group;
    });
  }
}
