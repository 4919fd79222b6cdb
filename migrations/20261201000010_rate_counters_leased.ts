/**
 * rate_counters.leased: how many tokens the last lease statement on the row granted (issue 21,
 * src/services/rateLimits.ts). An instance now reserves tokens of a window in one upsert and
 * serves calls from them in memory; the upsert's RETURNING sees the new row only, so the grant
 * (which depends on the count the row had) is written beside the count to be read back. Rows
 * written before keep 0, which no reader relies on: every lease sets it.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE rate_counters ADD COLUMN leased bigint NOT NULL DEFAULT 0');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE rate_counters DROP COLUMN leased');
}
