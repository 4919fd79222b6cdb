/**
 * The audit log becomes tamper-evident (issue 21; docs/access.md): every entry is a leaf of a
 * Merkle log kept in the ledger's tables (docs/ledger.md), under the log id AUDIT_LOG_ID (the
 * nil UUID, which no project has), with signed checkpoints of its own origin.
 *
 * - ledger_leaves.entry_kind may be 'audit' (the entry id is audit_log.id).
 * - Every existing entry is appended here, in id order, as the server appends new ones (it takes
 *   a lock before writing an entry, so ids and leaf indexes keep one order).
 *
 * Down removes the audit log's tree. Rows are untouched, and since the tree is a function of the
 * rows in id order, migrating up again rebuilds the same tree: checkpoints handed out before stay
 * verifiable, so long as no entry was written in between.
 */
import type { Knex } from 'knex';
import {
  AUDIT_DOCUMENT_COLUMNS,
  auditDocumentOf,
  auditLeafHash,
  type AuditDocumentRow,
} from '../src/ledger/auditEntry';
import { Frontier } from '../src/ledger/merkle';

// Written out rather than imported: a migration does what it did when it was written.
const AUDIT_LOG_ID = '00000000-0000-0000-0000-000000000000';
const CHUNK = 5_000;

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger_leaves DROP CONSTRAINT ledger_leaves_kind_check');
  await knex.raw(`ALTER TABLE ledger_leaves ADD CONSTRAINT ledger_leaves_kind_check
    CHECK (entry_kind IN ('receipt', 'adjustment', 'audit'))`);

  const frontier = new Frontier(0);
  let after = '0';
  for (;;) {
    const { rows } = (await knex.raw(
      `SELECT ${AUDIT_DOCUMENT_COLUMNS} FROM audit_log WHERE id > ?::bigint ORDER BY id LIMIT ?`,
      [after, CHUNK],
    )) as { rows: AuditDocumentRow[] };
    if (rows.length === 0) break;
    const leaves: unknown[] = [];
    const nodes: unknown[] = [];
    for (const row of rows) {
      const hash = auditLeafHash(auditDocumentOf(row));
      leaves.push([frontier.size, row.audit_id, hash.toString('hex')]);
      for (const n of frontier.append(hash)) nodes.push([n.level, n.index, n.hash.toString('hex')]);
    }
    await knex.raw(
      `INSERT INTO ledger_leaves (project_id, leaf_index, entry_kind, entry_id, leaf_hash, integrated_at)
       SELECT ?::uuid, (e->>0)::bigint, 'audit', e->>1, decode(e->>2, 'hex'), now()
       FROM jsonb_array_elements(?::jsonb) e`,
      [AUDIT_LOG_ID, JSON.stringify(leaves)],
    );
    if (nodes.length) {
      await knex.raw(
        `INSERT INTO ledger_nodes (project_id, level, idx, hash)
         SELECT ?::uuid, (e->>0)::smallint, (e->>1)::bigint, decode(e->>2, 'hex')
         FROM jsonb_array_elements(?::jsonb) e`,
        [AUDIT_LOG_ID, JSON.stringify(nodes)],
      );
    }
    after = rows[rows.length - 1].audit_id;
  }
  if (frontier.size > 0) {
    await knex.raw(
      `INSERT INTO ledger_trees (project_id, tree_size, root_hash) VALUES (?::uuid, ?, decode(?, 'hex'))`,
      [AUDIT_LOG_ID, frontier.size, frontier.root().toString('hex')],
    );
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['ledger_trees', 'ledger_nodes', 'ledger_leaves']) {
    await knex(table).where({ project_id: AUDIT_LOG_ID }).delete();
  }
  await knex.raw('ALTER TABLE ledger_leaves DROP CONSTRAINT ledger_leaves_kind_check');
  await knex.raw(`ALTER TABLE ledger_leaves ADD CONSTRAINT ledger_leaves_kind_check
    CHECK (entry_kind IN ('receipt', 'adjustment'))`);
}
