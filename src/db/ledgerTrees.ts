/**
 * The stored Merkle trees of the ledger (docs/ledger.md), shared by every log kept in them:
 * each project's usage ledger, keyed by the project's id, and the audit log, keyed by
 * AUDIT_LOG_ID (docs/access.md). One storage, one append, one set of proofs and one
 * self-check for both.
 *
 * ledger_leaves holds each leaf (log, index, entry kind and id, leaf hash), ledger_nodes the
 * hash of every complete subtree of levels 4, 8, 12, … (the others are folded from those:
 * src/ledger/merkle.ts), ledger_trees each log's size and root (what a
 * checkpoint signs). Appending writes only new rows and the tree head; nothing is ever updated
 * in place but the head.
 */
import type { Knex } from 'knex';
import { toInt } from './normalize';
import { arrayLiteral } from './sql';
import {
  EMPTY_ROOT,
  foldRange,
  Frontier,
  isStoredLevel,
  perfectRoot,
  rangeNodes,
  storedNodes,
  type Hash,
  type LeafRange,
  type NodeRef,
} from '../ledger/merkle';

/**
 * The tree of the audit log. The nil UUID: no project has it (project ids are random UUIDs),
 * so the audit log's leaves, nodes and head never mix with a project's.
 */
export const AUDIT_LOG_ID = '00000000-0000-0000-0000-000000000000';

/** What a leaf is the hash of: a receipt, a re-pricing adjustment, or an audit-log entry. */
export type LedgerEntryKind = 'receipt' | 'adjustment' | 'audit';

/** The kinds of a project's usage ledger. */
export const USAGE_ENTRY_KINDS: readonly LedgerEntryKind[] = ['receipt', 'adjustment'];

export interface NewLeaf {
  kind: LedgerEntryKind;
  id: string;
  hash: Hash;
}

export interface TreeHead {
  size: number;
  root: Hash;
}

const toHash = (value: unknown): Hash => Buffer.from(value as Uint8Array);

/** A log's size and root hash (size 0, the empty root, before its first leaf). */
export async function treeHead(db: Knex | Knex.Transaction, logId: string): Promise<TreeHead> {
  const row = await db('ledger_trees').where({ project_id: logId }).first('tree_size', 'root_hash');
  return row ? { size: toInt(row.tree_size), root: toHash(row.root_hash) } : { size: 0, root: EMPTY_ROOT };
}

/**
 * The hashes of these nodes of one log's tree (level 0: the leaves), by "level:index", each
 * read or folded from the stored nodes beneath it (merkle.ts, storedNodes), in one statement.
 * A node whose stored nodes are not all there is left out of the answer.
 */
export async function nodeHashes(
  db: Knex | Knex.Transaction,
  logId: string,
  refs: readonly NodeRef[],
): Promise<Map<string, Hash>> {
  const found = new Map<string, Hash>();
  if (refs.length === 0) return found;
  const expanded = refs.map((ref) => ({ ref, below: storedNodes(ref) }));
  const wanted = new Map<string, NodeRef>();
  for (const { below } of expanded) for (const r of below) wanted.set(`${r.level}:${r.index}`, r);
  const leaves = [...wanted.values()].filter((r) => r.level === 0).map((r) => r.index);
  const nodes = [...wanted.values()].filter((r) => r.level > 0);
  const parts: string[] = [];
  const bindings: Array<string | number> = [];
  if (leaves.length) {
    parts.push(`SELECT 0 AS level, leaf_index AS idx, leaf_hash AS hash FROM ledger_leaves
      WHERE project_id = ? AND leaf_index = ANY (?::bigint[])`);
    bindings.push(logId, arrayLiteral(leaves));
  }
  if (nodes.length) {
    parts.push(`SELECT n.level, n.idx, n.hash FROM unnest(?::smallint[], ?::bigint[]) AS u(level, idx)
      JOIN ledger_nodes n ON n.project_id = ? AND n.level = u.level AND n.idx = u.idx`);
    bindings.push(arrayLiteral(nodes.map((n) => n.level)), arrayLiteral(nodes.map((n) => n.index)), logId);
  }
  const { rows } = await db.raw(parts.join(' UNION ALL '), bindings);
  const stored = new Map<string, Hash>();
  for (const r of rows as Array<{ level: unknown; idx: unknown; hash: unknown }>) {
    stored.set(`${toInt(r.level)}:${toInt(r.idx)}`, toHash(r.hash));
  }
  for (const { ref, below } of expanded) {
    const hashes = below.map((r) => stored.get(`${r.level}:${r.index}`));
    if (hashes.every((h): h is Hash => h !== undefined))
      found.set(`${ref.level}:${ref.index}`, perfectRoot(hashes));
  }
  return found;
}

