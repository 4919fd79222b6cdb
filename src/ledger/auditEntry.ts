/**
 * The canonical form of an audit-log entry (docs/access.md): the document whose RFC 8785 (JCS)
 * bytes are its leaf in the audit log's Merkle tree, as a receipt's signed document is its leaf
 * in a project's ledger:
 *
 *   leaf hash = SHA-256(0x00 ‖ JCS UTF-8 bytes of the document)
 *
 * The server builds it from the stored row when it appends the entry and when it exports the
 * log; the verifier (src/ledger/verifyAudit.ts) hashes the exported document with the same
 * fields, and nothing else. What the log has committed to must never change: a new field
 * would be a new version, with the old documents still hashed as version 1.
 */
import { canonicalJson } from '../receipts/jcs';
import { leafHash, type Hash } from './merkle';

export const AUDIT_DOCUMENT_VERSION = 1;

export interface AuditDocument {
  version: number;
  /** The entry's id (audit_log.id), decimal. */
  id: string;
  /** When, UTC, to the millisecond: `YYYY-MM-DDTHH:MM:SS.mmmZ`. */
  at: string;
  /** 'admin_token', 'operator' or 'cli'. */
  actorKind: string;
  /** `admin token`, `cli`, or the operator's name. */
  actor: string;
  actorOperatorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  details: Record<string, unknown>;
}

/** The members of a version-1 document: exactly these are hashed. */
const FIELDS = [
  'version',
  'id',
  'at',
  'actorKind',
  'actor',
  'actorOperatorId',
  'action',
  'targetType',
  'targetId',
  'details',
] as const;

/**
 * The columns of audit_log a document is built from, as SQL (a SELECT list over audit_log).
 * `at` is formatted by the database so that every driver reads the same text. The id's text is
 * `audit_id`, not `id`: an `ORDER BY id` next to an output column `id` of type text would sort
 * by the text ('10' before '2').
 */
export const AUDIT_DOCUMENT_COLUMNS = `id::text AS audit_id,
  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at_text,
  actor_kind, actor_name, actor_operator_id, action, target_type, target_id, details`;

export interface AuditDocumentRow {
  audit_id: string;
  at_text: string;
  actor_kind: string;
  actor_name: string;
  actor_operator_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  details: Record<string, unknown> | string;
}

/** The document of a stored entry, selected with AUDIT_DOCUMENT_COLUMNS. */
export function auditDocumentOf(row: AuditDocumentRow): AuditDocument {
  return {
    version: AUDIT_DOCUMENT_VERSION,
    id: row.audit_id,
    at: row.at_text,
    actorKind: row.actor_kind,
    actor: row.actor_name,
    actorOperatorId: row.actor_operator_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    details:
      typeof row.details === 'string' ? (JSON.parse(row.details) as Record<string, unknown>) : row.details,
  };
}

/**
 * The leaf hash of a document: its version-1 members only (a member added to an exported copy
 * is ignored; one removed or changed changes the hash).
 */
export function auditLeafHash(document: object): Hash {
  const hashed = Object.fromEntries(FIELDS.map((f) => [f, (document as Record<string, unknown>)[f]]));
  return leafHash(Buffer.from(canonicalJson(hashed), 'utf8'));
}

/**
 * An export of the audit log (`llmring-server audit export`), JSON Lines: this header, then one
 * AuditExportLeaf per leaf in leaf order (0 to the checkpoint's size − 1), then one per entry
 * the table holds that is in no leaf (leafIndex null). Everything a verifier needs but a
 * trusted verifier key: the leaves' hashes are committed to by the signed checkpoint, and each
 * document can be hashed and compared with its leaf.
 */
export const AUDIT_EXPORT_FORMAT = 'llmring-audit-export';

export interface AuditExportHeader {
  format: typeof AUDIT_EXPORT_FORMAT;
  version: 1;
  /** The signed checkpoint (C2SP note) of the log as exported. */
  checkpoint: string;
}

export interface AuditExportLeaf {
  /** The leaf's position; null for an entry of the table that is in no leaf. */
  leafIndex: number | null;
  /** The entry id the leaf was appended for. */
  entryId: string;
  /** Base64 of the stored leaf hash; null with leafIndex. */
  leafHash: string | null;
  /** The entry's document as stored now; null when the table no longer holds it. */
  entry: AuditDocument | null;
}
