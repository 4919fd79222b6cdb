/**
 * usage_logs.warnings: how the server read a call's token counts where the client's report was
 * ambiguous or contradictory (src/domain/reportedTokens.ts), as a JSON array of sentences;
 * NULL for the calls that needed none (nearly all), so it costs nothing to store for them.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('usage_logs', (t) => {
    t.jsonb('warnings');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('usage_logs', (t) => {
    t.dropColumn('warnings');
  });
}
