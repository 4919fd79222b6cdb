/**
 * Every token type a call is billed for, an operator's price book, and re-pricing that keeps
 * the books auditable.
 *
 * - usage_logs: the token parts beside the totals (cache writes of 5 minutes and of 1 hour,
 *   part of input_tokens; reasoning, part of output_tokens), the per-million prices charged for
 *   them, whether long-context prices applied, and original_cost (set when a re-pricing
 *   changed cost; NULL while the cost is the one first charged). registry_version keeps its
 *   name and now holds the version of whichever prices applied (a registry label, or
 *   'price-book@<version>').
 * - cost_source gains 'price_book'.
 * - The rollup tables sum the new token parts.
 * - model_prices: the price book. One row per price of a model (for every project, or for one)
 *   over [effective_from, effective_to); `version` comes from one sequence and is renewed by
 *   every change to a row, so the book's version (its greatest) moves with each change.
 * - usage_adjustments: one row per re-priced log: old and new cost, the price-book version,
 *   and its own signed document naming the original receipt. Append-only.
 */
import type { Knex } from 'knex';

const ROLLUP_TABLES = [
  'usage_rollups_hourly',
  'usage_rollups_daily',
  'usage_rollups_hourly_models',
  'usage_rollups_daily_models',
];
const TOKEN_PARTS = ['cache_write_tokens', 'cache_write_1h_tokens', 'reasoning_tokens'];
const PRICE_COLUMNS = [
  'cache_write_price_per_million',
  'cache_write_1h_price_per_million',
  'reasoning_price_per_million',
];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('usage_logs', (t) => {
    for (const c of TOKEN_PARTS) t.integer(c).notNullable().defaultTo(0);
    for (const c of PRICE_COLUMNS) t.decimal(c, 20, 10);
    t.boolean('long_context');
    t.decimal('original_cost', 18, 8);
  });
  await knex.raw('ALTER TABLE usage_logs DROP CONSTRAINT usage_logs_cost_source_check');
  await knex.raw(`
    ALTER TABLE usage_logs ADD CONSTRAINT usage_logs_cost_source_check
    CHECK (cost_source IN ('client', 'registry', 'price_book', 'unpriced'))`);
  for (const table of ROLLUP_TABLES) {
    await knex.schema.alterTable(table, (t) => {
      for (const c of TOKEN_PARTS) t.bigInteger(c).notNullable().defaultTo(0);
    });
  }

  await knex.raw('CREATE SEQUENCE model_prices_version_seq');
  await knex.schema.createTable('model_prices', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.bigInteger('version').notNullable().defaultTo(knex.raw("nextval('model_prices_version_seq')"));
    t.uuid('project_id').references('id').inTable('projects');
    t.string('provider', 64).notNullable();
    t.string('model', 255).notNullable();
    t.decimal('input_per_million', 20, 10).notNullable();
    t.decimal('output_per_million', 20, 10).notNullable();
    t.decimal('cached_input_per_million', 20, 10);
    t.decimal('cache_write_per_million', 20, 10);
    t.decimal('cache_write_1h_per_million', 20, 10);
    t.decimal('reasoning_per_million', 20, 10);
    t.decimal('input_long_context_per_million', 20, 10);
    t.decimal('output_long_context_per_million', 20, 10);
    t.integer('long_context_threshold_tokens');
    t.timestamp('effective_from', { useTz: true }).notNullable();
    t.timestamp('effective_to', { useTz: true });
    t.text('note');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE model_prices ADD CONSTRAINT model_prices_range_check
    CHECK (effective_to IS NULL OR effective_to > effective_from)`);
  await knex.raw(`CREATE UNIQUE INDEX model_prices_version_uq ON model_prices (version)`);
  await knex.raw(
    `CREATE INDEX model_prices_model_idx ON model_prices (provider, lower(model), project_id, effective_from)`,
  );

  await knex.schema.createTable('usage_adjustments', (t) => {
    t.uuid('id').primary();
    t.string('adjustment_id', 64).notNullable().unique();
    t.uuid('usage_log_id').references('id').inTable('usage_logs');
    t.uuid('project_id').notNullable().references('id').inTable('projects');
    t.string('receipt_id', 64);
    t.decimal('previous_cost', 18, 8).notNullable();
    t.decimal('new_cost', 18, 8).notNullable();
    t.string('cost_source', 16).notNullable();
    t.bigInteger('price_book_version').notNullable();
    t.jsonb('document').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`CREATE INDEX usage_adjustments_log_idx ON usage_adjustments (usage_log_id, created_at)`);
  await knex.raw(
    `CREATE INDEX usage_adjustments_project_idx ON usage_adjustments (project_id, created_at, id)`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('usage_adjustments');
  await knex.schema.dropTable('model_prices');
  await knex.raw('DROP SEQUENCE model_prices_version_seq');
  for (const table of ROLLUP_TABLES) {
    await knex.schema.alterTable(table, (t) => {
      for (const c of TOKEN_PARTS) t.dropColumn(c);
    });
  }
  // Book-priced logs were charged from prices the older schema cannot name: they keep their
  // cost and prices, as priced by a registry of that version label.
  await knex.raw(`UPDATE usage_logs SET cost_source = 'registry' WHERE cost_source = 'price_book'`);
  await knex.raw('ALTER TABLE usage_logs DROP CONSTRAINT usage_logs_cost_source_check');
  await knex.raw(`
    ALTER TABLE usage_logs ADD CONSTRAINT usage_logs_cost_source_check
    CHECK (cost_source IN ('client', 'registry', 'unpriced'))`);
  await knex.schema.alterTable('usage_logs', (t) => {
    for (const c of [...TOKEN_PARTS, ...PRICE_COLUMNS, 'long_context', 'original_cost']) t.dropColumn(c);
  });
}
