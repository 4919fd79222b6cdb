/**
 * Aggregated usage: summary, time buckets in the caller's time zone, and breakdowns by
 * alias name, model, origin or any combination. Every breakdown adds up to the summary.
 *
 * Aggregations read a usage source (src/db/usageSource.ts): hourly rollups plus the raw
 * logs they do not cover yet, or raw logs only (`rollups: false`, the reference the fast
 * path is tested against, and what zones with half-hour offsets need for byPeriod).
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

/** Where a stats query runs, and the rollup watermark of that snapshot (null: raw logs only). */
interface Read {
  db: Knex | Knex.Transaction;
  watermark: string | null;
}

const BY_COST = 'sum(cost) DESC, sum(requests) DESC';

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
  private base(read: Read, q: UsageQuery, from: 'days' | 'hours' | 'raw' = 'days'): Knex.QueryBuilder {
    const { db, watermark } = read;
    const source =
      watermark !== null && from !== 'raw'
        ? fastSource(db, q, { days: from === 'days', watermark })
        : rawSource(db, q);
    return db.from(source.as('u'));
  }

  /**
   * Runs a query in one read-only snapshot with the rollup watermark it must use: read in
   * the same snapshot, the watermark and the rollups agree, and passing it as a value (not
   * a subquery) lets the planner see that few logs lie past it and use the tx index.
   */
  private async read(build: (read: Read) => Knex.QueryBuilder): Promise<TotalsRow[]> {
    if (this.deps.rollups === false) return build({ db: this.deps.db, watermark: null });
    return this.deps.db.transaction(
      async (trx) => {
        const { rows } = await trx.raw('SELECT watermark::text AS w FROM usage_rollup_state WHERE id = 1');
        return build({ db: trx, watermark: rows[0].w as string });
      },
      { isolationLevel: 'repeatable read', readOnly: true },
    );
  }

  private cols(columns: string[]): Knex.Raw[] {
    return columns.map((c) => this.deps.db.raw(c));
  }

  async summary(q: UsageQuery): Promise<UsageSummary> {
    const [row] = await this.read((r) => this.base(r, q).select(this.cols(SUMMARY_COLUMNS)));
    return summary(row);
  }

  /**
   * summary, byAlias, byModel and byOrigin at once, from ONE pass over the usage source
   * (GROUPING SETS): what usageStats asks for together. Each part equals its own method's.
   */
  async overview(q: UsageQuery): Promise<UsageOverview> {
    const { db } = this.deps;
    const rows = await this.read((r) =>
      this.base(r, q)
        .select(
          db.raw('GROUPING(alias_name) AS g_alias'),
          db.raw('GROUPING(provider, model) AS g_model'),
          db.raw('GROUPING(origin) AS g_origin'),
          'alias_name',
          'provider',
          'model',
          'origin',
          ...this.cols(SUMMARY_COLUMNS),
          db.raw('array_agg(DISTINCT model ORDER BY model) AS models'),
        )
        .groupByRaw('GROUPING SETS ((), (alias_name), (provider, model), (origin))')
        .orderByRaw(`1, 2, 3, ${BY_COST}, alias_name NULLS LAST, provider, model, origin NULLS LAST`),
    );
    const result: UsageOverview = { summary: summary({}), byAlias: [], byModel: [], byOrigin: [] };
    for (const row of rows) {
      if (toInt(row.g_alias) === 0) {
        result.byAlias.push({
          ...totals(row),
          aliasName: row.alias_name as string | null,
          models: row.models as string[],
        });
      } else if (toInt(row.g_model) === 0) {
        result.byModel.push({ ...totals(row), provider: row.provider as string, model: row.model as string });
      } else if (toInt(row.g_origin) === 0) {
        result.byOrigin.push({ ...totals(row), origin: row.origin as string | null });
      } else {
        result.summary = summary(row);
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
    checkTimeZone(timeZone);
    const db = this.deps.db;
    // date_trunc(field, timestamptz, zone) truncates in local time, but for HOUR it keeps the
    // instant's own UTC offset: the hour repeated when clocks fall back stays two buckets,
    // where truncating `occurred_at AT TIME ZONE zone` would merge them into one and label
    // the first with the wrong instant. DAY and up start at local midnight either way.
    const from =
      bucket !== 'hour' && isUtcAllYear(timeZone, q.start, q.end)
        ? 'days'
        : hasWholeHourOffsets(timeZone, q.start, q.end)
          ? 'hours'
          : 'raw';
    const rows = await this.read((r) =>
      r.db
        .from(
          this.base(r, q, from)
            .select(db.raw('date_trunc(?::text, t, ?::text) AS period_start', [bucket, timeZone]), 'model')
            .select(this.cols(TOTALS))
            .groupByRaw('1, 2')
            .as('g'),
        )
        .select(
          'period_start',
          db.raw('sum(requests) AS requests'),
          db.raw('sum(input_tokens) AS input_tokens'),
          db.raw('sum(output_tokens) AS output_tokens'),
          db.raw('sum(cached_input_tokens) AS cached_input_tokens'),
          db.raw('sum(cost) AS cost'),
          db.raw('(array_agg(model ORDER BY cost DESC, requests DESC, model))[1] AS top_model'),
        )
        .groupBy('period_start')
        .orderBy('period_start'),
    );
    return rows.map((r: TotalsRow) => ({
      ...totals(r),
      periodStart: toDate(r.period_start),
      topModel: (r.top_model as string | null) ?? null,
    }));
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
