/**
 * Receipts: every stored call gets an Ed25519-signed document (RFC 8785 JCS bytes) in the
 * same transaction as its log. Anyone with the published public key can verify it offline.
 */
import type { Knex } from 'knex';
import type { ReceiptRow } from '../db/tables';
import { newRowId } from '../db/ids';
import type { SignedReceipt } from '../db/ingest';
import { entryLeafHash } from '../ledger/merkle';
import { toReceipt } from '../db/rows';
import { keysetPage, type Page } from '../db/cursor';
import { applyUsageQuery } from '../db/usageFilter';
import type { Project, Receipt, UsageLog, UsageQuery } from '../domain/types';
import { buildReceiptDocument, newReceiptId, type ReceiptKeyring } from '../receipts';
import type { ReceiptChargeLine, UnsignedReceiptDocument } from '../receipts/document';
import { chargeLines, type LineType, type TokenCounts } from '../pricing/formula';
import { MAX_PAGE_SIZE } from '../domain/limits';
import type { DimensionService } from './dimensions';
import { checkStorable } from './validate';

const LINE_NAMES: Record<LineType, ReceiptChargeLine['type']> = {
  input: 'input',
  cachedInput: 'cached_input',
  cacheWrite5m: 'cache_write_5m',
  cacheWrite1h: 'cache_write_1h',
  output: 'output',
  reasoning: 'reasoning',
};

export function tokenCounts(log: UsageLog): TokenCounts {
  return {
    input: log.inputTokens,
    output: log.outputTokens,
    cachedInput: log.cachedInputTokens,
    cacheWrite5m: log.cacheWriteTokens,
    cacheWrite1h: log.cacheWrite1hTokens,
    reasoning: log.reasoningTokens,
  };
}

/** The bill of a priced log as a receipt states it: its lines with tokens, and which prices. */
export function receiptPricing(log: UsageLog): UnsignedReceiptDocument['pricing'] {
  const p = log.pricing;
  if (!p) return null;
  const lines = chargeLines(tokenCounts(log), {
    input: p.inputPerMillion,
    cachedInput: p.cachedInputPerMillion,
    cacheWrite5m: p.cacheWritePerMillion,
    cacheWrite1h: p.cacheWrite1hPerMillion,
    output: p.outputPerMillion,
    reasoning: p.reasoningPerMillion,
  });
  return {
    source: p.source,
    version: p.version,
    long_context: p.longContext,
    lines: lines
      .filter((l) => l.tokens > 0)
      .map((l) => ({
        type: LINE_NAMES[l.type],
        tokens: l.tokens,
        per_million: l.perMillion,
        amount: l.amount,
      })),
  };
}

export class ReceiptService {
  constructor(private readonly deps: { db: Knex; keyring: ReceiptKeyring; dimensions: DimensionService }) {}

  /**
   * The signed receipts of logs that are about to be stored (the caller inserts them in the
   * same statement as the logs: src/db/ingest.ts), signed together: off the event loop when
   * there are many (see receipts/ed25519.ts). Each is what is stored of it: its row id and
   * document; the rest of its row repeats its log and its document.
   */
  async sign(logs: Array<{ project: Project; log: UsageLog }>): Promise<SignedReceipt[]> {
    if (logs.length === 0) return [];
    const { keyring } = this.deps;
    const documents = await keyring.signAll(
      logs.map(({ project, log }) =>
        buildReceiptDocument({
          receiptId: newReceiptId(),
          issuedAt: log.receivedAt,
          occurredAt: log.occurredAt,
          projectKey: project.key,
          usageLogId: log.id,
          aliasName: log.aliasName,
          provider: log.provider,
          modelUsed: log.model,
          tokens: tokenCounts(log),
          cost: { amount: log.cost, source: log.costSource },
          pricing: receiptPricing(log),
          keyId: keyring.activeKeyId,
        }),
      ),
    );
    return documents.map((document) => ({
      rowId: newRowId(),
      document: document as unknown as SignedReceipt['document'],
      // The ledger's leaf, while the document is at hand in canonical order (the JCS fast path).
      leafHash: entryLeafHash(document).toString('hex'),
    }));
  }

  /** Stops the signing thread; call once the server takes no more calls. */
  close(): Promise<void> {
    return this.deps.keyring.close();
  }

  /** A receipt by its public id, if it belongs to a project the caller may read (null: all). */
  async find(receiptId: string, projectIds: string[] | null): Promise<Receipt | null> {
    checkStorable('receiptId', receiptId); // NUL cannot even be sent to Postgres in a text parameter
    const q = this.deps.db<ReceiptRow>('receipts').where({ receipt_id: receiptId });
    if (projectIds) q.whereIn('project_id', projectIds);
    const row = await q.first();
    return row ? toReceipt(row) : null;
  }

  /** For DataLoader: the receipt of each usage log (the newest, should there be several). */
  async getByUsageLogIds(ids: readonly string[]): Promise<Array<Receipt | null>> {
    const rows = await this.deps
      .db<ReceiptRow>('receipts')
      .whereIn('usage_log_id', ids as string[])
      .orderBy('created_at', 'asc');
    const byLog = new Map(rows.map((r) => [r.usage_log_id, toReceipt(r)]));
    return ids.map((id) => byLog.get(id) ?? null);
  }

  /** Receipts newest first; the filter applies to the logged call each receipt is for. */
  async list(
    query: UsageQuery,
    page: { first?: number | null; after?: string | null },
  ): Promise<Page<Receipt>> {
    const db = this.deps.db;
    this.deps.dimensions.checkFilter(query);
    const joined = db('receipts').join('usage_logs', 'usage_logs.id', 'receipts.usage_log_id');
    return keysetPage(db, applyUsageQuery(joined, query), {
      table: 'receipts',
      timeColumn: 'created_at',
      ...page,
      maxFirst: MAX_PAGE_SIZE,
      map: (row: ReceiptRow) => toReceipt(row),
    });
  }

  verify(document: unknown) {
    return this.deps.keyring.verify(document);
  }

  publicKeys() {
    return this.deps.keyring.publicKeys();
  }
}
