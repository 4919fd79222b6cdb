/**
 * Aggregated usage: summary, breakdowns by alias name, model, origin, any combination of
 * dimensions (promoted metadata keys included), and time buckets in any time zone. Every
 * breakdown adds up to the summary.
 *
 * `query` is the one entry point: GraphQL, the REST compatibility route and the CLI ask it
 * for the parts they show, and it answers them from ONE statement (src/db/statsQuery.ts), so
 * from one snapshot: parts can never disagree, also while logs arrive. The other methods are
 * shorthands for one part.
 */
import type { Knex } from 'knex';
import { toDate, toDecimalString, toInt } from '../db/normalize';
import {
  inGroupOrder,
  plan,
  readRangeTotals,
  readStats,
  type GroupColumn,
  type GroupSet,
  type StatsRow,
  type TimeRange,
  type TotalColumn,
} from '../db/stats';
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
import type { DimensionService } from './dimensions';
import { badInput } from './errors';
import { checkRangeLength } from './scope';
import type { RollupService } from './rollups';
import type { TimeZoneService } from './timeZones';

const DIMENSION_COLUMNS: Record<UsageDimension, GroupColumn> = {
  alias: 'alias_name',
  model: 'model',
  provider: 'provider',
  origin: 'origin',
  profile: 'profile',
  project: 'project_id',
};

/** The most groups one breakdown returns. */
export const MAX_BREAKDOWN_GROUPS = 10_000;

export interface BreakdownRequest {
  by: UsageDimension[];
  /** Promoted metadata keys to group by too (UsageGroup.metadata), in this order. */
  metadataKeys?: string[];
  /** The most expensive groups to return: 1 to 10,000 (default 100). */
  limit?: number;
}

/** The parts of a stats request; each is computed only when asked for. */
export interface StatsRequest {
  /** summary, byAlias, byModel and byOrigin. */
  overview?: boolean;
  /** The totals of the filter alone, without distinct counts: the cheapest statement (budgets). */
  total?: boolean;
  byPeriod?: { bucket: TimeBucket; timeZone: string };
  breakdowns?: BreakdownRequest[];
}

export interface UsageOverview {
  summary: UsageSummary;
  byAlias: AliasUsage[];
  byModel: ModelUsage[];
  byOrigin: OriginUsage[];
}

export interface StatsResult {
  overview?: UsageOverview;
  total?: UsageTotals;
  byPeriod?: PeriodUsage[];
  /** One list per breakdown asked for, in the same order. */
  breakdowns: UsageGroup[][];
  /**
   * Every log committed up to this instant is counted: the statement's time on the primary;
   * on a read replica, the commit time of the last transaction it has replayed.
   */
  asOf: Date;
  /** True when a read replica answered (DATABASE_READ_URL). */
  fromReplica: boolean;
}

type Row = StatsRow & Record<string, unknown>;

/** The totals of a row (absent ones are zeros). */
function totals(row: Partial<Record<TotalColumn, unknown>>): UsageTotals {
  return {
    requests: toInt(row.requests),
    inputTokens: toInt(row.input_tokens),
    outputTokens: toInt(row.output_tokens),
    cachedInputTokens: toInt(row.cached_input_tokens),
    cacheWriteTokens: toInt(row.cache_write_tokens),
    cacheWrite1hTokens: toInt(row.cache_write_1h_tokens),
    reasoningTokens: toInt(row.reasoning_tokens),
    cost: toDecimalString(row.cost),
  };
}

function summary(row: Partial<Row>): UsageSummary {
  const t = totals(row);
  return {
    ...t,
    totalTokens: t.inputTokens + t.outputTokens,
    uniqueModels: toInt(row.unique_models),
    uniqueAliases: toInt(row.unique_aliases),
    uniqueOrigins: toInt(row.unique_origins),
  };
}

/** summary (with distinct counts), byAlias, byModel, byOrigin. */
const OVERVIEW_SETS: GroupSet[] = [
  { columns: [], limit: null, counts: true },
  { columns: ['alias_name'], limit: null },
  { columns: ['provider', 'model'], limit: null },
  { columns: ['origin'], limit: null },
];

/** The totals of everything the filter selects, as one group. */
const TOTAL_SET: GroupSet = { columns: [], limit: null };

