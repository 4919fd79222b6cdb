/**
 * The audit log: every change an operator makes (projects, keys, operators, prices,
 * re-pricing, budgets, spike alerts, webhooks, export schedules), who made it and when.
 * Append-only: the table refuses UPDATE and DELETE (a trigger), and nothing here offers either.
 *
 * A change and its entry are written in one transaction where the change is one (`record`
 * takes the change's transaction), so an entry is never missing for a change that happened.
 *
 * Tamper-evident (docs/access.md): each entry is also a leaf of the audit log's Merkle tree,
 * kept in the ledger's tables under AUDIT_LOG_ID and appended in the entry's own transaction;
 * the tree's checkpoints are signed like a project ledger's, with the origin
 * `<LLMRING_LEDGER_NAME>/_audit`. Someone who can write the database may still disable the
 * trigger and rewrite a row, but an export then fails `llmring-server verify-audit` naming the
 * entry, and a rebuilt tree no longer extends the checkpoints auditors saved.
 */
import type { Knex } from 'knex';
import type { Actor, AuditEntry } from '../domain/access';
import { toDate, toInt } from '../db/normalize';
import { appendLeaves, AUDIT_LOG_ID, treeHead } from '../db/ledgerTrees';
import {
  AUDIT_DOCUMENT_COLUMNS,
  AUDIT_EXPORT_FORMAT,
  auditDocumentOf,
  auditLeafHash,
  type AuditDocumentRow,
  type AuditExportHeader,
  type AuditExportLeaf,
} from '../ledger/auditEntry';
import type { ReceiptKeyring } from '../receipts';
import { badInput } from './errors';
import { signCheckpoint, verifierKeysOf, type LedgerCheckpoint } from './ledger';

/**
 * The advisory lock of the audit log's writers, held from before an entry's insert to the end
 * of its transaction: entries get their ids and their leaf indexes in one order, and two
 * concurrent changes never append at the same index.
 */
export const AUDIT_LOCK = 7_345_041;

export interface AuditChange {
  /** The operation, as the API names it: 'createProject', 'rotateApiKey', ... */
  action: string;
  targetType?: string;
  targetId?: string | null;
  /** What changed, never a secret. */
  details?: Record<string, unknown>;
}

interface AuditRow {
  id: string | number;
  at: Date;
  actor_kind: Actor['kind'];
  actor_operator_id: string | null;
  actor_name: string;
  action: string;
  target_type: string | null;
  target_id: string | null;
  details: Record<string, unknown> | string;
  leaf_index: string | number | null;
}

const ACTOR_NAMES: Record<Actor['kind'], string> = { admin_token: 'admin token', operator: '', cli: 'cli' };
const MAX_PAGE = 500;
/** Leaves read per statement by an export. */
const EXPORT_CHUNK = 2_000;

function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    id: String(row.id),
    at: toDate(row.at),
    actorKind: row.actor_kind,
    actorOperatorId: row.actor_operator_id,
    actorName: row.actor_name,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    details:
      typeof row.details === 'string' ? (JSON.parse(row.details) as Record<string, unknown>) : row.details,
    leafIndex: row.leaf_index === null ? null : toInt(row.leaf_index),
  };
}

export class AuditService {
  constructor(
    private readonly deps: {
      db: Knex;
      keyring: ReceiptKeyring;
      /** LLMRING_LEDGER_NAME: the audit log's origin is `<name>/_audit`. */
      name: string;
    },
  ) {}

  /** The origin of the audit log's checkpoints, also their note key's name. */
  get origin(): string {
    // '_' is in no project key (src/domain/slug.ts), so no project's ledger has this origin.
    return `${this.deps.name}/_audit`;
  }

