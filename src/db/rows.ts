/** Rows to domain objects: one function per table, the only place that knows both shapes. */
import type { ApiKeyRow, ProjectRow, ReceiptRow, UsageLogRow } from './tables';
import type { ApiKey, Project, Receipt, UsageLog, UsagePricing } from '../domain/types';
import { normalizePrice } from '../pricing/formula';
import { isApiKeyScope, normalizeScopes, type ApiKeyScope } from '../domain/access';
import { toDate, toDateOrNull, toDecimalString, toInt, toIntOrNull } from './normalize';

export function toProject(row: ProjectRow): Project {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    description: row.description,
    createdAt: toDate(row.created_at),
    archivedAt: toDateOrNull(row.archived_at),
  };
}

/** A key's stored scopes; an unknown one (a later version's) is dropped rather than trusted. */
function toScopes(stored: string[] | string): ApiKeyScope[] {
  // node-postgres parses text[]; a driver that does not hands over the literal '{ingest,read}'.
  const list = Array.isArray(stored) ? stored : stored.replace(/^\{|\}$/g, '').split(',');
  return normalizeScopes(list.filter(isApiKeyScope));
}

export function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    projectId: row.project_id,
    name: row.name,
    prefix: row.key_prefix,
    createdAt: toDate(row.created_at),
    lastUsedAt: toDateOrNull(row.last_used_at),
    revokedAt: toDateOrNull(row.revoked_at),
    scopes: toScopes(row.scopes),
    expiresAt: toDateOrNull(row.expires_at),
    rotatedFrom: row.rotated_from,
  };
}

/**
 * The prices a priced log was charged, in shortest form ('2.5'); logs stored before per-type
 * prices fall back to the input price (the output price for reasoning).
 */
function pricingOf(row: UsageLogRow): UsagePricing | null {
  if (row.input_price_per_million === null || row.input_price_per_million === undefined) return null;
  const price = (value: string | null) => normalizePrice(String(value ?? row.input_price_per_million));
  return {
    inputPerMillion: price(row.input_price_per_million),
    outputPerMillion: price(row.output_price_per_million),
    cachedInputPerMillion: price(row.cached_input_price_per_million),
    cacheWritePerMillion: price(row.cache_write_price_per_million),
    cacheWrite1hPerMillion: price(row.cache_write_1h_price_per_million),
    reasoningPerMillion: normalizePrice(
      String(row.reasoning_price_per_million ?? row.output_price_per_million),
    ),
    longContext: row.long_context === true,
    source: row.cost_source === 'price_book' ? 'price_book' : 'registry',
    version: row.registry_version,
  };
}

export function toUsageLog(row: UsageLogRow): UsageLog {
  return {
    id: row.id,
    projectId: row.project_id,
    apiKeyId: row.api_key_id,
    aliasName: row.alias_name,
    provider: row.provider,
    model: row.model,
    inputTokens: toInt(row.input_tokens),
    outputTokens: toInt(row.output_tokens),
    cachedInputTokens: toInt(row.cached_input_tokens),
    cacheWriteTokens: toInt(row.cache_write_tokens),
    cacheWrite1hTokens: toInt(row.cache_write_1h_tokens),
    reasoningTokens: toInt(row.reasoning_tokens),
    cost: toDecimalString(row.cost),
    originalCost:
      row.original_cost === null || row.original_cost === undefined
        ? null
        : toDecimalString(row.original_cost),
    costSource: row.cost_source,
    latencyMs: toIntOrNull(row.latency_ms),
    origin: row.origin,
    idAtOrigin: row.id_at_origin,
    profile: row.profile,
    metadata: row.metadata ?? {},
    occurredAt: toDate(row.occurred_at),
    receivedAt: toDate(row.created_at),
    idempotencyKey: row.idempotency_key,
    pricing: pricingOf(row),
    warnings: row.warnings ?? [],
  };
}

export function toReceipt(row: ReceiptRow): Receipt {
  return {
    id: row.id,
    receiptId: row.receipt_id,
    projectId: row.project_id,
    usageLogId: row.usage_log_id,
    aliasName: row.alias_name,
    keyId: row.key_id,
    signature: row.signature,
    document: row.document,
    issuedAt: toDate(row.created_at),
  };
}
