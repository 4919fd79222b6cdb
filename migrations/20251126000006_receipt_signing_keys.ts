/**
 * Receipt signing keys that the server generated itself, for deployments that configure no
 * key (LLMRING_RECEIPTS_PRIVATE_KEY). Keeping the key in the database lets it survive
 * restarts and be shared by every server instance on the same database.
 *
 * At most one generated key is current (retired_at null), enforced by a partial unique
 * index: two instances starting at once both try `INSERT ... ON CONFLICT DO NOTHING`, one
 * wins, and both re-read the same row. Rows are never deleted by the server: a key that
 * once signed receipts stays available for verifying them, also after an operator
 * configures a key of their own.
 *
 * The private key is stored as unencrypted PKCS#8 PEM: whoever can read this table can sign
 * receipts. Deployments that care configure their own key instead.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('receipt_signing_keys', (t) => {
    t.string('key_id', 64).primary();
    t.text('private_key_pem').notNullable();
    t.text('public_key_pem').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('retired_at', { useTz: true });
  });
  await knex.raw(`
    CREATE UNIQUE INDEX receipt_signing_keys_one_current_uq
    ON receipt_signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL`);
}

export async function down(knex: Knex): Promise<void> {
  // Dropping the table loses the generated key: receipts it signed no longer verify unless its
  // public key is configured in LLMRING_RECEIPTS_VERIFY_KEYS first (see the keys' JWK set).
  await knex.schema.dropTable('receipt_signing_keys');
}
