/**
 * Spike alerts: a project's (or one alias name's) cost so far today, in the alert's zone,
 * against the average of the same hours of the trailing 7 days (from local midnight to the
 * same local time). It is a spike when today is at least the minimum cost and more than
 * `factor` times that average; the alert worker (./alerts.ts) decides it once per local day.
 * "So far today" is every call stamped on the local day: none is stamped more than a few
 * minutes ahead of the server's clock, and whole days are what rollups answer without reading
 * the current hour's raw logs (as budgets count their whole period).
 */
import type { Knex } from 'knex';
import type { SpikeAlert } from '../domain/alerts';
import { ADMIN } from '../domain/principal';
import { isUuid } from '../domain/limits';
import { toDate, toDecimalString } from '../db/normalize';
import type { TimeRange } from '../db/stats';
import { arrayLiteral } from '../db/sql';
import { Dec } from '../pricing/formula';
import { badInput, notFound } from './errors';
import { resolveUsageQuery } from './scope';
import type { StatsService } from './stats';
import type { TimeZoneService } from './timeZones';
import { checkOptionalString } from './validate';

interface SpikeAlertRow {
  id: string;
  project_id: string;
  alias_name: string | null;
  factor: string;
  minimum_cost: string;
  time_zone: string;
  created_at: Date;
}

export interface SpikeAlertInput {
  aliasName?: string | null;
  factor?: number | null;
  minimumCost?: string | null;
  timeZone?: string | null;
}

/** Today so far and the trailing days' same hours, as the worker compares them. */
export interface SpikeReading {
  dayStart: Date;
  today: string;
  /**
   * The average of the same hours over the 7 days before; null when a lower bound of it
   * already proved there is no spike (read() does not read it exactly then).
   */
  baseline: string | null;
  spike: boolean;
}

const TRAILING_DAYS = 7;
const HOUR_MS = 3_600_000;
const AMOUNT = /^(0|[1-9][0-9]{0,9})(\.[0-9]{1,8})?$/;

function toSpikeAlert(row: SpikeAlertRow): SpikeAlert {
  return {
    id: row.id,
    projectId: row.project_id,
    aliasName: row.alias_name,
    factor: Number(row.factor),
    minimumCost: toDecimalString(row.minimum_cost),
    timeZone: row.time_zone,
    createdAt: toDate(row.created_at),
  };
}

export class SpikeAlertService {
  constructor(private readonly deps: { db: Knex; stats: StatsService; timeZones: TimeZoneService }) {}

  async create(projectId: string, input: SpikeAlertInput): Promise<SpikeAlert> {
    const { db } = this.deps;
    const project = isUuid(projectId) ? await db('projects').where({ id: projectId }).first() : undefined;
    if (!project) throw notFound('project');
    const factor = input.factor ?? 3;
    if (!Number.isFinite(factor) || factor < 1 || factor > 1_000) {
      throw badInput('input.factor', 'must be a number from 1 to 1000');
    }
    const minimum = String(input.minimumCost ?? '1').trim();
    if (!AMOUNT.test(minimum)) throw badInput('input.minimumCost', 'must be an amount in USD, e.g. "5"');
    const [row] = await db<SpikeAlertRow>('spike_alerts')
      .insert({
        project_id: projectId,
        alias_name: checkOptionalString('input.aliasName', input.aliasName, { max: 255 }),
        factor: String(factor),
        minimum_cost: minimum,
        time_zone: await this.deps.timeZones.canonical(input.timeZone ?? 'UTC', 'input.timeZone'),
      })
      .returning('*');
    return toSpikeAlert(row);
  }

  async delete(id: string): Promise<SpikeAlert> {
    const found = isUuid(id)
      ? await this.deps.db<SpikeAlertRow>('spike_alerts').where({ id }).first()
      : undefined;
    if (!found) throw notFound('spike alert');
    await this.deps.db('spike_alerts').where({ id }).delete();
    return toSpikeAlert(found);
  }

