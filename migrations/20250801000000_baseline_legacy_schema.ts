/**
 * Baseline: the legacy database exactly as deployments before the alias removal have it
 * (../shared/spec/legacy-schema.md). On a legacy deployment the tables already exist
 * without Knex's bookkeeping; this migration then adopts them instead of creating them.
 *
 * down is deliberately non-destructive: rolling back the baseline hands the legacy tables
 * back untracked, exactly as a legacy deployment has them, with every row kept. Dropping
 * them would delete all usage, which no rollback should do. `migrate:latest` adopts them
 * again. To really remove the data, drop the database.
 */
import type { Knex } from 'knex';
import { createAliasTables } from './legacy/alias-tables';

const LEGACY_TABLES = [
  'projects',
  'api_keys',
  'aliases',
  'alias_sync_state',
  'alias_sync_events',
  'usage_logs',
  'receipts',
];

async function existingTables(knex: Knex): Promise<string[]> {
  const rows = await knex('information_schema.tables')
    .where({ table_schema: 'public' })
    .whereIn('table_name', LEGACY_TABLES)
    .select('table_name');
  return rows.map((r: { table_name: string }) => r.table_name);
}

export async function up(knex: Knex): Promise<void> {
  const existing = await existingTables(knex);
  if (existing.length === LEGACY_TABLES.length) return; // a legacy deployment: adopt it
  if (existing.length > 0) {
    throw new Error(
      `The database holds some legacy tables (${existing.join(', ')}) but not all of ` +
        `${LEGACY_TABLES.join(', ')}; refusing to guess. Restore a complete legacy database or use an empty one.`,
    );
  }

  await knex.schema.createTable('projects', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('name', 255).notNullable();
    t.text('description');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('api_keys', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('project_id').notNullable().references('id').inTable('projects').onDelete('CASCADE');
    t.string('name', 255).notNullable();
    t.specificType('key_hash', 'char(64)').notNullable().unique();
    t.string('key_prefix', 16).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
  });

  await createAliasTables(knex);

  await knex.schema.createTable('usage_logs', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('project_id').notNullable().references('id').inTable('projects');
    t.uuid('api_key_id').references('id').inTable('api_keys');
    t.uuid('alias_id').references('id').inTable('aliases');
    t.string('provider', 64).notNullable();
    t.string('model', 255).notNullable();
    t.integer('input_tokens').notNullable();
    t.integer('output_tokens').notNullable();
    t.integer('cached_input_tokens').notNullable().defaultTo(0);
    t.decimal('cost', 18, 8).notNullable();
    t.integer('latency_ms');
    t.string('origin', 255);
    t.string('id_at_origin', 255);
    t.string('profile', 64).notNullable().defaultTo('default');
    t.jsonb('metadata').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('receipts', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('receipt_id', 64).notNullable().unique();
    t.uuid('project_id').notNullable().references('id').inTable('projects');
    t.uuid('usage_log_id').references('id').inTable('usage_logs');
    t.uuid('alias_id').references('id').inTable('aliases');
    t.jsonb('document').notNullable();
    t.text('signature').notNullable();
    t.string('key_id', 64).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(): Promise<void> {
  // Non-destructive by design: see the header. The legacy tables stay, with their rows.
}
