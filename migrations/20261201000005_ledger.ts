/**
 * The usage ledger: per project, an append-only RFC 9162 Merkle log of every receipt and
 * re-pricing adjustment (docs/ledger.md).
 *
 * - receipts.tx, usage_adjustments.tx: the id of the transaction that stored each row (as
 *   usage_logs.tx for the rollups). The integrator appends entries of finished transactions
 *   in (tx, kind, id) order; nothing on the logging path reads or writes a ledger table.
 * - ledger_state: the integrator's cursor, the last entry appended (one row).
 * - ledger_leaves: one row per entry: its project, position, kind and id, its leaf hash and
 *   when it was appended. No foreign key to receipts: retention deletes receipts, never
 *   leaves, so old checkpoints stay provable.
 * - ledger_nodes: the hash of every complete subtree of level ≥ 1 (level 0 is the leaves),
 *   keyed by (project, level, index): a proof is a few primary-key lookups at any size.
 * - ledger_trees: each project's tree size and root hash, the newest checkpoint's content.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  for (const [table, id] of [
    ['receipts', 'receipt_id'],
    ['usage_adjustments', 'adjustment_id'],
  ] as const) {
    // Existing rows take this migration's transaction id: the integrator appends them first.
    await knex.raw(`ALTER TABLE ${table} ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id()`);
    await knex.raw(`CREATE INDEX ${table}_tx_idx ON ${table} (tx, ${id})`);
  }

  await knex.schema.createTable('ledger_state', (t) => {
    t.smallint('id').primary();
    t.specificType('cursor_tx', 'xid8').notNullable();
    /** -1 before the first entry, 0 a receipt, 1 an adjustment. */
    t.smallint('cursor_kind').notNullable();
    t.text('cursor_id').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE ledger_state ADD CONSTRAINT ledger_state_single CHECK (id = 1)`);
  await knex.raw(`INSERT INTO ledger_state (id, cursor_tx, cursor_kind, cursor_id) VALUES (1, '0', -1, '')`);

  await knex.schema.createTable('ledger_leaves', (t) => {
    t.uuid('project_id').notNullable();
    t.bigInteger('leaf_index').notNullable();
    t.string('entry_kind', 16).notNullable();
    t.string('entry_id', 64).notNullable();
    t.binary('leaf_hash').notNullable();
    t.timestamp('integrated_at', { useTz: true }).notNullable();
    t.primary(['project_id', 'leaf_index']);
  });
  await knex.raw(`ALTER TABLE ledger_leaves ADD CONSTRAINT ledger_leaves_kind_check
    CHECK (entry_kind IN ('receipt', 'adjustment'))`);
  await knex.raw(`CREATE UNIQUE INDEX ledger_leaves_entry_uq ON ledger_leaves (entry_id, entry_kind)`);

  await knex.schema.createTable('ledger_nodes', (t) => {
    t.uuid('project_id').notNullable();
    t.smallint('level').notNullable();
    t.bigInteger('idx').notNullable();
    t.binary('hash').notNullable();
    t.primary(['project_id', 'level', 'idx']);
  });

  await knex.schema.createTable('ledger_trees', (t) => {
    t.uuid('project_id').primary();
    t.bigInteger('tree_size').notNullable();
    t.binary('root_hash').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['ledger_trees', 'ledger_nodes', 'ledger_leaves', 'ledger_state']) {
    await knex.schema.dropTable(table);
  }
  for (const table of ['receipts', 'usage_adjustments']) {
    await knex.raw(`DROP INDEX ${table}_tx_idx`);
    await knex.raw(`ALTER TABLE ${table} DROP COLUMN tx`);
  }
}
