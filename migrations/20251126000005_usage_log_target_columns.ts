/**
 * Target additions: when a call happened (occurred_at, what stats bucket on) apart from when
 * it was stored (created_at); where its cost came from; idempotency keys; the per-million
 * prices a registry-priced call was charged, so any bill can be explained later; and the
 * indexes that stats and keyset pagination need.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('usage_logs', (t) => {
    t.timestamp('occurred_at', { useTz: true });
    t.string('cost_source', 16);
    t.string('idempotency_key', 255);
    t.decimal('input_price_per_million', 20, 10);
    t.decimal('output_price_per_million', 20, 10);
    t.decimal('cached_input_price_per_million', 20, 10);
    t.string('registry_version', 64);
  });
  // Legacy rows: the call time is the time stored; their cost was whatever the caller reported.
  await knex.raw(`UPDATE usage_logs SET occurred_at = created_at, cost_source = 'client'`);
  await knex.schema.alterTable('usage_logs', (t) => {
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now()).alter();
    t.string('cost_source', 16).notNullable().alter();
    t.index(['project_id', 'occurred_at', 'id'], 'usage_logs_project_time_idx');
    t.index(['project_id', 'alias_name', 'occurred_at'], 'usage_logs_project_alias_time_idx');
  });
  await knex.raw(`
    ALTER TABLE usage_logs ADD CONSTRAINT usage_logs_cost_source_check
    CHECK (cost_source IN ('client', 'registry', 'unpriced'))`);
  await knex.raw(`
    CREATE UNIQUE INDEX usage_logs_project_idempotency_key_uq
    ON usage_logs (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL`);

  await knex.schema.alterTable('receipts', (t) => {
    t.index(['project_id', 'created_at', 'id'], 'receipts_project_time_idx');
    t.index(['usage_log_id'], 'receipts_usage_log_idx');
  });
  await knex.schema.alterTable('api_keys', (t) => t.index(['project_id'], 'api_keys_project_idx'));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => t.dropIndex([], 'api_keys_project_idx'));
  await knex.schema.alterTable('receipts', (t) => {
    t.dropIndex([], 'receipts_project_time_idx');
    t.dropIndex([], 'receipts_usage_log_idx');
  });
  await knex.raw('DROP INDEX usage_logs_project_idempotency_key_uq');
  await knex.schema.alterTable('usage_logs', (t) => {
    t.dropIndex([], 'usage_logs_project_time_idx');
    t.dropIndex([], 'usage_logs_project_alias_time_idx');
    t.dropChecks(['usage_logs_cost_source_check']);
    for (const c of [
      'occurred_at',
      'cost_source',
      'idempotency_key',
      'input_price_per_million',
      'output_price_per_million',
      'cached_input_price_per_million',
      'registry_version',
    ]) {
      t.dropColumn(c);
    }
  });
}
