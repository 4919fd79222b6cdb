/**
 * Budgets: an amount per period for a project, optionally narrowed like a statistics filter,
 * with thresholds in percent (docs/budgets.md). Periods are local to the budget's IANA zone and
 * computed by Postgres from its zone data: a day, an ISO week (from Monday) or a month starts at
 * local midnight, so a monthly budget in America/Los_Angeles resets at midnight on the 1st there,
 * whatever the clock changes do; a total budget counts from its creation. What a budget has
 * spent is a statistics total over [period start, now): rollups plus the raw tail, so it counts
 * logs stored a moment ago.
 */
import type { Knex } from 'knex';
import type { Budget, BudgetFilter, BudgetPeriod, BudgetStatus } from '../domain/alerts';
import { ADMIN } from '../domain/principal';
import { isUuid } from '../domain/limits';
import { toDate, toDecimalString, toInt } from '../db/normalize';
import { Dec } from '../pricing/formula';
import { badInput, notFound } from './errors';
import { resolveUsageQuery } from './scope';
import type { StatsService } from './stats';
import type { TimeZoneService } from './timeZones';
import type { DimensionService } from './dimensions';
import { checkString } from './validate';

export interface BudgetRow {
  id: string;
  project_id: string;
  name: string;
  amount: string;
  period: BudgetPeriod;
  time_zone: string;
  thresholds: number[];
  filter: BudgetFilter;
  created_at: Date;
  updated_at: Date;
}

export interface BudgetInput {
  name?: string | null;
  /** USD, a decimal string such as '250' or '99.5'. */
  amount?: string | null;
  period?: BudgetPeriod | null;
  timeZone?: string | null;
  thresholds?: number[] | null;
  filter?: BudgetFilter | null;
}

const PERIODS: ReadonlySet<string> = new Set(['day', 'week', 'month', 'total']);
const MAX_THRESHOLDS = 20;
const MAX_THRESHOLD = 1_000;
/** numeric(18,8): up to 10 digits before the point, 8 after. */
const AMOUNT = /^(0|[1-9][0-9]{0,9})(\.[0-9]{1,8})?$/;
export const DEFAULT_THRESHOLDS = [50, 80, 100];
/** A total budget counts calls stamped up to this far ahead of now (clients' clocks). */
const TOTAL_AHEAD_MS = 86_400_000;

/** A range as a map key. */
const rangeKey = (r: { start: Date; end: Date }) => `${r.start.getTime()}-${r.end.getTime()}`;

/**
 * Where a period's counting ends: the whole period, so a call stamped a little ahead of the
 * server's clock counts now rather than later; a total budget up to a day ahead of `now`.
 * The status and the alert worker count the same calls.
 */
export function countedUntil(period: Period, now: Date): Date {
  return period.end ?? new Date(Math.max(now.getTime(), Date.now()) + TOTAL_AHEAD_MS);
}

