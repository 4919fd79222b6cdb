/**
 * API keys with least privilege, expiry and rotation (issue 21):
 * - scopes: what a key may do ('ingest': log usage; 'read': statistics, logs, receipts of its
 *   project). Existing keys keep doing everything, so the default is both.
 * - expires_at: after it the key is refused (UNAUTHENTICATED, "expired"); NULL never expires.
 *   Rotation sets the old key's expires_at to the end of the overlap.
 * - rotated_from: the key this one replaced. Unique, so a key is rotated at most once (two
 *   concurrent rotations of one key cannot both succeed).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => {
    t.specificType('scopes', 'text[]').notNullable().defaultTo(knex.raw("'{ingest,read}'::text[]"));
    t.timestamp('expires_at', { useTz: true });
    t.uuid('rotated_from').references('id').inTable('api_keys').unique();
  });
  await knex.raw(`
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known
    CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read']::text[])`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_known');
  await knex.schema.alterTable('api_keys', (t) => {
    t.dropColumn('rotated_from');
    t.dropColumn('expires_at');
    t.dropColumn('scopes');
  });
}
