/**
 * Phase 4 (drop): the alias links and the alias tables go. Dropping a column drops its
 * foreign key and indexes with it; the tables go children first.
 *
 * down restores the legacy structure and re-links every row: one alias per distinct
 * (project, profile, alias_name) that usage logs or receipts carry, bound to the model last
 * logged under that name (as a legacy binding, 'provider:model'). The original bindings and
 * sync history are gone by design; the alias names are not, so rollback then migrate forward
 * loses no name.
 */
import type { Knex } from 'knex';
import { createAliasTables } from './legacy/alias-tables';

/**
 * SQL for the binding 'provider:model' from two text expressions; null when either is null.
 * A model already prefixed with its provider is kept as is, and one too long to prefix
 * within aliases.model's 255 characters stays bare rather than failing the rollback.
 */
function binding(providerExpr: string, modelExpr: string): string {
  // Parenthesised: `||` and `->>` share one precedence level in Postgres.
  const provider = `(${providerExpr})`;
  const model = `(${modelExpr})`;
  return `CASE WHEN left(${model}, length(${provider}) + 1) = ${provider} || ':' THEN ${model}
               WHEN length(${provider}) + 1 + length(${model}) > 255 THEN ${model}
               ELSE ${provider} || ':' || ${model} END`;
}

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

  // aliases.model is a binding, 'provider:model' (e.g. 'openai:gpt-4o'), while a log keeps the
  // provider and the model apart ('openai', 'gpt-4o'): join them unless the model already
  // carries its provider prefix.
  await knex.raw(`
    INSERT INTO aliases (project_id, profile, name, model)
    SELECT DISTINCT ON (project_id, profile, alias_name) project_id, profile, alias_name,
           ${binding('provider', 'model')}
    FROM usage_logs
    WHERE alias_name IS NOT NULL
    ORDER BY project_id, profile, alias_name, created_at DESC, id DESC`);
  // Receipts whose log is gone (or never linked) still name an alias: keep it too, bound to
  // what the receipt itself records (a legacy document's alias.resolved_model is the binding).
  await knex.raw(`
    INSERT INTO aliases (project_id, profile, name, model)
    SELECT DISTINCT ON (r.project_id, COALESCE(u.profile, 'default'), r.alias_name)
           r.project_id, COALESCE(u.profile, 'default'), r.alias_name,
           left(COALESCE(${binding('u.provider', 'u.model')},
                         r.document->'alias'->>'resolved_model',
                         ${binding("r.document->>'provider'", "r.document->>'model_used'")},
                         r.document->>'model_used', 'unknown'), 255)
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