  async list(projectIds: string[] | null): Promise<SpikeAlert[]> {
    const q = this.deps
      .db<SpikeAlertRow>('spike_alerts')
      .orderBy([{ column: 'created_at' }, { column: 'id' }]);
    if (projectIds) q.whereIn('project_id', projectIds);
    return (await q).map(toSpikeAlert);
  }

  /**
   * For each zone, the ranges a reading at `now` compares (./alerts.ts reads them for every
   * alert at once): range 0 is today, the whole local day; range i > 0 is day i back, from local
   * midnight to the same local time as `now`. Range 0's start is the day the alert decides once.
   */
  async windows(zones: readonly string[], now: Date): Promise<Map<string, TimeRange[]>> {
    const distinct = [...new Set(zones)];
    const out = new Map<string, TimeRange[]>(distinct.map((z) => [z, []]));
    if (distinct.length === 0) return out;
    const { rows } = await this.deps.db.raw(
      `SELECT c.tz, (date_trunc('day', c.local) - i * interval '1 day') AT TIME ZONE c.tz AS start,
              CASE WHEN i = 0 THEN (date_trunc('day', c.local) + interval '1 day') AT TIME ZONE c.tz
                   ELSE (c.local - i * interval '1 day') AT TIME ZONE c.tz END AS end
       FROM (SELECT tz, ?::timestamptz AT TIME ZONE tz AS local FROM unnest(?::text[]) AS z(tz)) c,
            generate_series(0, ?::int) i
       ORDER BY c.tz, i`,
      [now, arrayLiteral(distinct), TRAILING_DAYS],
    );
    for (const r of rows as Array<{ tz: string; start: Date; end: Date }>) {
      out.get(r.tz)!.push({ start: toDate(r.start), end: toDate(r.end) });
    }
    return out;
  }

  /** Today so far against the trailing days, over `windows` (this.windows's, for the alert's zone). */
  async read(
    alert: SpikeAlert,
    windows: readonly TimeRange[],
    stats = this.deps.stats,
  ): Promise<SpikeReading> {
    // The filter, over all the days (totalsOver reads each range of it).
    const q = resolveUsageQuery(ADMIN, {
      projectId: alert.projectId,
      startDate: windows[windows.length - 1].start,
      endDate: windows[0].end,
      aliasNames: alert.aliasName === null ? undefined : [alert.aliasName],
    });
    const sum = (costs: Dec[]) => costs.reduce((a, b) => a.plus(b), new Dec(0));
    const spikeOver = (today: Dec, baseline: Dec) =>
      today.greaterThanOrEqualTo(alert.minimumCost) && today.greaterThan(baseline.times(alert.factor));
    // First today, exactly, and a lower bound of the trailing days: their whole UTC hours only,
    // which rollups answer without reading raw logs (costs are never negative). Most rounds
    // prove there is no spike from that alone; the trailing days' edges are read raw only
    // when the bound cannot decide, as one statement, so from one snapshot.
    const inner = windows.slice(1).map(({ start, end }) => {
      const from = Math.ceil(start.getTime() / HOUR_MS) * HOUR_MS;
      const to = Math.floor(end.getTime() / HOUR_MS) * HOUR_MS;
      return { start: new Date(from), end: new Date(Math.max(from, to)) };
    });
    const [today, ...lower] = (await stats.totalsOver(q, [windows[0], ...inner])).map((t) => new Dec(t.cost));
    const reading = { dayStart: windows[0].start, today: today.toFixed(8) };
    if (!spikeOver(today, sum(lower).dividedBy(TRAILING_DAYS)))
      return { ...reading, baseline: null, spike: false };
    const trailing = (await stats.totalsOver(q, windows.slice(1))).map((t) => new Dec(t.cost));
    const baseline = sum(trailing).dividedBy(TRAILING_DAYS);
    return {
      ...reading,
      baseline: baseline.toFixed(8),
      spike: spikeOver(today, baseline),
    };
  }
}
