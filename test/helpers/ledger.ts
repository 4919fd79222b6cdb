/**
 * Runs the ledger integrator's rounds until every stored receipt and adjustment has its leaf.
 * A round appends only entries of transactions finished before the oldest one still running
 * on the whole PostgreSQL server (transaction ids are the cluster's), so on a shared server
 * another database's open transaction can hold a round back for a while: this waits it out
 * rather than take one round's answer for all.
 */
import type { Knex } from 'knex';
import type { LedgerService } from '../../src/services/ledger';

export async function integrateAll(ledger: LedgerService, db: Knex, giveUpMs = 120_000): Promise<number> {
  const started = Date.now();
  let appended = 0;
  for (;;) {
    appended += (await ledger.runOnce()).appended;
    const [{ missing }] = (
      await db.raw(`
        SELECT (SELECT count(*) FROM receipts r WHERE NOT EXISTS
                 (SELECT 1 FROM ledger_leaves l WHERE l.entry_id = r.receipt_id AND l.entry_kind = 'receipt'))
             + (SELECT count(*) FROM usage_adjustments a WHERE NOT EXISTS
                 (SELECT 1 FROM ledger_leaves l WHERE l.entry_id = a.adjustment_id AND l.entry_kind = 'adjustment'))
               AS missing`)
    ).rows;
    if (Number(missing) === 0) return appended;
    if (Date.now() - started > giveUpMs) throw new Error(`${missing} entries still not in the ledger`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
