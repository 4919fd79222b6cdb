/**
 * The ingest statement: usage logs and their signed receipts in ONE statement, from one JSON
 * parameter (an array holding, for each log, an array of its column values followed by its
 * receipt's row id and signed document). Positional arrays rather than objects: no member
 * names to write, send and parse.
 *
 * A receipt row repeats its log's id, project, alias name and time, and its document's
 * receipt id, signature and key id: the statement takes those from there rather than have
 * them sent twice, and `storedReceipt` derives the same row in JS for the caller's answer (a
 * test checks that both agree, field for field). Logs whose idempotency key is stored already
 * are skipped, and their receipts with them.
 */
import type { Knex } from 'knex';
import type { Receipt } from '../domain/types';
import type { UsageLogRow } from './tables';

/** What a column's JSON text is cast to before it is stored. */
type ColumnType = 'uuid' | 'text' | 'integer' | 'numeric' | 'boolean' | 'jsonb' | 'timestamptz';

/**
 * The usage_logs columns ingest writes, in the order of each log's JSON array, with the type
 * its value is cast to. Strings are cast to text, not varchar(n): an explicit cast would cut a
 * long value, where storing it in the column rejects it.
 */
const LOG_COLUMNS: ReadonlyArray<readonly [keyof UsageLogRow, ColumnType]> = [
  ['id', 'uuid'],
  ['project_id', 'uuid'],
  ['api_key_id', 'uuid'],
  ['alias_name', 'text'],
  ['provider', 'text'],
  ['model', 'text'],
  ['input_tokens', 'integer'],
  ['output_tokens', 'integer'],
  ['cached_input_tokens', 'integer'],
  ['cache_write_tokens', 'integer'],
  ['cache_write_1h_tokens', 'integer'],
  ['reasoning_tokens', 'integer'],
  ['cost', 'numeric'],
  ['cost_source', 'text'],
  ['latency_ms', 'integer'],
  ['origin', 'text'],
  ['id_at_origin', 'text'],
  ['profile', 'text'],
  ['metadata', 'jsonb'],
  ['dimensions', 'jsonb'],
  ['occurred_at', 'timestamptz'],
  ['created_at', 'timestamptz'],
  ['idempotency_key', 'text'],
  ['input_price_per_million', 'numeric'],
  ['output_price_per_million', 'numeric'],
  ['cached_input_price_per_million', 'numeric'],
  ['cache_write_price_per_million', 'numeric'],
  ['cache_write_1h_price_per_million', 'numeric'],
  ['reasoning_price_per_million', 'numeric'],
  ['long_context', 'boolean'],
  ['registry_version', 'text'],
  ['warnings', 'jsonb'],
];

/** The SQL expression of element `i` of a log's array `e`, as the column's type. */
function element(i: number, type: ColumnType): string {
  return type === 'jsonb' ? `NULLIF(e->${i}, 'null'::jsonb)` : `(e->>${i})::${type}`;
}
const columnAt = (column: keyof UsageLogRow) => {
  const i = LOG_COLUMNS.findIndex(([name]) => name === column);
  return element(i, LOG_COLUMNS[i][1]);
};
/** After a log's columns, its array holds its receipt's row id, signed document and leaf hash. */
const RECEIPT_ID_AT = LOG_COLUMNS.length;
const RECEIPT_DOCUMENT_AT = LOG_COLUMNS.length + 1;
const RECEIPT_LEAF_AT = LOG_COLUMNS.length + 2;

const INSERT_LOGS_AND_RECEIPTS = `
  WITH input AS MATERIALIZED (SELECT e, e->${RECEIPT_DOCUMENT_AT} AS d FROM jsonb_array_elements(?::jsonb) e),
  logs AS (
    INSERT INTO usage_logs (${LOG_COLUMNS.map(([name]) => name).join(', ')})
    SELECT ${LOG_COLUMNS.map(([, type], i) => element(i, type)).join(', ')} FROM input
    ON CONFLICT (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
  ), receipts AS (
    INSERT INTO receipts (id, receipt_id, project_id, usage_log_id, alias_name, document, signature, key_id, created_at, leaf_hash)
    SELECT ${element(RECEIPT_ID_AT, 'uuid')}, d->>'receipt_id', ${columnAt('project_id')}, ${columnAt('id')}, ${columnAt('alias_name')},
      d, d->>'signature', d->>'key_id', ${columnAt('created_at')}, decode(e->>${RECEIPT_LEAF_AT}, 'hex')
    FROM input WHERE ${columnAt('id')} IN (SELECT id FROM logs)
    RETURNING usage_log_id
  )
  SELECT id FROM logs WHERE id IN (SELECT usage_log_id FROM receipts)`;

/** A receipt ready to store: its row id, its signed document and its ledger leaf hash (hex). */
export interface SignedReceipt {
  rowId: string;
  document: { receipt_id: string; signature: string; key_id: string } & Record<string, unknown>;
  leafHash: string;
}

export interface IngestEntry {
  row: UsageLogRow;
  receipt: SignedReceipt;
}

/** Stores logs with their receipts (see the header); returns the ids of the logs inserted. */
export async function insertLogsWithReceipts(
  db: Knex | Knex.Transaction,
  entries: readonly IngestEntry[],
): Promise<Set<string>> {
  const input = entries.map(({ row, receipt }) => [
    ...LOG_COLUMNS.map(([name]) => row[name]),
    receipt.rowId,
    receipt.document,
    receipt.leafHash,
  ]);
  const { rows } = await db.raw(INSERT_LOGS_AND_RECEIPTS, [JSON.stringify(input)]);
  return new Set((rows as Array<{ id: string }>).map((r) => r.id));
}

/** The receipt row the statement stores for an entry, as a domain object. */
export function storedReceipt({ row, receipt }: IngestEntry): Receipt {
  return {
    id: receipt.rowId,
    receiptId: receipt.document.receipt_id,
    projectId: row.project_id,
    usageLogId: row.id,
    aliasName: row.alias_name,
    keyId: receipt.document.key_id,
    signature: receipt.document.signature,
    document: receipt.document,
    issuedAt: row.created_at,
  };
}