export function toBudget(row: BudgetRow): Budget {
  return {
    id: row.id,
    projectId: row.project_id,
    name: row.name,
    amount: toDecimalString(row.amount),
    period: row.period,
    timeZone: row.time_zone,
    thresholds: row.thresholds.map(toInt),
    filter: row.filter ?? {},
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

/** A budget's current period: [start, end) in its zone at `now`; end null for a total budget. */
export interface Period {
  start: Date;
  end: Date | null;
}

/**
 * SQL for the period of budget row `b` at the instant `c.now` (a row `c` holding it): the local
 * date_trunc of now in the budget's zone, back to an instant (Postgres reads a local midnight
 * that a clock change skips as the first instant after it), and the next one for its end. ISO
 * weeks start on Monday.
 */
export const PERIOD_SQL = `
  CASE b.period WHEN 'total' THEN b.created_at
    ELSE date_trunc(b.period, c.now AT TIME ZONE b.time_zone) AT TIME ZONE b.time_zone END AS period_start,
  CASE b.period WHEN 'total' THEN NULL
    ELSE (date_trunc(b.period, c.now AT TIME ZONE b.time_zone) + ('1 ' || b.period)::interval)
      AT TIME ZONE b.time_zone END AS period_end`;

export class BudgetService {
  constructor(
    private readonly deps: {
      db: Knex;
      stats: StatsService;
      timeZones: TimeZoneService;
      dimensions: DimensionService;
    },
  ) {}

  async create(projectId: string, input: BudgetInput): Promise<Budget> {
    const project = isUuid(projectId)
      ? await this.deps.db('projects').where({ id: projectId }).first()
      : undefined;
    if (!project) throw notFound('project');
    if (project.archived_at) throw badInput('projectId', 'the project is archived');
    const row = await this.checked({
      period: 'month',
      timeZone: 'UTC',
      thresholds: DEFAULT_THRESHOLDS,
      ...input,
    });
    if (row.name === undefined) throw badInput('input.name', 'is required');
    if (row.amount === undefined) throw badInput('input.amount', 'is required');
    const [created] = await this.deps
      .db('budgets')
      .insert({ ...row, project_id: projectId })
      .returning('*');
    return toBudget(created);
  }

  async update(id: string, input: BudgetInput): Promise<Budget> {
    await this.require(id);
    const changes = await this.checked(input);
    const [row] = await this.deps.db.transaction(async (trx) => {
      // What it has spent is counted again (its filter, period or zone may have changed).
      await trx('budget_spend').where({ budget_id: id }).delete();
      return trx('budgets')
        .where({ id })
        .update({ ...changes, updated_at: trx.fn.now() })
        .returning('*');
    });
    return toBudget(row);
  }

  /** Deletes a budget and its decided events; deliveries already queued are still sent. */
  async delete(id: string): Promise<Budget> {
    const budget = await this.require(id);
    await this.deps.db('budgets').where({ id }).delete();
    return budget;
  }

  async find(id: string): Promise<Budget | null> {
    if (!isUuid(id)) return null;
    const row = await this.deps.db<BudgetRow>('budgets').where({ id }).first();
    return row ? toBudget(row) : null;
  }

  async require(id: string): Promise<Budget> {
    const budget = await this.find(id);
    if (!budget) throw notFound('budget');
    return budget;
  }

  /** Budgets of some projects (null: every project), oldest first. */
  async list(projectIds: string[] | null): Promise<Budget[]> {
    const q = this.deps.db<BudgetRow>('budgets').orderBy([{ column: 'created_at' }, { column: 'id' }]);
    if (projectIds) q.whereIn('project_id', projectIds);
    return (await q).map(toBudget);
  }

  /** The budget's period at `now` (see PERIOD_SQL). */
  async period(budget: Budget, now: Date): Promise<Period> {
    const { rows } = await this.deps.db.raw(
      `SELECT ${PERIOD_SQL}
       FROM (SELECT ?::timestamptz AS now) c,
            (SELECT ?::text AS period, ?::text AS time_zone, ?::timestamptz AS created_at) b`,
      [now, budget.period, budget.timeZone, budget.createdAt],
    );
    return {
      start: toDate(rows[0].period_start),
      end: rows[0].period_end ? toDate(rows[0].period_end) : null,
    };
  }

  /** Spent, remaining, percent, thresholds reached and the run-rate forecast at `now`. */
  async status(budget: Budget, now = new Date()): Promise<BudgetStatus> {
    return this.statusIn(budget, await this.period(budget, now), now);
  }

  /** The status in a period already known (the alert worker computes every budget's at once). */
  async statusIn(budget: Budget, period: Period, now: Date): Promise<BudgetStatus> {
    return statusOf(budget, period, await this.spent(budget, period.start, countedUntil(period, now)), now);
  }

  /** The cost of the budget's calls in [start, end), exact (a decimal string). */
  async spent(budget: Budget, start: Date, end: Date, stats = this.deps.stats): Promise<string> {
    return (await this.spentEach([{ budget, start, end }], stats))[0];
  }

  /**
   * spent() of each item, in order, with one statistics statement per project and filter
   * rather than one per budget (the alert worker's baselines: budgets of one filter differ
   * only in their periods, and many share those too).
   */
  async spentEach(
    items: ReadonlyArray<{ budget: Budget; start: Date; end: Date }>,
    stats = this.deps.stats,
  ): Promise<string[]> {
    const out = items.map(() => '0.00000000');
    const byFilter = new Map<string, number[]>();
    items.forEach(({ budget, start, end }, i) => {
      if (end.getTime() <= start.getTime()) return;
      const key = JSON.stringify([budget.projectId, budget.filter]);
      byFilter.set(key, [...(byFilter.get(key) ?? []), i]);
    });
    for (const indexes of byFilter.values()) {
      const { budget } = items[indexes[0]];
      // The filter over all its ranges; totalsOver reads each (distinct) range of it.
      const q = resolveUsageQuery(ADMIN, {
        projectId: budget.projectId,
        startDate: new Date(Math.min(...indexes.map((i) => items[i].start.getTime()))),
        endDate: new Date(Math.max(...indexes.map((i) => items[i].end.getTime()))),
        ...budget.filter,
      });
      const ranges = new Map(
        indexes.map((i) => [rangeKey(items[i]), { start: items[i].start, end: items[i].end }]),
      );
      const totals = await stats.totalsOver(q, [...ranges.values()]);
      const costOf = new Map([...ranges.keys()].map((key, n) => [key, totals[n].cost]));
      for (const i of indexes) out[i] = costOf.get(rangeKey(items[i]))!;
    }
    return out;
  }

  /** The columns of a budget's input, checked; only what the input sets. */
  private async checked(input: BudgetInput): Promise<Partial<Omit<BudgetRow, 'id' | 'project_id'>>> {
    const out: Partial<Omit<BudgetRow, 'id' | 'project_id'>> = {};
    if (input.name !== undefined && input.name !== null)
      out.name = checkString('input.name', input.name, { max: 255 });
    if (input.amount !== undefined && input.amount !== null) {
      const amount = String(input.amount).trim();
      if (!AMOUNT.test(amount) || new Dec(amount).isZero()) {
        throw badInput(
          'input.amount',
          'must be a positive amount in USD with at most 8 decimals, e.g. "250" or "99.5"',
        );
      }
      out.amount = amount;
    }
    if (input.period !== undefined && input.period !== null) {
      if (!PERIODS.has(input.period))
        throw badInput('input.period', "must be 'day', 'week', 'month' or 'total'");
      out.period = input.period;
    }
    if (input.timeZone !== undefined && input.timeZone !== null) {
      out.time_zone = await this.deps.timeZones.canonical(input.timeZone, 'input.timeZone');
    }
    if (input.thresholds !== undefined && input.thresholds !== null) {
      const list = [...new Set(input.thresholds)].sort((a, b) => a - b);
      if (list.length === 0 || list.length > MAX_THRESHOLDS) {
        throw badInput('input.thresholds', `must list 1 to ${MAX_THRESHOLDS} percentages`);
      }
      for (const t of list) {
        if (!Number.isInteger(t) || t < 1 || t > MAX_THRESHOLD) {
          throw badInput(
            'input.thresholds',
            `must be whole percentages from 1 to ${MAX_THRESHOLD} (got ${t})`,
          );
        }
      }
      out.thresholds = list;
    }
    if (input.filter !== undefined && input.filter !== null) out.filter = this.checkedFilter(input.filter);
    return out;
  }

  /** A filter as a statistics filter would accept it (lists, promoted metadata keys). */
  private checkedFilter(filter: BudgetFilter): BudgetFilter {
    const now = new Date();
    const q = resolveUsageQuery(ADMIN, {
      startDate: new Date(now.getTime() - 1),
      endDate: now,
      aliasNames: filter.aliasNames,
      models: filter.models,
      origins: filter.origins,
      metadata: filter.metadata,
    });
    this.deps.dimensions.checkFilter(q);
    const out: BudgetFilter = {};
    if (q.aliasNames) out.aliasNames = q.aliasNames;
    if (q.models) out.models = q.models;
    if (q.origins) out.origins = q.origins;
    if (q.metadata?.length) out.metadata = q.metadata;
    return out;
  }
}

/** Remaining, percent, thresholds reached and the run-rate forecast of what a period has spent. */
export function statusOf(budget: Budget, period: Period, spentText: string, now: Date): BudgetStatus {
  const spent = new Dec(spentText);
  const amount = new Dec(budget.amount);
  const percent = spent.times(100).dividedBy(amount);
  const elapsed = now.getTime() - period.start.getTime();
  const length = period.end ? period.end.getTime() - period.start.getTime() : null;
  return {
    budget,
    periodStart: period.start,
    periodEnd: period.end,
    spent: spent.toFixed(8),
    remaining: amount.minus(spent).toFixed(8),
    percent: percent.toDecimalPlaces(4).toNumber(),
    thresholdsCrossed: budget.thresholds.filter((t) => percent.greaterThanOrEqualTo(t)),
    forecast: length === null || elapsed <= 0 ? null : spent.times(length).dividedBy(elapsed).toFixed(8),
    asOf: now,
  };
}
