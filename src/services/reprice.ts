/**
 * Re-pricing stored calls without rewriting history (repriceUsage).
 *
 * For each log whose cost the server computed (registry, price book or unpriced, never a
 * client's), the cost is computed again from the prices as they stand now (the price book by
 * the log's occurredAt, else the registry). A dry run reports the differences per project and
 * model. Applying, batch by batch, under the rollup worker's lock (so no round folds logs
 * meanwhile, and two instances never both adjust one log):
 * - stores an adjustment per changed log, with its own signed document naming the original
 *   receipt, the old and new amounts and the price book's version; the receipt is never edited;
 * - updates the log's current cost and prices (original_cost keeps the first cost);
 * - moves the rollups by exactly the difference, for logs already folded (transaction id below
 *   the watermark); the others are folded later with their new cost.
 * So statistics move by exactly the difference the dry run reported, and running it again
 * changes nothing (every cost already equals its new price).
 */
import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import { newRowId } from '../db/ids';
import { toDate, toDecimalString, toInt } from '../db/normalize';
import { toUsageLog } from '../db/rows';
import type { UsageLogRow } from '../db/tables';
import { applyUsageQuery } from '../db/usageFilter';
import type { UsageAdjustment, UsageLog, UsageQuery } from '../domain/types';
import { Dec } from '../pricing/formula';
import type { PricingService, PriceQuote } from '../pricing/service';
import type { ReceiptKeyring } from '../receipts';
import { ROLLUP_LOCK, ROLLUP_TOTALS, rollupUpserts } from './rollups';
import { forgetSpend } from '../db/budgetSpend';
import { receiptPricing } from './receipts';
import { checkRangeLength } from './scope';

export interface RepriceGroup {
  projectId: string;
  provider: string;
  model: string;
  requests: number;
  costBefore: string;
  costAfter: string;
  difference: string;
}

export interface RepriceResult {
  applied: boolean;
  priceBookVersion: number;
  groups: RepriceGroup[];
  changedLogs: number;
  difference: string;
}

interface Change {
  log: UsageLog;
  row: UsageLogRow;
  quote: PriceQuote;
}

const BATCH = 500;

/** 'adj_' + 26 characters of a lowercase base32 alphabet (130 random bits), like receipt ids. */
function newAdjustmentId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `adj_${[...randomBytes(26)].map((b) => alphabet[b & 31]).join('')}`;
}

interface AdjustmentRow {
  id: string;
  adjustment_id: string;
  usage_log_id: string | null;
  project_id: string;
  receipt_id: string | null;
  previous_cost: string;
  new_cost: string;
  cost_source: UsageAdjustment['costSource'];
  price_book_version: string | number;
  document: Record<string, unknown>;
  created_at: Date;
}

function toAdjustment(row: AdjustmentRow): UsageAdjustment {
  return {
    id: row.id,
    adjustmentId: row.adjustment_id,
    usageLogId: row.usage_log_id,
    projectId: row.project_id,
    receiptId: row.receipt_id,
    previousCost: toDecimalString(row.previous_cost),
    newCost: toDecimalString(row.new_cost),
    costSource: row.cost_source,
    priceBookVersion: toInt(row.price_book_version),
    createdAt: toDate(row.created_at),
    document: row.document,
  };
}

export class RepriceService {
  constructor(private readonly deps: { db: Knex; pricing: PricingService; keyring: ReceiptKeyring }) {}

  /** For DataLoader: each log's adjustments, oldest first. */
  async adjustmentsOf(logIds: readonly string[]): Promise<UsageAdjustment[][]> {
    const rows: AdjustmentRow[] = await this.deps
      .db('usage_adjustments')
      .whereIn('usage_log_id', logIds as string[])
      .orderBy([{ column: 'created_at' }, { column: 'id' }]);
    const byLog = new Map<string, UsageAdjustment[]>(logIds.map((id) => [id, []]));
    for (const row of rows) byLog.get(row.usage_log_id!)?.push(toAdjustment(row));
    return logIds.map((id) => byLog.get(id) ?? []);
  }