/** The hashes of these ranges of one log's tree, from its stored nodes. */
export async function rangeHashes(
  db: Knex | Knex.Transaction,
  logId: string,
  ranges: readonly LeafRange[],
): Promise<Hash[]> {
  const perRange = ranges.map(([a, b]) => rangeNodes(a, b));
  const found = await nodeHashes(db, logId, perRange.flat());
  return perRange.map((refs) =>
    foldRange(
      refs.map((r) => {
        const h = found.get(`${r.level}:${r.index}`);
        if (!h) throw new Error(`the ledger tree ${logId} lacks node ${r.level}:${r.index}`);
        return h;
      }),
    ),
  );
}

/**
 * Appends leaves to logs, each log's in the order given, and moves their heads. The caller
 * holds the lock that makes it the only writer of these logs (the ledger integrator's, the
 * audit log's), in the transaction `trx`. Returns each log's new head.
 */
export async function appendLeaves(
  trx: Knex.Transaction,
  byLog: ReadonlyMap<string, readonly NewLeaf[]>,
  integratedAt: Date,
): Promise<Map<string, TreeHead>> {
  const heads = new Map<string, TreeHead>();
  if (byLog.size === 0) return heads;
  const sizes = new Map<string, number>(
    (
      await trx('ledger_trees')
        .whereIn('project_id', [...byLog.keys()])
        .select('project_id', 'tree_size')
    ).map((r: { project_id: string; tree_size: unknown }) => [r.project_id, toInt(r.tree_size)]),
  );
  const leafRows: unknown[] = [];
  const nodeRows: unknown[] = [];
  const treeRows: unknown[] = [];
  for (const [logId, leaves] of byLog) {
    if (leaves.length === 0) continue;
    const size = sizes.get(logId) ?? 0;
    const edge = Frontier.edge(size);
    const found = await nodeHashes(trx, logId, edge);
    const frontier = new Frontier(
      size,
      edge.map((r) => {
        const hash = found.get(`${r.level}:${r.index}`);
        if (!hash) throw new Error(`the ledger tree ${logId} lacks node ${r.level}:${r.index}`);
        return { level: r.level, hash };
      }),
    );
    for (const leaf of leaves) {
      leafRows.push([logId, frontier.size, leaf.kind, leaf.id, leaf.hash.toString('hex')]);
      for (const n of frontier.append(leaf.hash))
        if (isStoredLevel(n.level)) nodeRows.push([logId, n.level, n.index, n.hash.toString('hex')]);
    }
    const head = { size: frontier.size, root: frontier.root() };
    heads.set(logId, head);
    treeRows.push([logId, head.size, head.root.toString('hex')]);
  }
  if (leafRows.length === 0) return heads;
  await trx.raw(
    `INSERT INTO ledger_leaves (project_id, leaf_index, entry_kind, entry_id, leaf_hash, integrated_at)
     SELECT (e->>0)::uuid, (e->>1)::bigint, e->>2, e->>3, decode(e->>4, 'hex'), ?::timestamptz
     FROM jsonb_array_elements(?::jsonb) e`,
    [integratedAt.toISOString(), JSON.stringify(leafRows)],
  );
  if (nodeRows.length) {
    await trx.raw(
      `INSERT INTO ledger_nodes (project_id, level, idx, hash)
       SELECT (e->>0)::uuid, (e->>1)::smallint, (e->>2)::bigint, decode(e->>3, 'hex')
       FROM jsonb_array_elements(?::jsonb) e`,
      [JSON.stringify(nodeRows)],
    );
  }
  await trx.raw(
    `INSERT INTO ledger_trees AS t (project_id, tree_size, root_hash, updated_at)
     SELECT (e->>0)::uuid, (e->>1)::bigint, decode(e->>2, 'hex'), now()
     FROM jsonb_array_elements(?::jsonb) e
     ON CONFLICT (project_id) DO UPDATE SET tree_size = EXCLUDED.tree_size,
       root_hash = EXCLUDED.root_hash, updated_at = EXCLUDED.updated_at`,
    [JSON.stringify(treeRows)],
  );
  return heads;
}