export class StatsService {
  constructor(
    private readonly deps: {
      /** Where statistics read from: the primary, or DATABASE_READ_URL's replica. */
      db: Knex;
      timeZones: TimeZoneService;
      dimensions: DimensionService;
      rollups: RollupService;
      /** false: raw logs only (the reference the fast path is tested against). */
      useRollups?: boolean;
    },
  ) {}

  /** The same service over another handle: the primary, or a transaction (the alert worker's). */
  on(db: Knex): StatsService {
    return new StatsService({ ...this.deps, db });
  }

  /** A time zone's name as Postgres spells it; BAD_USER_INPUT naming `field` otherwise. */
  timeZone(name: string, field = 'timeZone'): Promise<string> {
    return this.deps.timeZones.canonical(name, field);
  }

  /** Every part asked for, from one statement (see the header). */
  async query(q: UsageQuery, request: StatsRequest): Promise<StatsResult> {
    checkRangeLength(q, 'statistics cover');
    const breakdowns = (request.breakdowns ?? []).map((b) => this.checkBreakdown(b));
    this.deps.dimensions.checkFilter(q);
    const filterKeys = (q.metadata ?? []).map((f) => f.key);
    const keys = [...new Set([...filterKeys, ...breakdowns.flatMap((b) => b.metadataKeys)])];
    const period = request.byPeriod && {
      bucket: request.byPeriod.bucket,
      timeZone: await this.timeZone(request.byPeriod.timeZone),
    };

    const column = (key: string) => `m${keys.indexOf(key)}` as GroupColumn;
    const breakdownSets = breakdowns.map((b) => ({
      columns: inGroupOrder([...b.by.map((d) => DIMENSION_COLUMNS[d]), ...b.metadataKeys.map(column)]),
      limit: b.limit,
    }));
    const sets: GroupSet[] = [
      ...(request.overview ? OVERVIEW_SETS : []),
      ...(request.total ? [TOTAL_SET] : []),
      ...breakdownSets,
    ];
    const spec = { query: q, keys, sets, period, rollups: await this.rollupsAnswer(keys) };
    const rows = (await readStats(this.deps.db, spec)) as Row[];

    // Each set's rows, by the grouping and id the statement gave them.
    const located = plan(spec).sets.map(({ grain, gid }) => `${grain}:${gid}`);
    const bySet = new Map<string, Row[]>();
    const result: StatsResult = { breakdowns: [], asOf: new Date(), fromReplica: false };
    for (const row of rows) {
      const part = toInt(row.part);
      if (part === 0) {
        const key = `${row.grain}:${toInt(row.gid)}`;
        bySet.set(key, [...(bySet.get(key) ?? []), row]);
      } else if (part === 1) {
        (result.byPeriod ??= []).push({
          ...totals(row),
          periodStart: toDate(row.period_start),
          localStart: String(row.period_label),
          topModel: row.top_model ?? null,
        });
      } else {
        result.asOf = toDate(row.as_of);
        result.fromReplica = row.from_replica === true;
      }
    }
    if (period) result.byPeriod ??= [];
    const groupsOf = (i: number) => bySet.get(located[i]) ?? [];
    if (request.overview) {
      result.overview = {
        summary: summary(groupsOf(0)[0] ?? {}),
        byAlias: groupsOf(1).map((r) => ({
          ...totals(r),
          aliasName: r.alias_name,
          models: r.models ?? [],
        })),
        byModel: groupsOf(2).map((r) => ({
          ...totals(r),
          provider: r.provider!,
          model: r.model!,
        })),
        byOrigin: groupsOf(3).map((r) => ({ ...totals(r), origin: r.origin })),
      };
    }
    let first = request.overview ? OVERVIEW_SETS.length : 0;
    if (request.total) result.total = totals(groupsOf(first++)[0] ?? {});
    result.breakdowns = breakdowns.map((b, i) =>
      groupsOf(first + i)
        .slice(0, b.limit)
        .map((r) => this.group(r, b, column)),
    );
    return result;
  }