  /** The new price of a stored log, from the prices as they stand now. */
  private requote(log: UsageLog): PriceQuote {
    return this.deps.pricing.quote({
      provider: log.provider,
      model: log.model,
      inputTokens: log.inputTokens,
      outputTokens: log.outputTokens,
      cachedInputTokens: log.cachedInputTokens,
      cacheWriteTokens: log.cacheWriteTokens,
      cacheWrite1hTokens: log.cacheWrite1hTokens,
      reasoningTokens: log.reasoningTokens,
      occurredAt: log.occurredAt,
      projectId: log.projectId,
    });
  }

  /** The logs of a batch whose cost changes. */
  private changes(rows: UsageLogRow[]): Change[] {
    const out: Change[] = [];
    for (const row of rows) {
      const log = toUsageLog(row);
      const quote = this.requote(log);
      if (quote.cost !== log.cost) out.push({ log, row, quote });
    }
    return out;
  }

  /** Priced logs matching the query, by project, time and id, a batch at a time. */
  private async *batches(db: Knex | Knex.Transaction, q: UsageQuery): AsyncGenerator<UsageLogRow[]> {
    let after: { project: string; at: Date; id: string } | null = null;
    for (;;) {
      const query = applyUsageQuery(db<UsageLogRow>('usage_logs'), q)
        .whereNot('cost_source', 'client')
        .orderBy([{ column: 'project_id' }, { column: 'occurred_at' }, { column: 'id' }])
        .limit(BATCH);
      if (after) {
        query.whereRaw('(project_id, occurred_at, id) > (?::uuid, ?::timestamptz, ?::uuid)', [
          after.project,
          after.at,
          after.id,
        ]);
      }
      const rows: UsageLogRow[] = await query.select('*');
      if (rows.length === 0) return;
      yield rows;
      const last = rows[rows.length - 1];
      after = { project: last.project_id, at: last.occurred_at, id: last.id };
      if (rows.length < BATCH) return;
    }
  }

  async run(
    q: UsageQuery,
    opts: { dryRun: boolean; onProgress?: (logs: number) => void },
  ): Promise<RepriceResult> {
    checkRangeLength(q, 'a re-pricing covers');
    const groups = new Map<string, RepriceGroup & { before: Dec; after: Dec }>();
    let changed = 0;
    let seen = 0;
    const count = (changes: Change[]) => {
      for (const { log, quote } of changes) {
        const key = `${log.projectId}\u0000${log.provider}\u0000${log.model}`;
        const g =
          groups.get(key) ??
          ({
            projectId: log.projectId,
            provider: log.provider,
            model: log.model,
            requests: 0,
            before: new Dec(0),
            after: new Dec(0),
          } as RepriceGroup & { before: Dec; after: Dec });
        g.requests++;
        g.before = g.before.plus(log.cost);
        g.after = g.after.plus(quote.cost);
        groups.set(key, g);
        changed++;
      }
    };
    for await (const rows of this.batches(this.deps.db, q)) {
      seen += rows.length;
      if (opts.dryRun) count(this.changes(rows));
      else count(await this.apply(rows.map((r) => r.id)));
      opts.onProgress?.(seen);
    }
    const list = [...groups.values()]
      .map(({ before, after, ...g }) => ({
        ...g,
        costBefore: before.toFixed(8),
        costAfter: after.toFixed(8),
        difference: after.minus(before).toFixed(8),
      }))
      .sort(
        (a, b) =>
          a.projectId.localeCompare(b.projectId) ||
          a.provider.localeCompare(b.provider) ||
          a.model.localeCompare(b.model),
      );
    return {
      applied: !opts.dryRun,
      priceBookVersion: this.deps.pricing.bookVersion,
      groups: list,
      changedLogs: changed,
      difference: list.reduce((sum, g) => sum.plus(g.difference), new Dec(0)).toFixed(8),
    };
  }

