/**
 * Metadata dimensions: metadata keys an operator promotes (LLMRING_METADATA_DIMENSIONS) so
 * that statistics can filter and group by them as fast as by alias name.
 *
 * - usage_logs.dimensions: the promoted keys' values of a log, as text capped in length,
 *   fixed when the log is stored (NULL when it has none). Its metadata is kept whole as before.
 * - The rollup tables gain dim_key and dim_value. Rows with dim_key '' are the rollups as they
 *   were; for each registered key the worker also keeps rows per value of that key (dim_value
 *   NULL for logs without it), with the other dimensions, in the daily rollups (the hourly ones
 *   keep the core rows only: by every dimension and a key, an hour holds about as many rows as
 *   logs). A rollup row thus holds one key at most: grouping by one promoted key costs as many
 *   rows as that key has values, where combining keys in the rollups would multiply them.
 * - usage_rollups_hourly_models and usage_rollups_daily_models: totals per provider and model
 *   only (with dim_key and dim_value), a few rows an hour or a day, for the parts that need
 *   nothing else: time buckets (a month of Europe/Berlin days is 720 hours of a few rows
 *   each, where the full hourly rollups hold hundreds an hour), breakdowns by model or by a
 *   promoted key, when the filter names nothing but projects, providers, models and metadata.
 * - usage_rollup_dimensions: the keys the worker keeps rows for. A key is registered once, when
 *   a server first starts with it promoted, and stays registered (its rows stay complete) even
 *   when it is later removed from the setting, so promoting it again needs no rebuild.
 */
import type { Knex } from 'knex';

const ROLLUP_TABLES = ['usage_rollups_hourly', 'usage_rollups_daily'];
const OLD_KEY = '(project_id, bucket_start, alias_name, provider, model, origin, profile)';
const NEW_KEY =
  '(project_id, dim_key, bucket_start, dim_value, alias_name, provider, model, origin, profile)';
const MODEL_TABLES = ['usage_rollups_hourly_models', 'usage_rollups_daily_models'];
const MODEL_KEY = '(project_id, dim_key, bucket_start, dim_value, provider, model)';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE usage_logs ADD COLUMN dimensions jsonb');
  for (const table of ROLLUP_TABLES) {
    await knex.raw(
      `ALTER TABLE ${table} ADD COLUMN dim_key text NOT NULL DEFAULT '', ADD COLUMN dim_value text`,
    );
    await knex.raw(`DROP INDEX ${table}_key`);
    await knex.raw(`CREATE UNIQUE INDEX ${table}_key ON ${table} ${NEW_KEY} NULLS NOT DISTINCT`);
  }
  for (const table of MODEL_TABLES) {
    await knex.schema.createTable(table, (t) => {
      t.uuid('project_id').notNullable().references('id').inTable('projects');
      t.timestamp('bucket_start', { useTz: true }).notNullable();
      t.text('dim_key').notNullable().defaultTo('');
      t.text('dim_value');
      t.string('provider', 64).notNullable();
      t.string('model', 255).notNullable();
      t.bigInteger('requests').notNullable();
      t.bigInteger('input_tokens').notNullable();
      t.bigInteger('output_tokens').notNullable();
      t.bigInteger('cached_input_tokens').notNullable();
      t.decimal('cost', 24, 8).notNullable();
    });
    await knex.raw(`CREATE UNIQUE INDEX ${table}_key ON ${table} ${MODEL_KEY} NULLS NOT DISTINCT`);
  }
  // Logs folded so far, from the rollups they are in.
  for (const [table, from] of [
    ['usage_rollups_hourly_models', 'usage_rollups_hourly'],
    ['usage_rollups_daily_models', 'usage_rollups_daily'],
  ]) {
    await knex.raw(`
      INSERT INTO ${table}
        (project_id, bucket_start, dim_key, dim_value, provider, model, requests, input_tokens, output_tokens, cached_input_tokens, cost)
      SELECT project_id, bucket_start, '', NULL, provider, model,
             sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cost)
      FROM ${from} GROUP BY project_id, bucket_start, provider, model`);
  }
  await knex.schema.createTable('usage_rollup_dimensions', (t) => {
    t.text('key').primary();
    t.timestamp('registered_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('usage_rollup_dimensions');
  for (const table of MODEL_TABLES) await knex.schema.dropTable(table);
  for (const table of ROLLUP_TABLES) {
    // The per-key rows repeat the core rows' totals: only the core rows are the old rollups.
    await knex.raw(`DELETE FROM ${table} WHERE dim_key <> ''`);
    await knex.raw(`DROP INDEX ${table}_key`);
    await knex.raw(`ALTER TABLE ${table} DROP COLUMN dim_key, DROP COLUMN dim_value`);
    await knex.raw(`CREATE UNIQUE INDEX ${table}_key ON ${table} ${OLD_KEY} NULLS NOT DISTINCT`);
  }
  await knex.raw('ALTER TABLE usage_logs DROP COLUMN dimensions');
}