  /**
   * Appends one entry, and its leaf; pass the change's transaction so that all of it lands or
   * none. Audit writes are rare, and the lock is the last thing their transactions take.
   */
  async record(db: Knex | Knex.Transaction, actor: Actor, change: AuditChange): Promise<void> {
    const write = async (trx: Knex.Transaction) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [AUDIT_LOCK]);
      // `at` to the millisecond, taken after the lock: the log's order is its times' order,
      // and every reader (the document's text, a driver's Date) sees the same instant.
      const { rows } = await trx.raw(
        `INSERT INTO audit_log (at, actor_kind, actor_operator_id, actor_name, action, target_type, target_id, details)
         VALUES (date_trunc('milliseconds', clock_timestamp()), ?, ?, ?, ?, ?, ?, ?::jsonb)
         RETURNING ${AUDIT_DOCUMENT_COLUMNS}`,
        [
          actor.kind,
          actor.kind === 'operator' ? actor.id : null,
          actor.kind === 'operator' ? actor.name : ACTOR_NAMES[actor.kind],
          change.action,
          change.targetType ?? null,
          change.targetId ?? null,
          JSON.stringify(change.details ?? {}),
        ],
      );
      // The document as stored (read back), so that what the leaf commits to is what an
      // export later reads.
      const document = auditDocumentOf((rows as AuditDocumentRow[])[0]);
      await appendLeaves(
        trx,
        new Map([
          [AUDIT_LOG_ID, [{ kind: 'audit' as const, id: document.id, hash: auditLeafHash(document) }]],
        ]),
        new Date(),
      );
    };
    if (db.isTransaction) await write(db as Knex.Transaction);
    else await db.transaction(write);
  }

  /** Newest first, `first` at most 500, entries before the id `before` (a page's last id). */
  async list(opts: { first?: number | null; before?: string | null } = {}): Promise<AuditEntry[]> {
    const first = opts.first ?? 100;
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) {
      throw badInput('first', `must be an integer from 1 to ${MAX_PAGE}`);
    }
    const q = this.deps
      .db('audit_log as a')
      .leftJoin('ledger_leaves as l', (j) =>
        j
          .on('l.entry_id', '=', this.deps.db.raw('a.id::text'))
          .andOn('l.entry_kind', '=', this.deps.db.raw("'audit'"))
          .andOn('l.project_id', '=', this.deps.db.raw('?::uuid', [AUDIT_LOG_ID])),
      )
      .orderBy('a.id', 'desc')
      .limit(first);
    if (opts.before !== null && opts.before !== undefined) {
      if (!/^[1-9][0-9]{0,17}$/.test(opts.before)) throw badInput('before', 'must be an audit entry id');
      q.where('a.id', '<', opts.before);
    }
    return ((await q.select('a.*', 'l.leaf_index')) as AuditRow[]).map(toAuditEntry);
  }

  /** The newest signed checkpoint of the audit log (public: it shows only a size and a root). */
  async checkpoint(): Promise<LedgerCheckpoint> {
    return signCheckpoint(this.deps.keyring, this.origin, await treeHead(this.deps.db, AUDIT_LOG_ID));
  }

  /** The verifier keys of the audit log's checkpoints: the active receipt key's, then retired keys'. */
  verifierKeys(): string[] {
    return verifierKeysOf(this.deps.keyring, this.origin);
  }

  /**
   * The whole log for an auditor (AuditExportHeader, then its lines; src/ledger/auditEntry.ts):
   * the newest checkpoint, every leaf up to its size with the entry the table holds for it now,
   * then the entries in no leaf. Leaves are append-only and an entry's leaf commits with it, so
   * reading in chunks after the tree head sees what one snapshot would, without a long
   * transaction.
   */
  async *export(): AsyncGenerator<AuditExportHeader | AuditExportLeaf> {
    const { db } = this.deps;
    const head = await treeHead(db, AUDIT_LOG_ID);
    yield {
      format: AUDIT_EXPORT_FORMAT,
      version: 1,
      checkpoint: signCheckpoint(this.deps.keyring, this.origin, head).note,
    };
    for (let from = 0; from < head.size; from += EXPORT_CHUNK) {
      const leaves = (await db('ledger_leaves')
        .where({ project_id: AUDIT_LOG_ID })
        .where('leaf_index', '>=', from)
        .where('leaf_index', '<', Math.min(head.size, from + EXPORT_CHUNK))
        .orderBy('leaf_index')
        .select('leaf_index', 'entry_kind', 'entry_id', 'leaf_hash')) as Array<{
        leaf_index: unknown;
        entry_kind: string;
        entry_id: string;
        leaf_hash: Uint8Array;
      }>;
      const ids = leaves.map((l) => l.entry_id).filter((id) => /^[1-9][0-9]{0,17}$/.test(id));
      const rows = ids.length
        ? ((
            await db.raw(
              `SELECT ${AUDIT_DOCUMENT_COLUMNS} FROM audit_log WHERE id IN (${ids.map(() => '?::bigint').join(', ')})`,
              ids,
            )
          ).rows as AuditDocumentRow[])
        : [];
      const byId = new Map(rows.map((r) => [r.audit_id, r]));
      for (const l of leaves) {
        const row = l.entry_kind === 'audit' ? byId.get(l.entry_id) : undefined;
        yield {
          leafIndex: toInt(l.leaf_index),
          entryId: l.entry_id,
          leafHash: Buffer.from(l.leaf_hash).toString('base64'),
          entry: row ? auditDocumentOf(row) : null,
        };
      }
    }
    const { rows: unlogged } = (await db.raw(
      `SELECT ${AUDIT_DOCUMENT_COLUMNS} FROM audit_log a
       WHERE NOT EXISTS (SELECT 1 FROM ledger_leaves l
                         WHERE l.entry_id = a.id::text AND l.entry_kind = 'audit' AND l.project_id = ?::uuid)
       ORDER BY a.id`,
      [AUDIT_LOG_ID],
    )) as { rows: AuditDocumentRow[] };
    for (const row of unlogged) {
      yield { leafIndex: null, entryId: row.audit_id, leafHash: null, entry: auditDocumentOf(row) };
    }
  }
}
