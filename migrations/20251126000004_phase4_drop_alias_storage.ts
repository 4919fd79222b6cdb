/**
 * Phase 4 (drop): the alias links and the alias tables go. Dropping a column drops its
 * foreign key and indexes with it; the tables go children first.
 *
 * down restores the legacy structure and re-links every row: one alias per distinct
 * (project, profile, alias_name) that usage logs or receipts carry, bound to the model last
 * logged under that name. The original bindings and sync history are gone by design; the
 * alias names are not, so rollback then migrate forward loses no name.
 */
import type { Knex } from 'knex';
import { createAliasTables } from './legacy/alias-tables';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('receipts', (t) => t.dropColumn('alias_id'));
  await knex.schema.alterTable('usage_logs', (t) => t.dropColumn('alias_id'));
  await knex.schema.dropTable('alias_sync_events');
  await knex.schema.dropTable('alias_sync_state');
  await knex.schema.dropTable('aliases');
}

export async function down(knex: Knex): Promise<void> {
  await createAliasTables(knex);
  await knex.schema.alterTable('usage_logs', (t) => t.uuid('alias_id').references('id').inTable('aliases'));
  await knex.schema.alterTable('receipts', (t) => t.uuid('alias_id').references('id').inTable('aliases'));

  await knex.raw(`
    INSERT INTO aliases (project_id, profile, name, model)
    SELECT DISTINCT ON (project_id, profile, alias_name) project_id, profile, alias_name, model
    FROM usage_logs
    WHERE alias_name IS NOT NULL
    ORDER BY project_id, profile, alias_name, created_at DESC, id DESC`);
  // Receipts whose log is gone (or never linked) still name an alias: keep it too.
  await knex.raw(`
    INSERT INTO aliases (project_id, profile, name, model)
    SELECT DISTINCT ON (r.project_id, COALESCE(u.profile, 'default'), r.alias_name)
           r.project_id, COALESCE(u.profile, 'default'), r.alias_name,
           COALESCE(u.model, r.document->>'model_used', 'unknown')
    FROM receipts r LEFT JOIN usage_logs u ON u.id = r.usage_log_id
    WHERE r.alias_name IS NOT NULL
    ORDER BY r.project_id, COALESCE(u.profile, 'default'), r.alias_name, r.created_at DESC
    ON CONFLICT (project_id, profile, name) DO NOTHING`);

  await knex.raw(`
    UPDATE usage_logs u SET alias_id = a.id
    FROM aliases a
    WHERE a.project_id = u.project_id AND a.profile = u.profile AND a.name = u.alias_name`);
  await knex.raw(`
    UPDATE receipts r SET alias_id = a.id
    FROM aliases a
    WHERE a.project_id = r.project_id AND a.name = r.alias_name
      AND a.profile = COALESCE((SELECT u.profile FROM usage_logs u WHERE u.id = r.usage_log_id), 'default')`);
}
