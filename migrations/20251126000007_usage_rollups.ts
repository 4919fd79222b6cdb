/**
 * Hourly and daily rollups, so statistics never scan raw logs.
 *
 * usage_rollups_hourly holds exact sums per (project, UTC hour of occurred_at, alias_name,
 * provider, model, origin, profile); usage_rollups_daily the same per UTC day, for long
 * ranges. Only the rollup worker writes them, from committed logs,
 * so logging a call never touches a shared counter row (no hot rows, no deadlocks).
 *
 * Which logs are already rolled up is decided by transaction id, not time: each log keeps
 * the id of the transaction that stored it (`tx`), and the worker folds in every log whose
 * transaction finished before the oldest one still running (the snapshot xmin), then moves
 * the watermark there. A reader adds the rollups to the raw logs at or past the watermark,
 * in one statement, so an answer counts a log stored a moment ago exactly once, and a late
 * log (occurredAt in the past) lands in its own hour whenever it arrives.
 */
import type { Knex } from 'knex';

const ROLLUP_TABLES = ['usage_rollups_hourly', 'usage_rollups_daily'];

export async function up(knex: Knex): Promise<void> {
  // Existing logs take this migration's transaction id: the worker rolls them up first.
  await knex.raw('ALTER TABLE usage_logs ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id()');
  await knex.raw('CREATE INDEX usage_logs_tx_idx ON usage_logs (tx)');

  for (const table of ROLLUP_TABLES) {
    await knex.schema.createTable(table, (t) => {
      t.uuid('project_id').notNullable().references('id').inTable('projects');
      t.timestamp('bucket_start', { useTz: true }).notNullable();
      t.string('alias_name', 255);
      t.string('provider', 64).notNullable();
      t.string('model', 255).notNullable();
      t.string('origin', 255);
      t.string('profile', 64).notNullable();
      t.bigInteger('requests').notNullable();
      t.bigInteger('input_tokens').notNullable();
      t.bigInteger('output_tokens').notNullable();
      t.bigInteger('cached_input_tokens').notNullable();
      t.decimal('cost', 24, 8).notNullable();
    });
    await knex.raw(`
      CREATE UNIQUE INDEX ${table}_key ON ${table}
        (project_id, bucket_start, alias_name, provider, model, origin, profile) NULLS NOT DISTINCT`);
  }

  await knex.schema.createTable('usage_rollup_state', (t) => {
    t.smallint('id').primary();
    t.specificType('watermark', 'xid8').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE usage_rollup_state ADD CONSTRAINT usage_rollup_state_single CHECK (id = 1)`);
  await knex.raw(`INSERT INTO usage_rollup_state (id, watermark) VALUES (1, '0')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('usage_rollup_state');
  for (const table of ROLLUP_TABLES) await knex.schema.dropTable(table);
  await knex.raw('DROP INDEX usage_logs_tx_idx');
  await knex.raw('ALTER TABLE usage_logs DROP COLUMN tx');
}
