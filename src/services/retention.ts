/**
 * Retention: deleting raw usage logs older than a date (`llmring-server prune`).
 *
 * Receipts reference usage logs (receipts.usage_log_id, a foreign key), so a log cannot go
 * while a receipt points at it. By default the receipts stay and are detached (their
 * usage_log_id becomes NULL): a receipt is a signed, self-contained record of the call
 * (project key, alias name, model, tokens, cost), clients and auditors may need to look it
 * up and verify it long after the raw log has gone, and it carries no client metadata. With
 * `deleteReceipts` they are deleted with their logs instead, for a complete purge. A
 * re-pricing's adjustments of pruned logs are detached or deleted alike. The ledger's leaves
 * (hashes only: docs/ledger.md) are never deleted, so old checkpoints stay consistent and a
 * pruned receipt's inclusion proof still verifies against the receipt its client kept.
 *
 * Hourly rollups are kept: statistics of whole hours before the date keep coming from them.
 * A log the rollup worker has not counted yet (stored after its last round) is never
 * deleted, so nothing vanishes from the statistics; run a rollup round first (the CLI does)
 * and only logs held back by a still-open transaction wait for a later prune.
 *
 * Deletion runs in batches, one short transaction each, walking each project's
 * (project_id, occurred_at, id) index in order, so pruning millions of rows never holds a
 * long lock or one huge transaction, and an interrupted prune can simply be run again.
 * The storage layout may change (e.g. monthly partitions, where a prune becomes dropping
 * whole partitions); this class is the one place that knows how logs are removed.
 */
import type { Knex } from 'knex';
import type { ProjectRow } from '../db/tables';
import { microsExpr, type CursorPosition } from '../db/cursor';
import { toInt } from '../db/normalize';
import { badInput } from './errors';
import { whereAfter } from './usageReader';

export interface PruneOptions {
  /** Only these projects (all when absent). */
  projectIds?: string[];
  /** Delete the receipts of pruned logs instead of detaching them. */
  deleteReceipts?: boolean;
  /** Called after each batch with the running totals. */
  onProgress?: (progress: PruneResult) => void;
}

export interface PruneResult {
  usageLogs: number;
  /** Receipts kept, their link to the deleted log cleared. */
  receiptsDetached: number;
  receiptsDeleted: number;
}

export interface PrunePreview {
  usageLogs: number;
  /** Receipts of those logs. */
  receipts: number;
  /** Logs before the date that stay for now: the rollups have not counted them yet. */
  waitingForRollups: number;
}

const DEFAULT_BATCH = 2000;
const WATERMARK = 'SELECT s.watermark FROM usage_rollup_state s WHERE s.id = 1';

export class RetentionService {
  constructor(private readonly deps: { db: Knex; batchSize?: number }) {}

  private checkBefore(before: Date, now = Date.now()): Date {
    if (!(before instanceof Date) || Number.isNaN(before.getTime())) {
      throw badInput('before', 'is not a valid date');
    }
    if (before.getTime() > now) {
      throw badInput('before', 'is in the future: that would delete logs of calls made before now');
    }
    return before;
  }

  private async projects(projectIds?: string[]): Promise<string[]> {
    const q = this.deps.db<ProjectRow>('projects').orderBy('key');
    if (projectIds) q.whereIn('id', projectIds);
    return q.pluck('id');
  }

  /** Logs of calls before `before` that may go: those the rollups have counted. A builder
   * (awaiting one runs it). */
  private prunable(db: Knex | Knex.Transaction, before: Date): Knex.QueryBuilder {
    return db('usage_logs')
      .where('usage_logs.occurred_at', '<', before)
      .whereRaw(`usage_logs.tx < (${WATERMARK})`);
  }

  /** What prune(before) would delete, without deleting anything. */
  async preview(before: Date, opts: { projectIds?: string[] } = {}): Promise<PrunePreview> {
    this.checkBefore(before);
    const db = this.deps.db;
    const logs = this.prunable(db, before);
    const waiting = db('usage_logs').where('occurred_at', '<', before).whereRaw(`tx >= (${WATERMARK})`);
    if (opts.projectIds) {
      logs.whereIn('project_id', opts.projectIds);
      waiting.whereIn('project_id', opts.projectIds);
    }
    const [{ n }] = await logs.clone().count({ n: '*' });
    const [{ r }] = await db('receipts').whereIn('usage_log_id', logs.clone().select('id')).count({ r: '*' });
    const [{ w }] = await waiting.count({ w: '*' });
    return { usageLogs: toInt(n), receipts: toInt(r), waitingForRollups: toInt(w) };
  }

  /** Deletes every usage log whose call happened (occurred_at) before `before`. */
  async prune(before: Date, opts: PruneOptions = {}): Promise<PruneResult> {
    this.checkBefore(before);
    const db = this.deps.db;
    const batchSize = this.deps.batchSize ?? DEFAULT_BATCH;
    const result: PruneResult = { usageLogs: 0, receiptsDetached: 0, receiptsDeleted: 0 };

    for (const projectId of await this.projects(opts.projectIds)) {
      let after: CursorPosition | null = null;
      for (;;) {
        const done: boolean = await db.transaction(async (trx) => {
          const batch = this.prunable(trx, before)
            .select('id', microsExpr(trx, 'usage_logs.occurred_at').wrap('', ' AS cursor_micros'))
            .where({ project_id: projectId })
            .orderBy([{ column: 'usage_logs.occurred_at' }, { column: 'usage_logs.id' }])
            .limit(batchSize);
          if (after) whereAfter(batch, 'usage_logs.occurred_at', 'usage_logs.id', after);
          const rows: Array<{ id: string; cursor_micros: string }> = await batch;
          if (rows.length === 0) return true;
          const ids = rows.map((r) => r.id);
          // A re-pricing's adjustments go the way of the receipts (they are signed records too).
          // Either way their ledger leaves stay: old checkpoints remain provable.
          if (opts.deleteReceipts) await trx('usage_adjustments').whereIn('usage_log_id', ids).delete('id');
          else await trx('usage_adjustments').whereIn('usage_log_id', ids).update({ usage_log_id: null });
          if (opts.deleteReceipts) {
            // returning(): knex-pglite reports no row count for a plain delete.
            result.receiptsDeleted += (
              await trx('receipts').whereIn('usage_log_id', ids).delete('id')
            ).length;
          } else {
            result.receiptsDetached += await trx('receipts')
              .whereIn('usage_log_id', ids)
              .update({ usage_log_id: null });
          }
          result.usageLogs += (await trx('usage_logs').whereIn('id', ids).delete('id')).length;
          const last = rows[rows.length - 1];
          after = { micros: String(last.cursor_micros), id: last.id };
          return rows.length < batchSize;
        });
        opts.onProgress?.({ ...result });
        if (done) break;
      }
    }
    return result;
  }
}