  /**
   * The totals of `q`'s filter over each of `ranges` (q's own range is ignored), in the order
   * given, from one statement: what `query(q, { total: true })` of each range would answer, from
   * one snapshot. Empty ranges (end at or before start) are zeros and read nothing.
   */
  async totalsOver(q: UsageQuery, ranges: readonly TimeRange[]): Promise<UsageTotals[]> {
    const read = ranges
      .map((r, index) => ({ ...r, index }))
      .filter((r) => r.end.getTime() > r.start.getTime());
    for (const r of read) checkRangeLength({ ...q, ...r }, 'statistics cover');
    this.deps.dimensions.checkFilter(q);
    const keys = [...new Set((q.metadata ?? []).map((f) => f.key))];
    const spec = { query: q, keys, rollups: await this.rollupsAnswer(keys) };
    const out = ranges.map(() => totals({}));
    for (const row of await readRangeTotals(this.deps.db, spec, read)) {
      out[read[toInt(row.i)].index] = totals(row);
    }
    return out;
  }

  private group(row: Row, b: Required<BreakdownRequest>, column: (key: string) => GroupColumn): UsageGroup {
    const group: UsageGroup = totals(row);
    for (const d of b.by) {
      const value = row[DIMENSION_COLUMNS[d]] as string | null;
      if (d === 'alias') group.aliasName = value;
      else if (d === 'project') group.projectId = value;
      else group[d] = value;
    }
    if (b.metadataKeys.length) {
      group.metadata = b.metadataKeys.map((key) => ({ key, value: row[column(key)] as string | null }));
    }
    return group;
  }

  /** Rollups hold the core rows and one metadata key per row: more keys need raw logs. */
  private async rollupsAnswer(keys: string[]): Promise<boolean> {
    if (this.deps.useRollups === false || keys.length > 1) return false;
    return keys.length === 0 || this.deps.rollups.isRegistered(keys[0]);
  }

  private checkBreakdown(b: BreakdownRequest): Required<BreakdownRequest> {
    const by = [...new Set(b.by)];
    const metadataKeys = [...new Set(b.metadataKeys ?? [])];
    if (by.length === 0 && metadataKeys.length === 0) {
      throw badInput('by', 'name at least one dimension (or a metadata key)');
    }
    const limit = b.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_BREAKDOWN_GROUPS) {
      throw badInput('limit', `must be from 1 to ${MAX_BREAKDOWN_GROUPS}`);
    }
    this.deps.dimensions.check('metadataKeys', metadataKeys);
    return { by, metadataKeys, limit };
  }

  async summary(q: UsageQuery): Promise<UsageSummary> {
    return (await this.query(q, { overview: true })).overview!.summary;
  }

  async overview(q: UsageQuery): Promise<UsageOverview> {
    return (await this.query(q, { overview: true })).overview!;
  }

  /** Buckets start at local midnight (or hour, Monday, 1st) in `timeZone`; oldest first; empty buckets omitted. */
  async byPeriod(q: UsageQuery, bucket: TimeBucket, timeZone: string): Promise<PeriodUsage[]> {
    return (await this.query(q, { byPeriod: { bucket, timeZone } })).byPeriod!;
  }

  /** Calls logged without an alias form one group whose aliasName is null. */
  async byAlias(q: UsageQuery): Promise<AliasUsage[]> {
    return (await this.overview(q)).byAlias;
  }

  async byModel(q: UsageQuery): Promise<ModelUsage[]> {
    return (await this.overview(q)).byModel;
  }

  async byOrigin(q: UsageQuery): Promise<OriginUsage[]> {
    return (await this.overview(q)).byOrigin;
  }

  /** Any combination of dimensions (and promoted metadata keys), most expensive first. */
  async breakdown(
    q: UsageQuery,
    by: UsageDimension[],
    limit = 100,
    metadataKeys: string[] = [],
  ): Promise<UsageGroup[]> {
    return (await this.query(q, { breakdowns: [{ by, limit, metadataKeys }] })).breakdowns[0];
  }

  /** One summary per project over [start, end), for every id given (zeros where no usage). */
  async summariesByProject(projectIds: readonly string[], start: Date, end: Date): Promise<UsageSummary[]> {
    if (projectIds.length === 0) return [];
    const q: UsageQuery = { projectIds: [...projectIds], start, end };
    checkRangeLength(q, 'statistics cover');
    const spec = {
      query: q,
      keys: [],
      sets: [{ columns: ['project_id' as GroupColumn], limit: null, counts: true }],
      rollups: this.deps.useRollups !== false,
    };
    const rows = (await readStats(this.deps.db, spec)) as Row[];
    const byId = new Map(rows.filter((r) => toInt(r.part) === 0).map((r) => [r.project_id, summary(r)]));
    return projectIds.map((id) => byId.get(id) ?? summary({}));
  }
}
