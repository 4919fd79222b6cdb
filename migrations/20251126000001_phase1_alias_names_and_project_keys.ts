/**
 * Phase 1 (add and backfill): usage_logs and receipts gain the alias *name* as a plain
 * string, copied from the alias each row pointed to; projects gain a unique URL-safe `key`
 * (derived from the name, de-duplicated) and `archived_at`. Nothing is dropped here.
 */
import type { Knex } from 'knex';
import { uniqueSlugs } from '../src/domain/slug';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('usage_logs', (t) => t.string('alias_name', 255));
  await knex.schema.alterTable('receipts', (t) => t.string('alias_name', 255));
  await knex.raw(`
    UPDATE usage_logs u SET alias_name = a.name
    FROM aliases a WHERE u.alias_id = a.id`);
  await knex.raw(`
    UPDATE receipts r SET alias_name = a.name
    FROM aliases a WHERE r.alias_id = a.id`);

  await knex.schema.alterTable('projects', (t) => {
    t.string('key', 64);
    t.timestamp('archived_at', { useTz: true });
  });
  const projects: Array<{ id: string; name: string }> = await knex('projects')
    .select('id', 'name')
    .orderBy([{ column: 'created_at' }, { column: 'id' }]);
  const keys = uniqueSlugs(projects.map((p) => p.name));
  for (const [i, p] of projects.entries()) {
    await knex('projects').where({ id: p.id }).update({ key: keys[i] });
  }
  await knex.schema.alterTable('projects', (t) => {
    t.string('key', 64).notNullable().alter();
    t.unique(['key']);
  });
}

export async function down(knex: Knex): Promise<void> {
  // Runs after phase 4's down has restored alias_id, so the names stay recoverable from aliases.
  // The legacy schema cannot mark a project archived: revoke its keys so they stay unusable.
  await knex.raw(`
    UPDATE api_keys SET revoked_at = p.archived_at
    FROM projects p
    WHERE api_keys.project_id = p.id AND p.archived_at IS NOT NULL AND api_keys.revoked_at IS NULL`);
  await knex.schema.alterTable('projects', (t) => {
    t.dropUnique(['key']);
    t.dropColumn('key');
    t.dropColumn('archived_at');
  });
  await knex.schema.alterTable('receipts', (t) => t.dropColumn('alias_name'));
  await knex.schema.alterTable('usage_logs', (t) => t.dropColumn('alias_name'));
}
