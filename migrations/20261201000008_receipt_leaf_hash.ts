/**
 * receipts.leaf_hash: the receipt's ledger leaf hash, SHA-256(0x00 ‖ RFC 8785 bytes of its
 * signed document), computed when it is signed (docs/ledger.md). The integrator appends it as
 * it is instead of reading, parsing and canonicalising every document again, which cost the
 * ingest path a tenth of its rate on two cores. NULL for receipts stored before (and for rows
 * written by other means): the integrator computes those from the document.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE receipts ADD COLUMN leaf_hash bytea');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE receipts DROP COLUMN leaf_hash');
}
