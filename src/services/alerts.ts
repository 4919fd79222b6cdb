/**
 * The alert worker: every LLMRING_ALERT_INTERVAL_MS, on one instance at a time (a lease row),
 * it evaluates every budget and spike alert from the statistics (rollups plus the raw
 * tail: never on the logUsage path) and decides events:
 * - budget.threshold_crossed, once per budget, period and threshold;
 * - budget.period_reset, once per budget and period, for periods that began after the budget
 *   was made (not for total budgets);
 * - usage.spike, once per alert and local day.
 * "Once" is the unique keys of alert_events: an event is inserted only if it was not decided
 * before, and its webhook messages are queued in the same transaction (./webhooks.ts), so
 * several instances, or a round that fails half-way, never send an event twice or lose one.
 */
import type { Knex } from 'knex';
import type { Budget, BudgetPeriod } from '../domain/alerts';
import type { Logger } from '../logger';
import { toDate, toDecimalString } from '../db/normalize';
import {
  countedUntil,
  PERIOD_SQL,
  statusOf,
  toBudget,
  type BudgetRow,
  type BudgetService,
  type Period,
} from './budgets';
import { arrayLiteral } from '../db/sql';
import { advanceSpend, resetSpend, setSnapshotIsolation } from '../db/budgetSpend';
import { Periodic } from './periodic';
import type { SpikeAlertService } from './spikes';
import type { StatsService } from './stats';
import type { WebhookEvent, WebhookService } from './webhooks';

/** Budgets whose baselines one snapshot reads (src/db/budgetSpend.ts: rounds after read per snapshot). */
const BASELINES_PER_SNAPSHOT = 1000;

/** How long a round may hold the lease (it gives it back when it ends). */
const LEASE_MS = 60_000;

/** What the round's statement adds to each budget row (PERIOD_SQL and the project's key). */
interface RoundColumns {
  project_key: string;
  period_start: Date | string;
  period_end: Date | string | null;
}

export interface AlertRound {
  /** False when another instance held the lock. */
  ran: boolean;
  budgets: number;
  spikeAlerts: number;
  /** Events decided in this round. */
  events: number;
}

export class AlertService {
  private readonly periodic: Periodic;

  constructor(
    private readonly deps: {
      db: Knex;
      logger: Logger;
      /** Statistics on the primary: decisions never read a lagging replica. */
      stats: StatsService;
      budgets: BudgetService;
      spikes: SpikeAlertService;
      webhooks: WebhookService;
      intervalMs: number;
      /** Called after a round that queued messages (the sender delivers them at once). */
      onQueued?: () => void;
    },
  ) {
    this.periodic = new Periodic('alert', deps.intervalMs, deps.logger, () => this.runOnce());
  }

