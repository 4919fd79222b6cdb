/**
 * The legacy alias tables, as the baseline creates them and as phase 4's down restores
 * them. Kept here once so both stay identical to ../shared/spec/legacy-schema.md.
 * (This folder holds no migrations: only top-level files in migrations/ are run.)
 */
import type { Knex } from 'knex';

export async function createAliasTables(knex: Knex): Promise<void> {
  await knex.schema.createTable('aliases', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('project_id').notNullable().references('id').inTable('projects').onDelete('CASCADE');
    t.string('profile', 64).notNullable().defaultTo('default');
    t.string('name', 255).notNullable();
    t.string('model', 255).notNullable();
    t.jsonb('metadata');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['project_id', 'profile', 'name']);
  });

  await knex.schema.createTable('alias_sync_state', (t) => {
    t.uuid('project_id').primary().references('id').inTable('projects').onDelete('CASCADE');
    t.integer('version').notNullable().defaultTo(0);
    t.string('lockfile_digest', 128);
    t.timestamp('last_push_at', { useTz: true });
    t.timestamp('last_pull_at', { useTz: true });
  });

  await knex.schema.createTable('alias_sync_events', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('project_id').notNullable().references('id').inTable('projects').onDelete('CASCADE');
    t.string('direction', 8).notNullable();
    t.jsonb('payload').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}
