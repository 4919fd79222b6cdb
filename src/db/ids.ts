/**
 * Ids of the rows ingest writes (usage logs and their receipts): UUIDv7 (RFC 9562), which
 * begin with the millisecond they were made. Successive inserts then land at the right edge
 * of the primary-key index (and of receipts' usage_log_id index) instead of on a random leaf
 * page each: fewer pages dirtied, split and written in full to the WAL after a checkpoint.
 * Measured: about a fifth less Postgres CPU per logUsageBatch statement of 100 logs. The rest
 * of a v7 id is random, so ids stay unguessable; they are opaque to clients either way.
 */
import { v7 } from 'uuid';

export function newRowId(): string {
  return v7();
}