  start(): void {
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One round at `now` (tests pass their own clock). */
  async runOnce(now = new Date()): Promise<AlertRound> {
    const { db, stats, spikes, webhooks } = this.deps;
    if (!(await this.lease())) return { ran: false, budgets: 0, spikeAlerts: 0, events: 0 };
    let queued = 0;
    let events = 0;
    // Each decision in its own short transaction: the event, and its messages with it.
    const decide = async (event: EventRow, webhook: WebhookEvent) => {
      const decided = await db.transaction(async (trx) => {
        if (!(await insertEvent(trx, event))) return false;
        queued += (await webhooks.enqueue(trx, event.project_id, webhook)).length;
        return true;
      });
      if (decided) events++;
    };
    try {
      const { rows: budgetRows } = await db.raw<{ rows: Array<BudgetRow & RoundColumns> }>(
        `SELECT b.*, p.key AS project_key, ${PERIOD_SQL}
         FROM budgets b JOIN projects p ON p.id = b.project_id, (SELECT ?::timestamptz AS now) c
         WHERE p.archived_at IS NULL ORDER BY b.created_at, b.id`,
        [now],
      );
      // Every budget's spending moves by what became visible since the last round, at once;
      // a budget without a row for its current period gets a baseline from the statistics.
      const kept = new Map((await advanceSpend(db)).map((r) => [r.budget_id, r]));
      const budgetsNow = budgetRows.map((row) => {
        const budget = toBudget(row);
        const period = {
          start: toDate(row.period_start),
          end: row.period_end ? toDate(row.period_end) : null,
        };
        const known = kept.get(budget.id);
        const spent: string | null =
          known && toDate(known.period_start).getTime() === period.start.getTime()
            ? toDecimalString(known.spent)
            : null;
        return { budget, period, spent, projectKey: row.project_key };
      });
      await this.baselines(
        budgetsNow.filter((b) => b.spent === null),
        now,
      );
      // Events decided in earlier rounds of these periods: one read, not one insert per
      // threshold a budget crossed long ago (the unique index still makes each event once).
      const known = new Set(
        (
          await decided(
            db,
            'budget_id',
            budgetsNow.map((b) => ({ id: b.budget.id, periodStart: b.period.start })),
          )
        ).map((e) => eventKey(e.id, e.type, e.threshold)),
      );
      const decideOnce = async (event: EventRow, webhook: WebhookEvent) => {
        if (!known.has(eventKey(event.budget_id!, event.type, event.threshold))) await decide(event, webhook);
      };
      for (const { budget, period, spent, projectKey } of budgetsNow) {
        const status = statusOf(budget, period, spent!, now);
        const about = describe(budget, projectKey, period);
        const base = {
          budget_id: budget.id,
          project_id: budget.projectId,
          period_start: period.start,
          spent: status.spent,
        };
        if (budget.period !== 'total' && period.start.getTime() > budget.createdAt.getTime()) {
          await decideOnce(
            { ...base, type: 'period_reset', threshold: 0, data: about },
            { type: 'budget.period_reset', timestamp: now, data: about },
          );
        }
        for (const threshold of status.thresholdsCrossed) {
          const data = {
            ...about,
            threshold,
            spent: status.spent,
            remaining: status.remaining,
            percent: status.percent,
            forecast: status.forecast,
          };
          await decideOnce(
            { ...base, type: 'threshold_crossed', threshold, data },
            { type: 'budget.threshold_crossed', timestamp: now, data },
          );
        }
      }

      const alerts = await spikes.list(null);
      const windows = await spikes.windows(
        alerts.map((a) => a.timeZone),
        now,
      );
      const dayOf = (alert: { timeZone: string }) => windows.get(alert.timeZone)![0].start;
      // An alert decided today needs no reading until its next local day.
      const decidedToday = new Set(
        (
          await decided(
            db,
            'spike_alert_id',
            alerts.map((a) => ({ id: a.id, periodStart: dayOf(a) })),
          )
        ).map((e) => e.id),
      );
      for (const alert of alerts) {
        if (decidedToday.has(alert.id)) continue;
        const reading = await spikes.read(alert, windows.get(alert.timeZone)!, stats);
        if (!reading.spike) continue;
        const data = {
          spike_alert: {
            id: alert.id,
            project_id: alert.projectId,
            alias_name: alert.aliasName,
            factor: alert.factor,
            minimum_cost: alert.minimumCost,
            time_zone: alert.timeZone,
          },
          day_start: reading.dayStart.toISOString(),
          today: reading.today,
          baseline: reading.baseline,
        };
        await decide(
          {
            type: 'spike',
            spike_alert_id: alert.id,
            project_id: alert.projectId,
            period_start: reading.dayStart,
            threshold: 0,
            spent: reading.today,
            data,
          },
          { type: 'usage.spike', timestamp: now, data },
        );
      }
      return { ran: true, budgets: budgetRows.length, spikeAlerts: alerts.length, events };
    } finally {
      await db('alert_worker_state').where({ id: 1 }).update({ leased_until: null });
      if (queued > 0) this.deps.onQueued?.();
    }
  }

  /**
   * What budgets have spent in their periods, from the statistics, kept with the snapshot they
   * were read in (src/db/budgetSpend.ts), BASELINES_PER_SNAPSHOT budgets per REPEATABLE READ
   * transaction: the rounds after read what became visible since each snapshot, so fewer
   * snapshots mean less to read. Budgets of one filter share a statement (spentEach). Sets
   * each entry's `spent`.
   */
  private async baselines(
    entries: Array<{ budget: Budget; period: Period; spent: string | null }>,
    now: Date,
  ): Promise<void> {
    const { db, stats, budgets } = this.deps;
    for (let i = 0; i < entries.length; i += BASELINES_PER_SNAPSHOT) {
      const chunk = entries.slice(i, i + BASELINES_PER_SNAPSHOT);
      await db.transaction(async (trx) => {
        await setSnapshotIsolation(trx);
        const spent = await budgets.spentEach(
          chunk.map(({ budget, period }) => ({
            budget,
            start: period.start,
            end: countedUntil(period, now),
          })),
          stats.on(trx),
        );
        chunk.forEach((entry, k) => (entry.spent = spent[k]));
        await resetSpend(
          trx,
          chunk.map(({ budget, period }, k) => ({
            budgetId: budget.id,
            periodStart: period.start,
            periodEnd: period.end,
            spent: spent[k],
          })),
        );
      });
    }
  }

  /**
   * The round's lease: one statement, so no connection is held while the round reads the
   * statistics (the embedded database has one). Another instance skips its round while the
   * lease lasts; one that dies mid-round holds it LEASE_MS at most.
   */
  private async lease(): Promise<boolean> {
    const { rows } = await this.deps.db.raw(
      `UPDATE alert_worker_state SET leased_until = now() + (? * interval '1 millisecond')
       WHERE id = 1 AND (leased_until IS NULL OR leased_until < now()) RETURNING id`,
      [LEASE_MS],
    );
    return rows.length > 0;
  }
}

interface EventRow {
  type: 'threshold_crossed' | 'period_reset' | 'spike';
  budget_id?: string;
  spike_alert_id?: string;
  project_id: string;
  period_start: Date;
  threshold: number;
  spent: string;
  data: Record<string, unknown>;
}

const eventKey = (budgetId: string, type: string, threshold: number) => `${budgetId}|${type}|${threshold}`;

/**
 * The events already decided for these periods of budgets or spike alerts (`owner`, a column
 * of alert_events), in one statement.
 */
async function decided(
  db: Knex,
  owner: 'budget_id' | 'spike_alert_id',
  periods: ReadonlyArray<{ id: string; periodStart: Date }>,
): Promise<Array<{ id: string; type: string; threshold: number }>> {
  if (periods.length === 0) return [];
  const { rows } = await db.raw(
    `SELECT e.${owner} AS id, e.type, e.threshold FROM unnest(?::uuid[], ?::timestamptz[]) AS c(id, period_start)
     JOIN alert_events e ON e.${owner} = c.id AND e.period_start = c.period_start`,
    [arrayLiteral(periods.map((p) => p.id)), arrayLiteral(periods.map((p) => p.periodStart))],
  );
  return (rows as Array<{ id: string; type: string; threshold: unknown }>).map((r) => ({
    ...r,
    threshold: Number(r.threshold),
  }));
}

/** Inserts an event unless it was decided before; true when this call decided it. */
async function insertEvent(trx: Knex.Transaction, event: EventRow): Promise<boolean> {
  const target = event.budget_id
    ? '(budget_id, type, period_start, threshold) WHERE budget_id IS NOT NULL'
    : '(spike_alert_id, period_start) WHERE spike_alert_id IS NOT NULL';
  const { rows } = await trx.raw(
    `INSERT INTO alert_events (type, budget_id, spike_alert_id, project_id, period_start, threshold, spent, data)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?::jsonb)
     ON CONFLICT ${target} DO NOTHING RETURNING id`,
    [
      event.type,
      event.budget_id ?? null,
      event.spike_alert_id ?? null,
      event.project_id,
      event.period_start,
      event.threshold,
      event.spent,
      JSON.stringify(event.data),
    ],
  );
  return rows.length > 0;
}

/** What a budget event says about its budget and period. */
function describe(budget: Budget, projectKey: string, period: { start: Date; end: Date | null }) {
  return {
    budget: {
      id: budget.id,
      name: budget.name,
      project_id: budget.projectId,
      project_key: projectKey,
      amount: budget.amount,
      period: budget.period satisfies BudgetPeriod,
      time_zone: budget.timeZone,
      thresholds: budget.thresholds,
    },
    period: { start: period.start.toISOString(), end: period.end?.toISOString() ?? null },
  };
}