  /** Re-prices one batch of logs (by id), in one transaction under the rollup lock. */
  private async apply(ids: string[]): Promise<Change[]> {
    return this.deps.db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [ROLLUP_LOCK]);
      // Read again under the lock: another instance may have re-priced them meanwhile.
      const rows: UsageLogRow[] = await trx<UsageLogRow>('usage_logs')
        .whereIn('id', ids)
        .forUpdate()
        .select('*');
      const changes = this.changes(rows);
      if (changes.length === 0) return changes;
      const projects = new Map<string, string>(
        (
          await trx('projects')
            .whereIn('id', [...new Set(changes.map((c) => c.log.projectId))])
            .select('id', 'key')
        ).map((p: { id: string; key: string }) => [p.id, p.key]),
      );
      const receipts = new Map<string, string>(
        (
          await trx('receipts')
            .whereIn(
              'usage_log_id',
              changes.map((c) => c.log.id),
            )
            .select('usage_log_id', 'receipt_id')
        ).map((r: { usage_log_id: string; receipt_id: string }) => [r.usage_log_id, r.receipt_id]),
      );
      const bookVersion = this.deps.pricing.bookVersion;
      const now = new Date();
      const documents = await this.deps.keyring.signAll(
        changes.map(({ log, quote }) => ({
          type: 'adjustment',
          version: 1,
          adjustment_id: newAdjustmentId(),
          issued_at: now.toISOString(),
          project_key: projects.get(log.projectId)!,
          usage_log_id: log.id,
          receipt_id: receipts.get(log.id) ?? null,
          previous: { amount: log.cost, source: log.costSource },
          new: {
            amount: quote.cost,
            source: quote.costSource,
            pricing: receiptPricing(repriced(log, quote)),
          },
          price_book_version: bookVersion,
          key_id: this.deps.keyring.activeKeyId,
        })),
      );
      await trx('usage_adjustments').insert(
        changes.map(({ log, quote }, i) => ({
          id: newRowId(),
          adjustment_id: documents[i].adjustment_id,
          usage_log_id: log.id,
          project_id: log.projectId,
          receipt_id: receipts.get(log.id) ?? null,
          previous_cost: log.cost,
          new_cost: quote.cost,
          cost_source: quote.costSource,
          price_book_version: bookVersion,
          document: documents[i],
          created_at: now,
        })),
      );
      for (const { row, quote } of changes) {
        const p = quote.prices;
        await trx('usage_logs')
          .where({ id: row.id })
          .update({
            cost: quote.cost,
            original_cost: trx.raw('COALESCE(original_cost, cost)'),
            cost_source: quote.costSource,
            input_price_per_million: p?.inputPerMillion ?? null,
            output_price_per_million: p?.outputPerMillion ?? null,
            cached_input_price_per_million: p?.cachedInputPerMillion ?? null,
            cache_write_price_per_million: p?.cacheWritePerMillion ?? null,
            cache_write_1h_price_per_million: p?.cacheWrite1hPerMillion ?? null,
            reasoning_price_per_million: p?.reasoningPerMillion ?? null,
            long_context: p ? p.longContext : null,
            registry_version: p ? quote.priceVersion : null,
          });
      }
      // Logs the rollups already count move them by their difference (no request, no tokens).
      const deltas = changes.map(({ row, log, quote }) => ({
        id: row.id,
        delta: new Dec(quote.cost).minus(log.cost).toFixed(8),
      }));
      await trx.raw(
        `WITH d AS (
           SELECT (x->>'id')::uuid AS id, (x->>'delta')::numeric AS delta FROM jsonb_array_elements(?::jsonb) x
         ), ${rollupUpserts(`
           SELECT l.project_id, l.occurred_at, l.dimensions, l.alias_name, l.provider, l.model, l.origin, l.profile,
                  ${ROLLUP_TOTALS.map((c) => (c === 'cost' ? 'd.delta AS cost' : `0::bigint AS ${c}`)).join(', ')}
           FROM d JOIN usage_logs l ON l.id = d.id
           WHERE l.tx < (SELECT w.watermark FROM usage_rollup_state w WHERE w.id = 1)`)}
         SELECT (SELECT count(*) FROM hourly) AS n`,
        [JSON.stringify(deltas)],
      );
      // Budgets counting these projects rebuild what they have spent from the statistics.
      await forgetSpend(trx, [...new Set(changes.map(({ log }) => log.projectId))]);
      return changes;
    });
  }
}

/** A log as it is after a re-pricing (for the adjustment document's bill). */
function repriced(log: UsageLog, quote: PriceQuote): UsageLog {
  const p = quote.prices;
  return {
    ...log,
    cost: toDecimalString(quote.cost),
    costSource: quote.costSource,
    pricing: p
      ? {
          ...p,
          source: quote.costSource === 'price_book' ? 'price_book' : 'registry',
          version: quote.priceVersion,
        }
      : null,
  };
}
